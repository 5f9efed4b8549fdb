#!/usr/bin/env python3
"""Per-rank memory of the data-parallel step at every ZeRO stage.

    bench/data_parallel.py [--build build] [--models A,B] [--remat OPTIONS]

Each model at InternVL's published settings (models/finetune-settings.json:
its GPU count, batch, tiles, length and DeepSpeed config), with
--tg-data-parallel lowering the collectives of ZeRO stages 0-3 and
--tg-plan-memory planning one rank. Reports the persistent bytes per rank
(parameters, f32 master copy, gradient buffer, AdamW moments), the planned
peak, the communication buffers and ZeRO-3's gathered parameters live at the
peak, and the wall time of the whole pipeline.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from internvl_opt.settings import import_flags, published_settings  # noqa: E402

GIB = 1 << 30


def report_line(report, label):
    """Bytes of one `label  BYTES  X GiB` line of --tg-print-memory-plan."""
    m = re.search(rf"^\s+{re.escape(label)}\s+(\d+)", report, re.M)
    return int(m.group(1)) if m else 0


def run(build, imported, stage, remat, out):
    passes = ["--tg-autodiff"]
    if remat:
        passes.append(f"--tg-remat={remat}")
    passes += [f"--tg-data-parallel=zero-stage={stage}", "--tg-plan-memory",
               "--tg-verify-memory-plan", "--tg-print-memory-plan",
               f"--tg-export-memory-plan={out}"]
    start = time.perf_counter()
    report = subprocess.run(
        [str(build / "bin" / "internvl-opt"), str(imported), *passes, "-o",
         "/dev/null"], check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    return json.loads(out.read_text()), report, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--models", default="InternVL2-26B,InternVL2-Llama3-76B")
    parser.add_argument("--remat", default="vision=force lm=force",
                        help="--tg-remat options (InternVL's checkpointing by "
                             "default; empty: no --tg-remat)")
    args = parser.parse_args()
    build = Path(args.build)
    settings = published_settings()

    print("| model | ranks | ZeRO | params | master | grads | moments | "
          "persistent | peak | comm bufs at peak | gathered at peak | "
          "time (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        imported = Path(tmp) / "model.mlir"
        out = Path(tmp) / "plan.json"
        for model in args.models.split(","):
            setting = settings[model]
            subprocess.run(
                [str(build / "bin" / "internvl-import"),
                 str(ROOT / "models" / f"{model}.json"), *import_flags(setting),
                 "-o", str(imported)], check=True)
            for stage in range(4):
                plan, report, seconds = run(build, imported, stage,
                                            args.remat, out)
                p = plan["persistent_bytes"]
                gib = [p["params"], p["master_params"], p["grads"],
                       p["optimizer"], p["total"], plan["peak_bytes"],
                       report_line(report, "comm bufs at peak"),
                       report_line(report, "gathered at peak")]
                cells = " | ".join(f"{b / GIB:.2f}" for b in gib)
                print(f"| {model} | {setting['gpus']} | {stage} | {cells} | "
                      f"{seconds:.1f} |", flush=True)
    print("\nsizes in GiB per rank")


if __name__ == "__main__":
    main()
