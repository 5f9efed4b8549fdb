// RUN: internvl-opt %s --tg-plan-memory --tg-verify-memory-plan | FileCheck %s

// Hand-checked plan (alignment 256, no matrix product so no cuBLASLt
// workspace):
//   %0 = neg x        step 0  A: 256 B, steps 0-6 (%1 and %4 write over it in
//   %1 = scale %0     step 1     place, %5 aliases it, %6 reads it at step 6)
//   %2 = gelu y       step 2  B: 512 B, steps 2-3
//   %3 = sum %2       step 3  C: 256 B, steps 3-7
//   %4 = add %1, x    step 4  (in place over %1: A)
//   %5 = reshape %4   step 5  (alias of A)
//   %6 = sum %5       step 6  D: 256 B, steps 6-7; %7 writes over it
//   %7 = add %6, %3   step 7
// Step 3 holds A + B + C = 1024 bytes: the lower bound. Largest first: B at
// 0, A on top at 512, C at 768; D fits the hole B left at 0.

// CHECK-LABEL: func.func @forward
// CHECK-SAME: tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 8, arena_bytes = 1024, live_lower_bound_bytes = 1024, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 1024>
// CHECK: %[[A:.*]] = tg.neg %{{.*}} {tg.alloc = [#tg.alloc<arena, 512, 256>]
// CHECK: tg.scale %[[A]] {{.*}}tg.alloc = [#tg.alloc<arena, 512, 256>]
// CHECK: tg.gelu %{{.*}} {tg.alloc = [#tg.alloc<arena, 0, 512>]
// CHECK: tg.reduce_sum {{.*}}tg.alloc = [#tg.alloc<arena, 768, 256>]
// CHECK: tg.add {{.*}}{tg.alloc = [#tg.alloc<arena, 512, 256>], tg.scope = "e"}
// CHECK: tg.reshape %{{.*}} {tg.scope = "r"}
// CHECK: tg.reduce_sum {{.*}}tg.alloc = [#tg.alloc<arena, 0, 256>]
// CHECK: tg.add {{.*}}{tg.alloc = [#tg.alloc<arena, 0, 256>], tg.scope = "t"}

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
