// RUN: not internvl-opt %s --tg-memory-timeline=%t.svg -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNPLANNED
// RUN: not test -e %t.svg
// RUN: not internvl-opt %s --tg-plan-memory --tg-memory-timeline -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not internvl-opt %s --tg-plan-memory --tg-memory-timeline=%t.missing/x.svg -o /dev/null 2>&1 | FileCheck %s --check-prefix=UNWRITABLE
// RUN: not internvl-opt %s --tg-plan-memory --tg-memory-timeline="file=%t.svg function=nope" -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUNCTION
// RUN: not test -e %t.svg

// What --tg-memory-timeline refuses; no file is left behind.

// UNPLANNED: error: @forward has no memory plan; run --tg-plan-memory first
// NOFILE: error: --tg-memory-timeline needs a file: --tg-memory-timeline=FILE
// UNWRITABLE: error: --tg-memory-timeline: cannot write '{{.*}}x.svg'
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
