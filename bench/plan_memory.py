#!/usr/bin/env python3
"""Plans every released model at InternVL's published full fine-tune settings
and reports, per model: import + autodiff + plan time, the arena, the live
lower bound and their ratio, and the planned peak per GPU.

    bench/plan_memory.py [--build build] [--runs 3] [--models A,B]
                         [--set flag=value] [--remat OPTIONS]

The recipes that pack samples (InternVL3.5: --use_packed_ds) are planned as
packs: the rows give num_images_expected tiles and max_packed_tokens tokens
per device, marked "pack".

Time is wall clock of `internvl-import ... | internvl-opt --tg-autodiff
--tg-plan-memory` (median of --runs), on this machine.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from internvl_opt.settings import (import_flags, is_packed,  # noqa: E402
                                   published_settings)

GIB = 1 << 30


def plan(build, model, setting, passes, out):
    importer = [str(build / "bin" / "internvl-import"),
                str(ROOT / "models" / f"{model}.json"), *import_flags(setting)]
    opt = [str(build / "bin" / "internvl-opt"), "-", *passes,
           f"--tg-export-memory-plan={out}", "-o", "/dev/null"]
    start = time.perf_counter()
    imported = subprocess.run(importer, check=True, capture_output=True).stdout
    subprocess.run(opt, input=imported, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="")
    parser.add_argument("--set", action="append", default=[],
                        help="override a fine-tune flag, e.g. per_device_train_batch_size=2")
    parser.add_argument("--remat", default="",
                        help="--tg-remat options (empty: no --tg-remat pass)")
    args = parser.parse_args()
    build = Path(args.build)
    settings = published_settings()
    for override in args.set:
        key, value = override.split("=", 1)
        for setting in settings.values():
            setting["flags"][key] = value
    models = args.models.split(",") if args.models else list(settings)
    passes = ["--tg-autodiff"]
    if args.remat:
        passes.append(f"--tg-remat={args.remat}")
    passes += ["--tg-plan-memory", "--tg-verify-memory-plan"]

    print("| model | GPUs | ZeRO | batch | tiles | seq | steps | arena (GiB) | "
          "live bound (GiB) | arena / bound | peak per GPU (GiB) | "
          "import+plan (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan.json"
        for model in models:
            setting = settings[model]
            times = [plan(build, model, setting, passes, out) for _ in range(args.runs)]
            p = json.loads(out.read_text())
            ratio = p["arena_bytes"] / max(p["live_lower_bound_bytes"], 1)
            worst = max(worst, ratio)
            f = setting["flags"]
            tiles = int(f["max_dynamic_patch"]) + (1 if f["use_thumbnail"] else 0)
            seq = f["max_seq_length"]
            name = model
            if is_packed(setting):
                tiles = setting["packing"]["num_images_expected"]
                seq = setting["packing"]["max_packed_tokens"]
                name = f"{model} (pack)"
            print(f"| {name} | {setting['gpus']} | {setting['zero_stage']} | "
                  f"{f['per_device_train_batch_size']} | {tiles} | {seq} | "
                  f"{p['steps']} | {p['arena_bytes'] / GIB:.2f} | "
                  f"{p['live_lower_bound_bytes'] / GIB:.2f} | {ratio:.4f} | "
                  f"{p['peak_bytes'] / GIB:.2f} | {statistics.median(times):.2f} |")
    print(f"\nworst arena / bound: {worst:.4f}")


if __name__ == "__main__":
    main()
