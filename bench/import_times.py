#!/usr/bin/env python3
"""Times internvl-import on every released model config (median of N runs,
wall clock, the module written to a file) and prints a Markdown table.

    bench/import_times.py [--runs 5] [--build build]

The defaults of InternVL's fine-tune script apply (batch 8, 12 tiles,
8192 tokens): the largest graph a user gets without flags.
"""

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", default=str(ROOT / "build"))
    args = parser.parse_args()
    tool = Path(args.build) / "bin" / "internvl-import"
    print("| model | ops | parameters | import (ms, median of %d) |" % args.runs)
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "forward.mlir")
        # Model configs only (finetune-settings.json is the training table).
        for config in sorted((ROOT / "models").glob("Intern*.json")):
            refused = subprocess.run([tool, config, "-o", out],
                                     capture_output=True, text=True)
            if refused.returncode != 0:
                # The MoE InternVL3.5 models: the row says why.
                reason = refused.stderr.strip().split(": ")[-1].split(", which")[0]
                print(f"| {config.stem} | - | - | refused: {reason} |")
                continue
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                subprocess.run([tool, config, "-o", out], check=True)
                times.append((time.perf_counter() - start) * 1e3)
            text = Path(out).read_text()
            ops = len(re.findall(r"^\s+(?:%\S+(?:, %\S+)* = )?tg\.", text, re.M))
            summary = subprocess.run([tool, config, "--summary"], check=True,
                                     capture_output=True, text=True).stdout
            total = next(l for l in summary.splitlines() if l.startswith("params total"))
            print(f"| {config.stem} | {ops} | {int(total.split()[-1]):,} | "
                  f"{statistics.median(times):.0f} |")


if __name__ == "__main__":
    main()
