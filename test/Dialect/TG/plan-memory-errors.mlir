// RUN: internvl-opt %s --split-input-file --tg-plan-memory --verify-diagnostics
// RUN: not internvl-opt %s --split-input-file --tg-remat=function=forward 2>&1 | FileCheck %s --check-prefix=REMAT
// RUN: not internvl-opt %s --split-input-file --tg-data-parallel=function=forward 2>&1 | FileCheck %s --check-prefix=DP
// RUN: not internvl-opt %s --split-input-file --tg-autodiff 2>&1 | FileCheck %s --check-prefix=AUTODIFF

// Steps the passes cannot read: a clear error, not a crash.

// expected-error @+1 {{memory plan: @forward is a declaration without a body}}
func.func private @forward(tensor<4xf32>) -> tensor<f32>
// REMAT: error: --tg-remat: @forward is a declaration without a body
// DP: error: --tg-data-parallel: @forward is a declaration without a body
// AUTODIFF: error: --tg-autodiff: @forward is a declaration without a body

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32> {
  // expected-error @+1 {{'arith.constant' op has a result of type 'i64'; memory plan takes statically shaped tensors}}
  %c = arith.constant 3 : i64
  %y = tg.neg %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
// REMAT: error: 'arith.constant' op has a result of type 'i64'; --tg-remat takes statically shaped tensors
