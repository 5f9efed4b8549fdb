#!/usr/bin/env bash
# The main job on the default model: InternVL2-8B at the settings of
# InternVL's published full fine-tune script (shell/internvl2.0/2nd_finetune/
# internvl2_8b_internlm2_7b_dynamic_res_2nd_finetune_full.sh). Run
# scripts/bootstrap.sh first. Writes its outputs to out/ (git-ignored).
#
#   scripts/run-default.sh [MODEL.json]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$root/build/bin
model=${1:-$root/models/InternVL2-8B.json}
out=$root/out
mkdir -p "$out"

flags=(--per_device_train_batch_size 4 --max_dynamic_patch 6 --use_thumbnail True
       --max_seq_length 4096 --freeze_backbone True --freeze_llm False
       --freeze_mlp False --drop_path_rate 0.1 --grad_checkpoint True)

echo "== import $(basename "$model") ${flags[*]}"
"$bin/internvl-import" "$model" "${flags[@]}" --summary -o "$out/forward.mlir"
echo "== --tg-autodiff (InternVL's optimizer settings: lr 4e-5, weight decay 0.05)"
"$bin/internvl-opt" "$out/forward.mlir" --tg-autodiff="lr=4e-5 weight-decay=0.05" \
  -o "$out/train_step.mlir"
echo "== wrote $out/forward.mlir and $out/train_step.mlir ($(grep -c 'tg.phase = "backward"' "$out/train_step.mlir") backward ops)"
