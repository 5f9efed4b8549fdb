#!/usr/bin/env bash
# The GPU check of compiled training steps (python/internvl_opt/gpu_check.py).
#
#   scripts/gpu-check.sh prepare   here, after scripts/bootstrap.sh: compiles
#                                  the tiny and mid-size steps for CUDA (and
#                                  the tiny CPU twin's expected results) into
#                                  out/gpu-check/
#   scripts/gpu-check.sh run       on a GPU machine with out/gpu-check/ carried
#                                  over (CUDA, PyTorch and transformers there;
#                                  no MLIR needed): runs, compares, times;
#                                  writes out/gpu-check/report.md
#
# `run` fits in about five minutes on one H100 and exits non-zero when a
# comparison is outside its tolerance.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
case "${1:-}" in
  prepare)
    python=$root/.venv/bin/python
    [ -x "$python" ] || { echo "gpu-check: run scripts/bootstrap.sh first" >&2; exit 1; }
    exec "$python" -m internvl_opt.gpu_check prepare ;;
  run)
    [ -d "$root/out/gpu-check/tiny/cuda" ] || {
      echo "gpu-check: out/gpu-check is missing: run 'scripts/gpu-check.sh prepare' first" >&2; exit 1; }
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    exec python3 -m internvl_opt.gpu_check run ;;
  *)
    echo "usage: scripts/gpu-check.sh prepare|run" >&2
    exit 2 ;;
esac
