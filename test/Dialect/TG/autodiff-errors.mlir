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
  func.func @forward(%w: tensor<3xf32> {tg.kind = "param", tg.trainable}) -> tensor<f32> {
    %n = tg.global_norm %w : (tensor<3xf32>) -> tensor<f32>
    return %n : tensor<f32>
  }
}
