// RUN: internvl-opt %s --split-input-file --tg-data-parallel=world-size=2 --verify-diagnostics
// RUN: not internvl-opt %s --split-input-file --tg-data-parallel=world-size=0 2>&1 | FileCheck %s --check-prefix=WORLD
// RUN: not internvl-opt %s --split-input-file --tg-data-parallel="world-size=2 zero-stage=4" 2>&1 | FileCheck %s --check-prefix=STAGE
// RUN: not internvl-opt %s --split-input-file --tg-data-parallel="world-size=2 reduce-bucket-size=0" 2>&1 | FileCheck %s --check-prefix=BUCKET
// RUN: not internvl-opt %s --split-input-file --tg-data-parallel="world-size=2 function=nope" 2>&1 | FileCheck %s --check-prefix=FUNCTION

// Steps --tg-data-parallel cannot make data parallel, and options it
// refuses: an error naming the problem, no partial rewrite.

// WORLD: error: --tg-data-parallel: world-size must be in [1, 1048576], got 0
// STAGE: error: --tg-data-parallel: zero-stage must be 0, 1, 2 or 3, got 4
// BUCKET: error: --tg-data-parallel: reduce-bucket-size must be >= 1 element, got 0
// FUNCTION: error: --tg-data-parallel: no function @nope (run --tg-autodiff first)

// expected-error @+1 {{--tg-data-parallel: @train_step updates no parameter}}
func.func @train_step(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}, %step: tensor<i64> {tg.kind = "input", tg.name = "step"}, %m: tensor<3xf32> {tg.kind = "exp_avg", tg.name = "w.exp_avg"}, %v: tensor<3xf32> {tg.kind = "exp_avg_sq", tg.name = "w.exp_avg_sq"}, %g_in: tensor<3xf32> {tg.kind = "input", tg.name = "g"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xf32> {tg.kind = "param", tg.name = "w"}) {
  %sq = tg.mul %w, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %l = tg.reduce_sum %sq {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  %g = tg.add %sq, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  return %l, %g : tensor<f32>, tensor<3xf32>
}

// -----

// expected-error @+1 {{--tg-data-parallel: @train_step has no tg.global_norm before AdamW}}
func.func @train_step(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}, %step: tensor<i64> {tg.kind = "input", tg.name = "step"}, %m: tensor<3xf32> {tg.kind = "exp_avg", tg.name = "w.exp_avg"}, %v: tensor<3xf32> {tg.kind = "exp_avg_sq", tg.name = "w.exp_avg_sq"}, %g_in: tensor<3xf32> {tg.kind = "input", tg.name = "g"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xf32> {tg.kind = "param", tg.name = "w"}) {
  %sq = tg.mul %w, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %l = tg.reduce_sum %sq {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  %g = tg.add %sq, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %scale = tg.fill 1.0 : tensor<f32>
  %nm, %na, %nv, %np = tg.adamw %w, %m, %v, %g, %scale, %step {beta1 = 9.000000e-01 : f64, beta2 = 0.999 : f64, epsilon = 1.000000e-08 : f64, lr = 5.000000e-05 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>, tensor<i64>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return %l, %np : tensor<f32>, tensor<3xf32>
}

// -----

func.func @train_step(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}, %step: tensor<i64> {tg.kind = "input", tg.name = "step"}, %m: tensor<3xf32> {tg.kind = "exp_avg", tg.name = "w.exp_avg"}, %v: tensor<3xf32> {tg.kind = "exp_avg_sq", tg.name = "w.exp_avg_sq"}, %g_in: tensor<3xf32> {tg.kind = "input", tg.name = "g"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xf32> {tg.kind = "param", tg.name = "w"}) {
  %sq = tg.mul %w, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %l = tg.reduce_sum %sq {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  %n = tg.global_norm %g_in : (tensor<3xf32>) -> tensor<f32>
  %scale = tg.clip_scale %n {max_norm = 1.000000e+00 : f64} : tensor<f32>
  // expected-error @+1 {{updates from a gradient that is a function argument; --tg-data-parallel expects @train_step as --tg-autodiff builds it}}
  %nm, %na, %nv, %np = tg.adamw %w, %m, %v, %g_in, %scale, %step {beta1 = 9.000000e-01 : f64, beta2 = 0.999 : f64, epsilon = 1.000000e-08 : f64, lr = 5.000000e-05 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>, tensor<i64>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return %l, %np : tensor<f32>, tensor<3xf32>
}

// -----

// expected-error @+1 {{--tg-data-parallel: @train_step is already data parallel}}
func.func @train_step(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}, %step: tensor<i64> {tg.kind = "input", tg.name = "step"}, %m: tensor<3xf32> {tg.kind = "exp_avg", tg.name = "w.exp_avg"}, %v: tensor<3xf32> {tg.kind = "exp_avg_sq", tg.name = "w.exp_avg_sq"}, %g_in: tensor<3xf32> {tg.kind = "input", tg.name = "g"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xf32> {tg.kind = "param", tg.name = "w"}) attributes {tg.data_parallel = #tg.data_parallel<world_size = 2, zero_stage = 0, reduce_bucket_size = 100, allgather_bucket_size = 100, buckets = 1>} {
  %sq = tg.mul %w, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %l = tg.reduce_sum %sq {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  %g = tg.add %sq, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %n = tg.global_norm %g : (tensor<3xf32>) -> tensor<f32>
  %scale = tg.clip_scale %n {max_norm = 1.000000e+00 : f64} : tensor<f32>
  %nm, %na, %nv, %np = tg.adamw %w, %m, %v, %g, %scale, %step {beta1 = 9.000000e-01 : f64, beta2 = 0.999 : f64, epsilon = 1.000000e-08 : f64, lr = 5.000000e-05 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>, tensor<i64>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return %l, %np : tensor<f32>, tensor<3xf32>
}

// -----

func.func @train_step(%w: tensor<3xf32> {tg.kind = "param", tg.name = "w", tg.trainable}, %step: tensor<i64> {tg.kind = "input", tg.name = "step"}, %m: tensor<3xf32> {tg.kind = "exp_avg", tg.name = "w.exp_avg"}, %v: tensor<3xf32> {tg.kind = "exp_avg_sq", tg.name = "w.exp_avg_sq"}, %g_in: tensor<3xf32> {tg.kind = "input", tg.name = "g"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}, tensor<3xf32> {tg.kind = "param", tg.name = "w"}) {
  %sq = tg.mul %w, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %l = tg.reduce_sum %sq {dims = array<i64: 0>} : tensor<3xf32> -> tensor<f32>
  %g = tg.add %sq, %w : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %n = tg.global_norm %g : (tensor<3xf32>) -> tensor<f32>
  %scale = tg.clip_scale %n {max_norm = 1.000000e+00 : f64} : tensor<f32>
  // expected-error @+1 {{is the second global norm of the step}}
  %n2 = tg.global_norm %g : (tensor<3xf32>) -> tensor<f32>
  %nm, %na, %nv, %np = tg.adamw %w, %m, %v, %g, %scale, %step {beta1 = 9.000000e-01 : f64, beta2 = 0.999 : f64, epsilon = 1.000000e-08 : f64, lr = 5.000000e-05 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<f32>, tensor<i64>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>)
  return %l, %np : tensor<f32>, tensor<3xf32>
}
