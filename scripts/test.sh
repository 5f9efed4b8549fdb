#!/usr/bin/env bash
# Sets up and builds the project (scripts/bootstrap.sh), then runs every test
# suite: lit + FileCheck, gtest through ctest, and pytest. Ends with one
# summary line and exits non-zero if anything failed.
#
#   scripts/test.sh [--sanitize] [--werror]
#
# --sanitize builds into build-asan/ with AddressSanitizer + UBSan and runs the
# same suites there.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=$root/build
for arg in "$@"; do
  if [ "$arg" = --sanitize ]; then
    build_dir=$root/build-asan
    # LLVM's inline allocator code poisons memory that the uninstrumented
    # Debian MLIR libraries then touch legitimately; ignore user poisoning.
    export ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  fi
done
export BUILD_DIR=$build_dir

"$root/scripts/bootstrap.sh" "$@" || { echo "test.sh: bootstrap failed"; exit 1; }

results=$build_dir/test-results
rm -rf "$results" && mkdir -p "$results"
status=0
lit=/usr/lib/llvm-19/build/utils/lit/lit.py

echo "== lit"
python3 "$lit" -sv --xunit-xml-output "$results/lit.xml" "$build_dir/test" || status=1

echo "== ctest (gtest and build checks)"
ctest --test-dir "$build_dir" --output-on-failure -j "${JOBS:-2}" \
  --output-junit "$results/ctest.xml" || status=1

if [ -d "$root/python/tests" ] && ls "$root"/python/tests/test_*.py >/dev/null 2>&1; then
  echo "== pytest"
  "$root/.venv/bin/python" -m pytest -q "$root/python/tests" \
    --junitxml="$results/pytest.xml" || status=1
fi

python3 "$root/scripts/junit_summary.py" "$results"/*.xml || status=1
exit $status
