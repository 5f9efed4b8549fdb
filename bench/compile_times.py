#!/usr/bin/env python3
"""Times internvl-compile (lowering + translation alone, and the whole
build) and the compiled CPU step, and prints Markdown tables.

    bench/compile_times.py [--build build] [--steps 5]

Cases: every tiny config (2 samples, 2 tiles + thumbnail, 24 tokens) for the
CPU and, where nvcc exists, CUDA; the mid-size check model and InternVL2-8B
at its published settings (one rank, InternVL's checkpointing) for CUDA.
The CPU step time is run-step's mean over the steps after the first, next to
internvl-run's time for the same step.
"""

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--per_device_train_batch_size", "2", "--max_dynamic_patch", "2",
        "--use_thumbnail", "True", "--max_seq_length", "24"]
BIG = {
    "mid-hf-qwen2": ("models/mid/mid-hf-qwen2.json",
                     ["--per_device_train_batch_size", "2", "--max_dynamic_patch", "1",
                      "--max_seq_length", "1024"]),
    "InternVL2-8B": ("models/InternVL2-8B.json",
                     ["--per_device_train_batch_size", "4", "--max_dynamic_patch", "6",
                      "--use_thumbnail", "True", "--max_seq_length", "4096",
                      "--freeze_backbone", "True", "--drop_path_rate", "0.1"]),
}
REMAT = "--remat=vision=force lm=force"


def timed(cmd):
    start = time.perf_counter()
    result = subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                            text=True)
    return time.perf_counter() - start, result


def compile_case(bin_dir, tmp, name, config, flags, target):
    forward = tmp / f"{name}.mlir"
    subprocess.run([bin_dir / "internvl-import", ROOT / config, *flags, "-o", forward],
                   check=True)
    compile_tool = bin_dir / "internvl-compile"
    source_s, out = timed([compile_tool, forward, f"--target={target}", REMAT,
                           "--emit=source", "-o", tmp / f"{name}-src"])
    calls = re.search(r"(\d+) kernel calls, (\d+) fused kernels \((\d+) ops\)",
                      out.stdout)
    source = tmp / f"{name}-src" / ("step.cu" if target == "cuda" else "step.cpp")
    lines = len(source.read_text().splitlines())
    build_s, _ = timed([compile_tool, forward, f"--target={target}", REMAT,
                        "-o", tmp / f"{name}-{target}"])
    return source_s, build_s, calls.groups(), lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    bin_dir = Path(args.build) / "bin"
    cuda = shutil.which("nvcc") or Path("/usr/local/cuda/bin/nvcc").exists()
    targets = ["cpu", "cuda"] if cuda else ["cpu"]

    print("| model | target | kernel calls | fused kernels (ops) | source lines | "
          "lower + emit (s) | whole build (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    step_rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cases = [(p.stem, f"models/tiny/{p.name}", TINY, t)
                 for p in sorted((ROOT / "models/tiny").glob("*.json")) for t in targets]
        if cuda:
            cases += [(n, c, f, "cuda") for n, (c, f) in BIG.items()]
        for name, config, flags, target in cases:
            source_s, build_s, (calls, fused, ops), lines = compile_case(
                bin_dir, tmp, name, config, flags, target)
            print(f"| {name} | {target} | {calls} | {fused} ({ops}) | {lines} | "
                  f"{source_s:.2f} | {build_s:.1f} |")
            if target == "cpu":
                step_dir = tmp / f"{name}-cpu"
                _, run = timed([step_dir / "run-step", "--steps", args.steps])
                step_ms = float(re.search(r"step time ([0-9.]+) ms", run.stderr).group(1))
                _, interp = timed([bin_dir / "internvl-run", step_dir / "train_step.mlir"])
                interp_s = float(re.search(r"ran in ([0-9.]+) s", interp.stderr).group(1))
                step_rows.append(f"| {name} | {step_ms:.2f} | {interp_s * 1e3:.1f} |")
    print()
    print(f"| model | compiled CPU step (ms, mean of steps 2-{args.steps}) | "
          "internvl-run (ms) |")
    print("|---|---:|---:|")
    print("\n".join(step_rows))


if __name__ == "__main__":
    main()
