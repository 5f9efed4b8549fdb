// RUN: not internvl-opt %s -split-input-file --tg-autodiff 2>&1 | FileCheck %s

// CHECK: error: --tg-autodiff: no function @forward to differentiate
module {
  func.func @other() {
    return
  }
}

// -----

// CHECK: error: 'func.func' op must return exactly one scalar f32 loss to be differentiated
module {
  func.func @forward(%w: tensor<3xf32> {tg.kind = "param", tg.trainable}) -> tensor<3xf32> {
    return %w : tensor<3xf32>
  }
}

// -----

// CHECK: error: 'tg.global_norm' op has no gradient rule, but the loss depends on a trainable parameter through it
module {
  func.func @forward(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}) -> tensor<f32> {
    %n = tg.global_norm %w : (tensor<3xf32>) -> tensor<f32>
    return %n : tensor<f32>
  }
}

// -----

// The optimizer state is named after its parameter: each trainable one
// needs a name of its own.
// CHECK: error: --tg-autodiff: trainable parameter #0 of @forward has no tg.name; each needs its own
module {
  func.func @forward(%w: tensor<3xf32> {tg.kind = "param", tg.trainable}) -> tensor<f32> {
    %l = tg.reduce_sum %w {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// CHECK: error: --tg-autodiff: trainable parameter #1 of @forward has the tg.name of another, 'w'; each needs its own
module {
  func.func @forward(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable},
                     %v: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}) -> tensor<f32> {
    %s = tg.add %w, %v : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
    %l = tg.reduce_sum %s {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
