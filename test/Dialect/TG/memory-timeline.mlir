// RUN: internvl-opt %s --tg-plan-memory --tg-memory-timeline=%t.svg -o /dev/null
// RUN: FileCheck %s < %t.svg

// Live bytes over the schedule of plan-memory.mlir's step: a title with the
// totals, one filled band per kind of buffer, a legend.

// CHECK: <svg xmlns="http://www.w3.org/2000/svg"
// CHECK: Memory of @forward per rank: peak 0.00 GiB = persistent 0.00 + arena 0.00 GiB
// CHECK: <path d="M
// CHECK: </svg>
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
