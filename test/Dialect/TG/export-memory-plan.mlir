// RUN: internvl-opt %s --tg-plan-memory --tg-export-memory-plan=%t.json -o /dev/null
// RUN: FileCheck %s < %t.json
// RUN: internvl-opt %s --tg-plan-memory --tg-export-memory-plan="file=%t.named.json function=forward" -o /dev/null
// RUN: diff %t.json %t.named.json

// The plan of plan-memory.mlir as JSON: the summary, then every arena
// buffer with its offset and lifetime (steps), in order of definition.

// CHECK: "function": "forward",
// CHECK-NEXT: "steps": 8,
// CHECK-NEXT: "arena_bytes": 1024,
// CHECK-NEXT: "live_lower_bound_bytes": 1024,
// CHECK: "total": 0
// CHECK: "peak_bytes": 1024,
// CHECK-NEXT: "budget_bytes": null,
// CHECK: "buffers": [
// CHECK: "name": "%0",
// CHECK-NEXT: "scope": "a",
// CHECK-NEXT: "kind": "temporary",
// CHECK-NEXT: "bytes": 256,
// CHECK-NEXT: "offset": 512,
// CHECK-NEXT: "start": 0,
// CHECK-NEXT: "end": 6
// CHECK: "name": "%2",
// CHECK: "bytes": 512,
// CHECK-NEXT: "offset": 0,
// CHECK: "name": "%3",
// CHECK: "offset": 768,
// CHECK: "name": "%6",
// CHECK-NEXT: "scope": "s",
// CHECK-NEXT: "kind": "output",
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
