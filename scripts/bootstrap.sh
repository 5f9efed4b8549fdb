#!/usr/bin/env bash
# Sets up everything internvl-opt needs and builds it into build/ (or
# build-asan/ with --sanitize). Safe to run again: it installs only what is
# missing and rebuilds only what changed.
#
#   scripts/bootstrap.sh [--sanitize] [--werror] [--no-build]
#
# Environment: JOBS (default 2), BUILD_DIR (default build or build-asan).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=OFF
werror=${INTERNVL_WERROR:-OFF}
build=1
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=ON ;;
    --werror) werror=ON ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bootstrap.sh: unknown option '$arg' (allowed: --sanitize, --werror, --no-build)" >&2; exit 2 ;;
  esac
done

say() { echo "bootstrap: $*"; }

#===------------------------------------------------------------------------===#
# Debian packages
#===------------------------------------------------------------------------===#
apt_packages=(
  cmake ninja-build ccache g++ pkg-config
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools lld
  nlohmann-json3-dev libgtest-dev
  python3 python3-venv
  libopenmpi-dev openmpi-bin   # the CPU twin of the data-parallel collectives
  clang-19 libclang-rt-19-dev  # the sanitizer build and libFuzzer (scripts/fuzz.sh)
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages present"
fi

#===------------------------------------------------------------------------===#
# CUDA toolkit (needed only for the CUDA target of internvl-compile)
#===------------------------------------------------------------------------===#
cuda=/usr/local/cuda
cuda_missing=()
have_cuda_lib() {
  for d in "$cuda/lib64" "$cuda/lib" "$cuda"/targets/*/lib /usr/lib/x86_64-linux-gnu; do
    ls "$d/lib$1.so"* >/dev/null 2>&1 && return 0
  done
  return 1
}
[ -x "$cuda/bin/nvcc" ] || cuda_missing+=("nvcc ($cuda/bin/nvcc)")
for lib in cublas cublasLt nccl; do
  have_cuda_lib "$lib" || cuda_missing+=("lib$lib")
done
if [ ${#cuda_missing[@]} -eq 0 ]; then
  say "CUDA toolkit: $("$cuda/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') at $cuda (nvcc, cuBLAS, cuBLASLt, NCCL)"
else
  say "CUDA toolkit at $cuda is incomplete, missing: ${cuda_missing[*]}."
  say "  The CPU tools and tests work without it; the CUDA target of internvl-compile needs it."
fi

#===------------------------------------------------------------------------===#
# Python reference environment (PyTorch, transformers) in .venv
#===------------------------------------------------------------------------===#
venv=$root/.venv
requirements=$root/python/requirements.txt
stamp=$venv/.requirements.sha256
if [ ! -x "$venv/bin/python" ] || [ "$(sha256sum < "$requirements")" != "$(cat "$stamp" 2>/dev/null)" ]; then
  say "installing the Python packages of python/requirements.txt into .venv (PyTorch brings a few GB)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$requirements"
  sha256sum < "$requirements" > "$stamp"
else
  say "Python packages present in .venv"
fi

#===------------------------------------------------------------------------===#
# Configure and build
#===------------------------------------------------------------------------===#
if [ "$sanitize" = ON ]; then
  build_dir=${BUILD_DIR:-$root/build-asan}
else
  build_dir=${BUILD_DIR:-$root/build}
fi
# lld links the static MLIR libraries several times faster than GNU ld.
linker_flags=()
command -v ld.lld >/dev/null 2>&1 && linker_flags=(-DLLVM_USE_LINKER=lld)

# The sanitizer build is clang's, with libFuzzer's instrumentation, so that
# the same build runs the sanitizer suite and the fuzz targets.
if [ "$sanitize" = ON ]; then
  compilers=(-DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DINTERNVL_FUZZ=ON)
else
  compilers=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DINTERNVL_FUZZ=OFF)
fi

say "configuring $build_dir (sanitizers $sanitize, -Werror $werror)"
cmake -G Ninja -S "$root" -B "$build_dir" \
  -DCMAKE_BUILD_TYPE=Release \
  "${compilers[@]}" \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  -DINTERNVL_SANITIZE="$sanitize" -DINTERNVL_WERROR="$werror" \
  "${linker_flags[@]}" >/dev/null

if [ "$build" = 1 ]; then
  say "building with $((${JOBS:-2})) jobs"
  ninja -C "$build_dir" -j "${JOBS:-2}"
  say "tools in $build_dir/bin: $(cd "$build_dir/bin" && ls | tr '\n' ' ')"
fi
