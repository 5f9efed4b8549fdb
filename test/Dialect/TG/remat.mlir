// RUN: internvl-opt %s --tg-autodiff --tg-remat | FileCheck %s
// RUN: internvl-opt %s --tg-autodiff --tg-remat="lm=force prune=false" | FileCheck %s --check-prefix=FULL
// RUN: internvl-opt %s --tg-autodiff --tg-remat="lm=off" | FileCheck %s --check-prefix=OFF
// RUN: internvl-opt %s --tg-autodiff --tg-remat="lm=auto budget=1GiB" | FileCheck %s --check-prefix=OFF

// One LLM layer (fc1 -> gelu -> fc2 -> residual), imported with
// grad_checkpoint, so lm defaults to force: the layer input %arg0 and its
// output are kept; backward needs fc1's output (gelu_grad) and gelu's
// (fc2's weight gradient), so fc1 and gelu run again right before their
// first backward reader. fc2 and the residual add, which backward does not
// read, do not (torch.utils.checkpoint would re-run them).

// CHECK-LABEL: func.func @train_step
// fc1: 2·4·32·16 = 4096 FLOPs, gelu: 8 per element = 1024. Recomputing
// them spares keeping their two [4, 32] f32 results for backward: 1024 bytes.
// CHECK-SAME: tg.remat = {gpu = "h100", llm = {kept_bytes = 256 : i64, layers = 1 : i64, no_gradient = false, policy = "force", recompute_seconds = {{.*}}, recomputed_flops = 5120 : i64, recomputed_ops = 2 : i64, saved_bytes = 1024 : i64}, prune = true, vision = {kept_bytes = 0 : i64, layers = 0 : i64, no_gradient = false, policy = "force"
// CHECK: %[[H:.*]] = tg.linear %arg0, %arg1 {tg.scope = "language_model.model.layers.0.mlp.fc1"}
// CHECK: %[[A:.*]] = tg.gelu %[[H]] {tg.scope = "language_model.model.layers.0.mlp.act"}
// CHECK: %[[DA:.*]] = tg.matmul %{{.*}}, %arg2 {tg.phase = #tg.phase<backward>
// CHECK-NEXT: %[[H2:.*]] = tg.linear %arg0, %arg1 {tg.phase = #tg.phase<recompute>, tg.scope = "language_model.model.layers.0.mlp.fc1"}
// CHECK-NEXT: %[[A2:.*]] = tg.gelu %[[H2]] {tg.phase = #tg.phase<recompute>, tg.scope = "language_model.model.layers.0.mlp.act"}
// CHECK-NEXT: tg.matmul %{{.*}}, %[[A2]] {tg.phase = #tg.phase<backward>, {{.*}}transpose_lhs}
// CHECK-NEXT: tg.gelu_grad %[[DA]], %[[H2]] {tg.phase = #tg.phase<backward>
// CHECK-NOT: "recompute"

// FULL: recomputed_ops = 4 : i64
// FULL: tg.linear {{.*}}tg.phase = #tg.phase<recompute>, tg.scope = "language_model.model.layers.0.mlp.fc1"
// FULL: tg.gelu {{.*}}tg.phase = #tg.phase<recompute>
// FULL: tg.linear {{.*}}tg.phase = #tg.phase<recompute>, tg.scope = "language_model.model.layers.0.mlp.fc2"
// FULL: tg.add {{.*}}tg.phase = #tg.phase<recompute>

// A generous budget keeps everything, like off.
// OFF: recomputed_ops = 0 : i64
// OFF-NOT: "recompute"
module attributes {tg.grad_checkpoint = true} {
  func.func @forward(%x: tensor<4x16xf32> {tg.name = "x", tg.kind = "input"},
                     %w1: tensor<32x16xf32> {tg.name = "language_model.model.layers.0.mlp.fc1.weight", tg.kind = "param", tg.trainable},
                     %w2: tensor<16x32xf32> {tg.name = "language_model.model.layers.0.mlp.fc2.weight", tg.kind = "param", tg.trainable},
                     %labels: tensor<4xi64> {tg.name = "labels", tg.kind = "input"}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %h = tg.linear %x, %w1 {tg.scope = "language_model.model.layers.0.mlp.fc1"} : (tensor<4x16xf32>, tensor<32x16xf32>) -> tensor<4x32xf32>
    %a = tg.gelu %h {tg.scope = "language_model.model.layers.0.mlp.act"} : tensor<4x32xf32>
    %y = tg.linear %a, %w2 {tg.scope = "language_model.model.layers.0.mlp.fc2"} : (tensor<4x32xf32>, tensor<16x32xf32>) -> tensor<4x16xf32>
    %r = tg.add %x, %y {tg.scope = "language_model.model.layers.0"} : tensor<4x16xf32>, tensor<4x16xf32> -> tensor<4x16xf32>
    %loss, %lse = tg.cross_entropy %r, %labels {tg.scope = "loss"} : (tensor<4x16xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4xf32>)
    return %loss : tensor<f32>
  }
}
