#!/usr/bin/env bash
# Writes the golden outputs of the tools into OUT: what a refactoring must
# leave identical (test/Golden/golden.test diffs them against
# test/Golden/expected). Record them anew only for an intended change of
# behaviour, and say so in the commit:
#
#   scripts/golden.sh test/Golden/expected     (BIN: default build/bin)
#
# For each tiny config (2 tiles + thumbnail, 24 tokens, batch 2, drop_path
# 0.1) under each remat policy (off, force, auto under a budget between the
# two): internvl-run's output lines of the step (seed 7; the same for every
# policy, as recomputation is bit-identical) and the exported plan's JSON.
# The compiled CPU step's lines for two configs. The --tg-print-memory-plan
# text of the InternVL2-8B default run (scripts/run-default.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN:-$root/build/bin}
out=${1:?usage: scripts/golden.sh OUT}
mkdir -p "$out/plans"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

configs=(tiny-vit300m-qwen2 tiny-vit6b-internlm2 tiny-vit6b-llama3 tiny-vit300m-phi3 tiny-hf-qwen2)
policies=("off:vision=off lm=off" "force:vision=force lm=force"
          "auto:vision=auto lm=auto budget=36000000")
for m in "${configs[@]}"; do
  "$bin/internvl-import" "$root/models/tiny/$m.json" --max_dynamic_patch 2 --use_thumbnail \
    --max_seq_length 24 --per_device_train_batch_size 2 --drop_path_rate 0.1 -o "$work/$m.mlir"
  "$bin/internvl-opt" "$work/$m.mlir" --tg-autodiff -o "$work/$m.step.mlir"
  for entry in "${policies[@]}"; do
    name=${entry%%:*}
    "$bin/internvl-opt" "$work/$m.step.mlir" --tg-remat="${entry#*:}" --tg-plan-memory \
      --tg-export-memory-plan="$out/plans/$m.$name.json" -o "$work/$m.$name.mlir"
    "$bin/internvl-run" "$work/$m.$name.mlir" --seed 7 > "$work/$m.$name.lines" 2>/dev/null
    if [ "$name" = off ]; then
      cp "$work/$m.$name.lines" "$out/$m.lines"
    elif ! cmp -s "$work/$m.$name.lines" "$out/$m.lines"; then
      echo "golden.sh: $m under '${entry#*:}' computes other bits than without remat" >&2
      exit 1
    fi
  done
done

for m in tiny-vit300m-qwen2 tiny-vit6b-llama3; do
  "$bin/internvl-compile" "$work/$m.mlir" --target=cpu --remat="vision=force lm=force" \
    -o "$work/$m.compiled" > /dev/null
  "$work/$m.compiled/run-step" --seed 7 > "$out/$m.compiled.lines" 2>/dev/null
done

BIN=$bin OUT=$work/default "$root/scripts/run-default.sh" 2>/dev/null \
  | sed -n '/^memory plan of @train_step/,/^== wrote/p' | sed '$d' > "$out/InternVL2-8B.plan.txt"
echo "golden.sh: wrote $(find "$out" -type f | wc -l) files to $out"
