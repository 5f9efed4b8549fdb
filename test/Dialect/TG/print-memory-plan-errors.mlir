// RUN: not internvl-opt %s --tg-print-memory-plan -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNPLANNED
// RUN: not internvl-opt %s --tg-plan-memory --tg-print-memory-plan=top=-1 -o /dev/null 2>&1 | FileCheck %s --check-prefix=TOP
// RUN: not internvl-opt %s --tg-plan-memory --tg-print-memory-plan=function=nope -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUNCTION

// UNPLANNED: error: @forward has no memory plan; run --tg-plan-memory first
// TOP: error: --tg-print-memory-plan: top must be >= 0, got -1
// FUNCTION: error: no function @nope in the module

func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"},
                   %y: tensor<128xf32> {tg.kind = "input", tg.name = "y"}) -> (tensor<f32> {tg.kind = "loss", tg.name = "loss"}) {
  %a = tg.neg %x {tg.scope = "a"} : tensor<64xf32>
  %b = tg.scale %a {factor = 2.0 : f64, tg.scope = "b"} : tensor<64xf32>
  %c = tg.gelu %y {tg.scope = "c"} : tensor<128xf32>
  %d = tg.reduce_sum %c {dims = array<i64: 0>, tg.scope = "d"} : tensor<128xf32> -> tensor<f32>
  %e = tg.add %b, %x {tg.scope = "e"} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  %r = tg.reshape %e {tg.scope = "r"} : tensor<64xf32> -> tensor<8x8xf32>
  %s = tg.reduce_sum %r {dims = array<i64: 0, 1>, tg.scope = "s"} : tensor<8x8xf32> -> tensor<f32>
  %t = tg.add %s, %d {tg.scope = "t"} : tensor<f32>, tensor<f32> -> tensor<f32>
  return %t : tensor<f32>
}
