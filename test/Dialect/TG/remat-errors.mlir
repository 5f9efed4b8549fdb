// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=sometimes" -o /dev/null 2>&1 | FileCheck %s --check-prefix=POLICY
// POLICY: error: --tg-remat: policies are force, auto or off; got vision=force lm=sometimes

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=auto" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOBUDGET
// NOBUDGET: error: --tg-remat: auto needs a budget (budget=80GiB or budget=h100-80gb)

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=12parsecs" -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNIT
// UNIT: error: --tg-remat: budget: unknown unit 'parsecs' in '12parsecs' (allowed: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), or a card: h100-80gb, h200-141gb, a100-80gb, a100-40gb, rtx4090-24gb, v100-32gb

// Options for the data-parallel lowering it plans with are --tg-remat's own.
// RUN: not internvl-opt %s --tg-autodiff --tg-remat="data-parallel=true world-size=2 reduce-bucket-size=0" -o /dev/null 2>&1 | FileCheck %s --check-prefix=DPOPTION
// DPOPTION: error: --tg-remat (data-parallel=true): reduce-bucket-size must be >= 1 element, got 0

// A lever named twice, or an empty name between commas, is a typo too.
// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=80GiB levers=offload,,recompute" -o /dev/null 2>&1 | FileCheck %s --check-prefix=EMPTY
// EMPTY: error: --tg-remat: unknown lever ''; the levers are recompute, segments, offload, chunk-loss

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=80GiB levers=recompute,keep" -o /dev/null 2>&1 | FileCheck %s --check-prefix=LEVER
// LEVER: error: --tg-remat: unknown lever 'keep'; the levers are recompute, segments, offload, chunk-loss

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="loss-chunk=-3" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHUNK
// CHUNK: error: --tg-remat: loss-chunk must be >= 1 token (0: not fixed), got -3

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="segment-layers=-1" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SEGMENTS
// SEGMENTS: error: --tg-remat: segment-layers must be >= 1 layer (0: not fixed), got -1

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=1MiB" -o /dev/null 2>&1 | FileCheck %s --check-prefix=SMALL
// SMALL: error: --tg-remat: budget 1048576 bytes (0.00 GiB) is below the minimum feasible peak {{[0-9]+}} bytes (0.03 GiB) for this graph with vision=force lm=auto

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="lm=off budget=1MiB" -o /dev/null 2>&1 | FileCheck %s --check-prefix=FIXED
// FIXED: error: --tg-remat: the planned peak {{[0-9]+}} bytes (0.03 GiB) with vision=force lm=off exceeds the budget 1048576 bytes (0.00 GiB); use auto to fit it

// RUN: not internvl-opt %s --tg-remat -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOSTEP
// NOSTEP: error: --tg-remat: no function @train_step (run --tg-autodiff first)

// RUN: not internvl-opt %s --tg-autodiff --tg-remat --tg-remat -o /dev/null 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: --tg-remat: @train_step was already rewritten by --tg-remat

// RUN: not internvl-opt %s --tg-autodiff --tg-remat="gpu=tpu" -o /dev/null 2>&1 | FileCheck %s --check-prefix=GPU
// GPU: error: --tg-remat: gpu must be h100, h200, a100, rtx4090 or v100, got 'tpu'

// A card as the budget: its memory less 2 GiB (81559 MiB - 2 GiB for h100-80gb).
// RUN: internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=h100-80gb" | FileCheck %s --check-prefix=CARD
// CARD: budget_bytes = 83373326336 : i64
module attributes {tg.grad_checkpoint = true} {
  func.func @forward(%x: tensor<4x16xf32> {tg.name = "x", tg.kind = "input"},
                     %w1: tensor<32x16xf32> {tg.name = "language_model.model.layers.0.mlp.fc1.weight", tg.kind = "param", tg.trainable},
                     %labels: tensor<4xi64> {tg.name = "labels", tg.kind = "input"}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %h = tg.linear %x, %w1 {tg.scope = "language_model.model.layers.0.mlp.fc1"} : (tensor<4x16xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
    %a = tg.gelu %h {tg.scope = "language_model.model.layers.0.mlp.act"} : tensor<4x32xf32>
    %loss, %lse = tg.cross_entropy %a, %labels {tg.scope = "loss"} : (tensor<4x32xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>)
    return %loss : tensor<f32>
  }
}
