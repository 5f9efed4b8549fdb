// Persistent bytes per rank under ZeRO: stage 1 shards master weights and
// AdamW moments, stage 2 also gradients, stage 3 also parameters.
// Parameters: fc.weight 4x8 f32 (128 B), fc.bias (16 B), frozen.weight
// (128 B) = 272 B; moments 288 B; gradients 2 x 256 B (aligned) = 512 B.
// f32 parameters are their own master copy (none in stage 0), but stages 1-3
// keep DeepSpeed's f32 partition of the two trained ones: 144 B / W.

// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory="zero-stage=0" --tg-verify-memory-plan --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=Z0
// Z0: ZeRO stage 0, world size 2
// Z0: params 272
// Z0-NEXT: master_params 0
// Z0-NEXT: grads 512
// Z0-NEXT: optimizer 288
// Z0-NEXT: total 1072

// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory="zero-stage=1 world-size=4" --tg-verify-memory-plan --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=Z1
// Z1: ZeRO stage 1, world size 4
// Z1: params 272
// Z1-NEXT: master_params 36
// Z1-NEXT: grads 512
// Z1-NEXT: optimizer 72
// Z1-NEXT: total 892

// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory="zero-stage=2 world-size=4" --tg-verify-memory-plan --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=Z2
// Z2: params 272
// Z2-NEXT: master_params 36
// Z2-NEXT: grads 128
// Z2-NEXT: optimizer 72
// Z2-NEXT: total 508

// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory="zero-stage=3 world-size=4" --tg-verify-memory-plan --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=Z3
// Z3: params 68
// Z3-NEXT: master_params 36
// Z3-NEXT: grads 128
// Z3-NEXT: optimizer 72
// Z3-NEXT: total 304

// The module's settings (internvl-import --deepspeed / --world_size) are
// the defaults; pass options override them.
// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=MODULE
// MODULE: ZeRO stage 3, world size 2
// MODULE: params 136

// RUN: not internvl-opt %s --tg-autodiff --tg-plan-memory="zero-stage=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: --tg-plan-memory: zero-stage must be 0, 1, 2 or 3, got 4

// The gradients of the two trained parameters sit in the gradient buffer.
// RUN: internvl-opt %s --tg-autodiff --tg-plan-memory | FileCheck %s --check-prefix=GRADS
// GRADS: tg.matmul {{.*}}tg.alloc = [#tg.alloc<grads, 0, 256>]
// GRADS: tg.reduce_sum {{.*}}tg.alloc = [#tg.alloc<grads, 256, 256>]
module attributes {tg.zero_stage = 3 : i64, tg.world_size = 2 : i64} {
  func.func @forward(%x: tensor<2x8xf32> {tg.name = "x", tg.kind = "input"},
                     %w: tensor<4x8xf32> {tg.name = "fc.weight", tg.kind = "param", tg.trainable},
                     %b: tensor<4xf32> {tg.name = "fc.bias", tg.kind = "param", tg.trainable},
                     %frozen: tensor<4x8xf32> {tg.name = "frozen.weight", tg.kind = "param"},
                     %labels: tensor<2xi64> {tg.name = "labels", tg.kind = "input"}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %f = tg.linear %x, %frozen {tg.scope = "frozen"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %h = tg.linear %x, %w, %b {tg.scope = "fc"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %a = tg.gelu %h {tg.scope = "act"} : tensor<2x4xf32>
    %s = tg.add %a, %f {tg.scope = "sum"} : tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4xf32>
    %loss, %lse = tg.cross_entropy %s, %labels {tg.scope = "loss"} : (tensor<2x4xf32>, tensor<2xi64>) -> (tensor<f32>, tensor<2xf32>)
    return %loss : tensor<f32>
  }
}
