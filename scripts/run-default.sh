#!/usr/bin/env bash
# The main job on the default model: InternVL2-8B at the settings of
# InternVL's published full fine-tune script (models/finetune-settings.json:
# batch 4, 6 tiles + thumbnail, 4096 tokens, frozen ViT, ZeRO-1 on 8 GPUs):
# import, training step, keep/recompute under an H100's memory (BUDGET, a
# --tg-remat budget), memory plan with its reports. Any model of
# models/finetune-settings.json can be named instead. Run
# scripts/bootstrap.sh first. Writes its outputs to out/ (git-ignored).
#
#   scripts/run-default.sh [MODEL.json]
#
# Environment: BIN (the tools, default build/bin), OUT (default out/),
# BUDGET (default h100-80gb).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN:-$root/build/bin}
model=${1:-$root/models/InternVL2-8B.json}
out=${OUT:-$root/out}
mkdir -p "$out"

settings=$(python3 -c "
import sys; sys.path.insert(0, '$root/python')
from internvl_opt.settings import all_settings, import_flags, waits_for
import os
name = os.path.basename('$model')[:-5]
setting = all_settings().get(name)
if setting is None:
    sys.exit(f'run-default: {name} has no published settings in models/finetune-settings.json')
if waits_for(setting):
    sys.exit(f'run-default: {name} cannot be planned at its published settings yet: {waits_for(setting)}')
print(' '.join(import_flags(setting)))")
read -r -a flags <<< "$settings"

echo "== import $(basename "$model") ${flags[*]}"
"$bin/internvl-import" "$model" "${flags[@]}" --summary -o "$out/forward.mlir"
budget=${BUDGET:-h100-80gb}
echo "== --tg-autodiff (InternVL's optimizer settings: lr 4e-5, weight decay 0.05)"
echo "== --tg-remat: vision forced as InternVL does, the LLM decided under budget=$budget"
"$bin/internvl-opt" "$out/forward.mlir" --tg-autodiff="lr=4e-5 weight-decay=0.05" \
  --tg-remat="vision=force lm=auto budget=$budget" \
  --tg-plan-memory --tg-verify-memory-plan --tg-print-memory-plan \
  --tg-export-memory-plan="$out/plan.json" --tg-memory-timeline="$out/plan.svg" \
  -o "$out/train_step.mlir"
echo "== wrote $out/forward.mlir, $out/train_step.mlir, $out/plan.json, $out/plan.svg"
