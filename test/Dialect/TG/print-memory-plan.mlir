// RUN: internvl-opt %s --tg-plan-memory --tg-print-memory-plan -o /dev/null | FileCheck %s --check-prefix=PRINT
// RUN: internvl-opt %s --tg-plan-memory --tg-print-memory-plan=top=1 -o /dev/null | FileCheck %s --check-prefix=TOP1

// The text report of plan-memory.mlir's plan: totals, the peak step and the
// largest buffers live there (`top` of them).

// PRINT: memory plan of @forward: 8 steps, ZeRO stage 0, world size 1 (bytes per rank)
// PRINT: arena 1024
// PRINT-NEXT: live lower bound 1024
// PRINT-NEXT: arena / bound 1.0000
// PRINT: peak 1024
// PRINT: batch inputs, outside the plan: 768 bytes
// PRINT: peak step 3 of 8: tg.reduce_sum (d), 1024 live arena bytes
// PRINT: other 0 1024 0 0 0 0 1024
// PRINT: largest buffers live at the peak step
// PRINT-NEXT: 512 0.00 GiB temporary steps 2-3 %2 c
// PRINT-NEXT: 256 0.00 GiB temporary steps 0-6 %0 a
// PRINT-NEXT: 256 0.00 GiB temporary steps 3-7 %3 d

// TOP1: largest buffers live at the peak step
// TOP1-NEXT: 512 0.00 GiB temporary steps 2-3 %2 c
// TOP1-NOT: temporary

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
