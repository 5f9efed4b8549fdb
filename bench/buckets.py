#!/usr/bin/env python3
"""One plan per bucket (internvl-import --buckets) at a model's published
settings: which batch shapes fit a card with InternVL's checkpointing
(vision=force lm=force) and with auto, and the recompute of each
(results in docs/benchmarks.md).

    bench/buckets.py [--model InternVL3-8B] [--buckets "seq=... tiles=..."]
                     [--budget h100-80gb]

Prints the bucket table of --tg-print-memory-plan for both policies, and
the wall time of import + autodiff + remat + plan of all buckets.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from internvl_opt.settings import all_settings, import_flags  # noqa: E402

BIN = ROOT / "build" / "bin"


def without(flags, name):
    """`flags` less `--name VALUE` (the buckets give that dimension)."""
    if name not in flags:
        return flags
    i = flags.index(name)
    return flags[:i] + flags[i + 2:]


def table(model, flags, buckets, remat):
    # The buckets' seq= replaces the script's --max_seq_length.
    importer = [str(BIN / "internvl-import"), str(ROOT / "models" / f"{model}.json"),
                *without(flags, "--max_seq_length"), "--buckets", buckets]
    opt = [str(BIN / "internvl-opt"), "-", "--tg-autodiff", f"--tg-remat={remat}",
           "--tg-plan-memory", "--tg-print-memory-plan", "-o", "/dev/null"]
    start = time.perf_counter()
    imported = subprocess.run(importer, check=True, capture_output=True).stdout
    out = subprocess.run(opt, input=imported, check=True, capture_output=True).stdout
    seconds = time.perf_counter() - start
    text = out.decode()
    return text[text.index("buckets:"):], seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="InternVL3-8B")
    parser.add_argument("--buckets", default="seq=1024,2048,4096,8192,16384 tiles=1,3,7,13")
    parser.add_argument("--budget", default="h100-80gb")
    args = parser.parse_args()
    setting = all_settings()[args.model]
    flags = import_flags(setting)
    print(f"{args.model}: {' '.join(flags)}\n--buckets \"{args.buckets}\", budget {args.budget}\n")
    for name, remat in (("InternVL's checkpointing", f"vision=force lm=force budget={args.budget}"),
                        ("auto", f"vision=force lm=auto budget={args.budget}")):
        rows, seconds = table(args.model, flags, args.buckets, remat)
        print(f"## {name} (--tg-remat=\"{remat}\"), {seconds:.1f} s for every bucket\n")
        print(rows)


if __name__ == "__main__":
    main()
