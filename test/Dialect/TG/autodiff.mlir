// RUN: internvl-opt %s -split-input-file --tg-autodiff="weight-decay=0.1 lr=0.001" | FileCheck %s
// RUN: internvl-opt %s -split-input-file --tg-autodiff="emit-gradients=true" | FileCheck %s --check-prefix=GRADS

// A trainable linear layer beside a frozen one: only the trainable path gets
// backward ops; the input x needs no gradient, so no dX is computed.

// CHECK-LABEL: func.func @forward
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[X:arg0]]: tensor<2x8xf32> {tg.kind = "input", tg.name = "x"}
// CHECK-SAME: %[[W:arg1]]: tensor<4x8xf32> {tg.kind = "param", tg.name = "fc.weight", tg.trainable}
// CHECK-SAME: %[[STEP:arg5]]: tensor<i64> {tg.kind = "input", tg.name = "step"}
// f32 parameters are their own master copy: AdamW updates them in place.
// CHECK-NOT: "master"
// CHECK-SAME: %[[WA:arg6]]: tensor<4x8xf32> {tg.kind = "exp_avg", tg.name = "fc.weight.exp_avg"}
// CHECK-SAME: %[[WV:arg7]]: tensor<4x8xf32> {tg.kind = "exp_avg_sq", tg.name = "fc.weight.exp_avg_sq"}
// CHECK-SAME: -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<4x8xf32> {tg.kind = "param", tg.name = "fc.weight"}, tensor<4x8xf32> {tg.kind = "exp_avg", tg.name = "fc.weight.exp_avg"}
// CHECK: %[[H:.*]] = tg.linear %[[X]], %[[W]]
// CHECK: %[[LOSS:.*]], %[[LSE:.*]] = tg.cross_entropy
// CHECK: %[[SEED:.*]] = tg.fill 1.000000e+00 {tg.phase = #tg.phase<backward>, tg.scope = "loss"} : tensor<f32>
// CHECK: %[[DZ:.*]] = tg.cross_entropy_grad %[[SEED]], %{{.*}}, %{{.*}}, %[[LSE]] {tg.phase = #tg.phase<backward>, tg.scope = "loss"}
// CHECK: %[[DH:.*]] = tg.gelu_grad %[[DZ]], %[[H]] {tg.phase = #tg.phase<backward>, tg.scope = "act"}
// CHECK-NOT: tg.matmul %[[DH]], %[[W]]
// CHECK: %[[DW:.*]] = tg.matmul %[[DH]], %[[X]] {tg.phase = #tg.phase<backward>, tg.scope = "fc", transpose_lhs} : (tensor<2x4xf32>, tensor<2x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[DB:.*]] = tg.reduce_sum %[[DH]] {dims = array<i64: 0>, tg.phase = #tg.phase<backward>, tg.scope = "fc"}
// CHECK-NOT: "frozen"
// CHECK: %[[NORM:.*]] = tg.global_norm %[[DW]], %[[DB]] {tg.phase = #tg.phase<optimizer>, tg.scope = "optimizer"}
// CHECK: %[[SCALE:.*]] = tg.clip_scale %[[NORM]] {max_norm = 1.000000e+00 : f64, tg.phase = #tg.phase<optimizer>, tg.scope = "optimizer"}
// Weight decay on the matrix, not on the bias.
// CHECK: tg.adamw %[[W]], %[[WA]], %[[WV]], %[[DW]], %[[SCALE]], %[[STEP]] {{{.*}}lr = 1.000000e-03 : f64, tg.phase = #tg.phase<optimizer>, tg.scope = "fc", weight_decay = 1.000000e-01 : f64}
// CHECK: tg.adamw {{.*}}, %[[DB]], %[[SCALE]], %[[STEP]] {{{.*}}weight_decay = 0.000000e+00 : f64}

// GRADS-LABEL: func.func @train_step
// GRADS-SAME: tensor<4x8xf32> {tg.kind = "grad", tg.name = "fc.weight.grad"}, tensor<4xf32> {tg.kind = "grad", tg.name = "fc.bias.grad"})
module {
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

// -----

// A value with two uses: the gradients of both uses are summed.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[A:.*]] = tg.mul %{{.*}}, %{{.*}} {tg.phase = #tg.phase<backward>
// CHECK: %[[B:.*]] = tg.mul %{{.*}}, %{{.*}} {tg.phase = #tg.phase<backward>
// CHECK: tg.add %[[A]], %[[B]] {tg.phase = #tg.phase<backward>, tg.scope = "square"}
module {
  func.func @forward(%w: tensor<3xf32> {tg.name = "w", tg.kind = "param", tg.trainable}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %sq = tg.mul %w, %w {tg.scope = "square"} : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
    %l = tg.reduce_sum %sq {dims = array<i64: 0>, tg.scope = "loss"} : tensor<3xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Mixed precision: a bf16 parameter gets an f32 master copy that AdamW
// updates, and its bf16 working copy is the rounded result.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:arg0]]: tensor<3xbf16> {tg.kind = "param", tg.name = "w", tg.trainable}
// CHECK-SAME: %[[WM:arg2]]: tensor<3xf32> {tg.kind = "master", tg.name = "w.master"}
// CHECK-SAME: -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xbf16> {tg.kind = "param", tg.name = "w"}, tensor<3xf32> {tg.kind = "master", tg.name = "w.master"}
// CHECK: tg.adamw %[[WM]], {{.*}} -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xbf16>)
module {
  func.func @forward(%w: tensor<3xbf16> {tg.name = "w", tg.kind = "param", tg.trainable}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %f = tg.cast %w {tg.scope = "cast"} : tensor<3xbf16> -> tensor<3xf32>
    %l = tg.reduce_sum %f {dims = array<i64: 0>, tg.scope = "loss"} : tensor<3xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
