#!/usr/bin/env python3
"""internvl-fit benchmarks (results in docs/benchmarks.md).

    bench/fit.py [--model InternVL2-8B] [--gpu h100-80gb]

The largest per-device batch of the model at its published settings that
fits the card (internvl-fit --vary per_device_train_batch_size), each row's
estimated step time per sample on the roofline against InternVL's default
(vision=force lm=force) at the script's own batch, and the largest batch
whose time per sample is no worse than the default's. Then the questions
users ask, one line each.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
from internvl_opt.settings import import_flags, published_settings  # noqa: E402

BIN = ROOT / "build" / "bin"


def run(*args, check=True):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True,
                          text=True)


def default_seconds(model, flags, gpu_roofline):
    """Step time of InternVL's own checkpointing at the script's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        forward, plan = Path(tmp) / "f.mlir", Path(tmp) / "p.json"
        run(BIN / "internvl-import", ROOT / "models" / f"{model}.json", *flags,
            "-o", forward)
        run(BIN / "internvl-opt", forward, "--tg-autodiff",
            f"--tg-remat=vision=force lm=force gpu={gpu_roofline}", "--tg-plan-memory",
            f"--tg-export-memory-plan={plan}", "-o", "/dev/null")
        p = json.loads(plan.read_text())
        return p["step_seconds"], p["peak_bytes"], p["recompute_flops"] / p["total_flops"]


def fit_rows(model, flags, gpu, vary="per_device_train_batch_size"):
    out = run(BIN / "internvl-fit", ROOT / "models" / f"{model}.json", *flags,
              "--gpu", gpu, "--vary", vary, check=False)
    rows = []
    for line in out.stdout.splitlines():
        m = re.match(r"(\d+)\s+yes\s+([\d.]+) GiB\s+([\d.]+)%\s+([\d.]+) GiB\s+([\d.]+) ms\s+(\d+)", line)
        if m:
            rows.append({"value": int(m[1]), "peak": float(m[2]), "recompute": float(m[3]),
                         "ms": float(m[5]), "tokens": int(m[6])})
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    return rows, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="InternVL2-8B")
    parser.add_argument("--gpu", default="h100-80gb")
    args = parser.parse_args()
    settings = published_settings()
    flags = import_flags(settings[args.model])
    batch = int(flags[flags.index("--per_device_train_batch_size") + 1])
    roofline = args.gpu.split("-")[0]
    seconds, peak, recompute = default_seconds(args.model, flags, roofline)
    per_sample = seconds / batch
    print(f"{args.model} at its published settings; InternVL's default at batch {batch}: "
          f"peak {peak / 2**30:.2f} GiB, {100 * recompute:.1f}% recomputed, "
          f"{seconds * 1e3:.1f} ms per step, {per_sample * 1e3:.1f} ms per sample\n")
    rows, last = fit_rows(args.model, flags, args.gpu)
    print("| batch | peak | recompute | est. step | per sample | vs default |")
    print("|---:|---:|---:|---:|---:|---:|")
    best = None
    for r in sorted(rows, key=lambda r: r["value"]):
        ratio = r["ms"] / r["value"] / (per_sample * 1e3)
        if ratio <= 1.0:
            best = r["value"] if best is None else max(best, r["value"])
        print(f"| {r['value']} | {r['peak']:.2f} GiB | {r['recompute']:.1f}% | "
              f"{r['ms']:.1f} ms | {r['ms'] / r['value']:.1f} ms | {ratio:.3f} |")
    print(f"\n{last}")
    print(f"largest batch no slower per sample than the default: {best} "
          f"({best / batch:.2f}x the script's {batch})\n")

    questions = [
        ("LoRA on InternVL2-8B, a 24 GB card", "InternVL2-8B",
         ["--max_dynamic_patch", "6", "--use_thumbnail", "True", "--max_seq_length", "4096",
          "--freeze_backbone", "True", "--freeze_llm", "True", "--freeze_mlp", "True",
          "--use_llm_lora", "16"], "rtx4090-24gb"),
        ("InternVL2-40B at its settings on 16 A100-80GB", "InternVL2-40B",
         [f for f in import_flags(settings["InternVL2-40B"])], "a100-80gb"),
        ("InternVL2-8B at its settings on a 32 GB V100", "InternVL2-8B", flags, "v100-32gb"),
    ]
    for title, model, qflags, gpu in questions:
        if "InternVL2-40B" in title:
            i = qflags.index("--world_size")
            qflags = qflags[:i] + ["--world_size", "16"] + qflags[i + 2:]
        _, last = fit_rows(model, qflags, gpu)
        print(f"- {title}: {last}")


if __name__ == "__main__":
    main()
