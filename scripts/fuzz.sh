#!/usr/bin/env bash
# Runs every fuzz target of test/fuzz (libFuzzer, ASan + UBSan) for SECONDS
# each, all at once, on the seed corpora of scripts/fuzz-seeds.py, the
# regression inputs of test/fuzz/regressions and the corpus earlier runs
# grew (build-asan/fuzz/corpus). Ends with one line per target and exits
# non-zero if any target crashed; a crash's input is in
# build-asan/fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s; every target)
#
# Targets: import pipeline plan tensor-io. Builds build-asan first
# (scripts/bootstrap.sh --sanitize), unless FUZZ_NO_BUILD=1.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(import pipeline plan tensor-io)
for t in "${targets[@]}"; do
  case "$t" in
    import|pipeline|plan|tensor-io) ;;
    *) echo "fuzz.sh: unknown target '$t' (targets: import pipeline plan tensor-io)" >&2; exit 2 ;;
  esac
done

build=${BUILD_DIR:-$root/build-asan}
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  BUILD_DIR=$build "$root/scripts/bootstrap.sh" --sanitize ${INTERNVL_WERROR:+--werror} \
    || { echo "fuzz.sh: the sanitizer build failed"; exit 1; }
fi
# As scripts/test.sh --sanitize: LLVM's inline allocator poisons memory the
# uninstrumented MLIR libraries then touch legitimately.
export ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

work=$build/fuzz
rm -rf "$work/seeds" "$work/logs"
mkdir -p "$work/logs"
python3 "$root/scripts/fuzz-seeds.py" "$work/seeds" --tools "$build/bin" >/dev/null \
  || { echo "fuzz.sh: could not write the seed corpora"; exit 1; }

pids=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  # New inputs go to the first directory, the corpus kept between runs.
  "$build/bin/fuzz-$t" "$work/corpus/$t" "$work/seeds/$t" "$root/test/fuzz/regressions/$t" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
    > "$work/logs/$t.log" 2>&1 &
  pids+=($!)
done

status=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  wait "${pids[$i]}"
  rc=$?
  log=$work/logs/$t.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(ls "$work/artifacts/$t" 2>/dev/null | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    echo "fuzz.sh: fuzz-$t: FAILED (exit $rc) after ${runs:-?} runs; inputs in $work/artifacts/$t, log $log"
    grep -m1 -E "ERROR:|fuzz-[a-z-]+:|runtime error" "$log" | sed 's/^/  /'
  else
    echo "fuzz.sh: fuzz-$t: ${runs:-0} runs in ${seconds} s (${speed:-0}/s), no crash; corpus $(ls "$work/corpus/$t" | wc -l) inputs"
  fi
done
exit $status
