#!/usr/bin/env python3
"""LoRA fine-tuning at InternVL's published LoRA settings: the planned peak
per GPU, term by term, next to the per-GPU memory InternVL's documentation
gives (results in docs/benchmarks.md).

    bench/lora.py [--models A,B] [--build build]

Each row is one of InternVL's `*_dynamic_res_2nd_finetune_lora.sh` scripts
(internvl_chat/shell/internvl2.0 and internvl2.5 at InternVL 2410d1d): the
ViT, the projector and the LLM frozen, LLM LoRA rank 16 (alpha 32, dropout
0.05), 6 tiles + thumbnail, batch and ZeRO stage as the script sets them.
InternVL's checkpointing is applied (--tg-remat=vision=force lm=force); the
GPU count is the documentation's where it gives one (8B/26B and 76B/78B: 8),
else the script's default (2). The DeepSpeed config is models/deepspeed's
stage 1 or 3 file (the 34b/100b variants differ only in parameter
persistence, which the plan does not model).

The columns after the plan are PyTorch-side terms the plan does not hold,
computed, not measured: InternVL's LLMs upcast the logits to f32
(`logits.float()`), InternVL's loss takes a contiguous f32 copy of the shifted
logits and CrossEntropyLoss keeps an f32 log-softmax, so three f32 [B, S, V]
tensors live at the loss where the compiled step holds the bf16 logits and
their bf16 shifted copy: 12 - 4 = 8 bytes per logit more. The residual is
the documentation's figure minus the plan and that term: the CUDA context,
cuBLAS/NCCL workspaces, the caching allocator's reserve and fragmentation,
and whatever else PyTorch and DeepSpeed keep that is not attributed here.
"""

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30

# model: (script, GPUs, per-device batch, max_seq_length, ZeRO stage,
#         published per-GPU GB for LoRA (InternVL's docs), its table row)
ROWS = {
    "InternVL2-1B": ("internvl2.0/…/internvl2_1b_qwen2_0_5b_…_lora.sh", 2, 4, 4096, 1, 27, "1B, 2B"),
    "InternVL2-2B": ("internvl2.0/…/internvl2_2b_internlm2_1_8b_…_lora.sh", 2, 4, 4096, 1, 27, "1B, 2B"),
    "InternVL2-4B": ("internvl2.0/…/internvl2_4b_phi3_3_8b_…_lora.sh", 2, 4, 4096, 1, 19, "4B"),
    "InternVL2-8B": ("internvl2.0/…/internvl2_8b_internlm2_7b_…_lora.sh", 8, 4, 4096, 1, 60, "8B, 26B"),
    "InternVL2-26B": ("internvl2.0/…/internvl2_26b_internlm2_20b_…_lora.sh", 8, 2, 4096, 3, 60, "8B, 26B"),
    "InternVL2_5-38B": ("internvl2.5/…/internvl2_5_38b_…_lora.sh", 2, 2, 8192, 3, 74, "38B / 40B"),
    "InternVL2-40B": ("internvl2.0/…/internvl2_40b_hermes2_yi_34b_…_lora.sh", 2, 2, 4096, 3, 74, "38B / 40B"),
    "InternVL2-Llama3-76B": ("internvl2.0/…/internvl2_76b_hermes2_llama3_70b_…_lora.sh", 8, 1, 4096, 3, 74, "78B / 76B"),
    "InternVL2_5-78B": ("internvl2.5/…/internvl2_5_78b_…_lora.sh", 8, 1, 8192, 3, 74, "78B / 76B"),
}


def run(*args):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True,
                          text=True).stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--models", default="")
    args = parser.parse_args()
    bin_dir = Path(args.build) / "bin"
    models = args.models.split(",") if args.models else list(ROWS)
    print("| model | GPUs | ZeRO | batch x seq | LoRA params | base params (GiB) | "
          "LoRA master + AdamW + grads (GiB) | activations, arena (GiB) | "
          "planned peak (GiB) | + f32 loss tensors (GiB) | InternVL docs (GB) | "
          "residual (GiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            script, gpus, batch, seq, stage, published, row = ROWS[model]
            config = ROOT / "models" / f"{model}.json"
            flags = ["--per_device_train_batch_size", batch, "--max_dynamic_patch", 6,
                     "--use_thumbnail", "True", "--max_seq_length", seq,
                     "--drop_path_rate", 0.0, "--freeze_llm", "True",
                     "--freeze_mlp", "True", "--freeze_backbone", "True",
                     "--use_llm_lora", 16, "--grad_checkpoint", "True",
                     "--deepspeed", ROOT / "models" / "deepspeed" / f"zero_stage{stage}_config.json",
                     "--world_size", gpus]
            summary = run(bin_dir / "internvl-import", config, *flags, "--summary")
            lora = int(next(l for l in summary.splitlines()
                            if l.startswith("params lora")).split()[-1])
            forward = Path(tmp) / "forward.mlir"
            run(bin_dir / "internvl-import", config, *flags, "-o", forward)
            out = Path(tmp) / "plan.json"
            run(bin_dir / "internvl-opt", forward,
                "--tg-autodiff=lr=4e-5 weight-decay=0.05",
                "--tg-remat=vision=force lm=force", "--tg-data-parallel",
                "--tg-plan-memory",
                "--tg-verify-memory-plan", f"--tg-export-memory-plan={out}",
                "-o", "/dev/null")
            plan = json.loads(out.read_text())
            p = plan["persistent_bytes"]
            trained = p["master_params"] + p["optimizer"] + p["grads"]
            vocab = json.loads(config.read_text())["llm_config"]["vocab_size"]
            f32_loss = 8 * batch * seq * vocab
            residual = published * 1e9 - plan["peak_bytes"] - f32_loss
            print(f"| {model} | {gpus} | {stage} | {batch} x {seq} | {lora:,} | "
                  f"{p['params'] / GIB:.2f} | {trained / GIB:.2f} | "
                  f"{plan['arena_bytes'] / GIB:.2f} | {plan['peak_bytes'] / GIB:.2f} | "
                  f"{f32_loss / GIB:.2f} | ~{published} ({row}) | "
                  f"{residual / GIB:.1f} |", flush=True)


if __name__ == "__main__":
    main()
