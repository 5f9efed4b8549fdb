// RUN: not internvl-opt %s -split-input-file --tg-verify-memory-plan 2>&1 | FileCheck %s
// Hand-broken plans: the checker names the values, bytes and steps. (That
// each field of #tg.memory_plan is in range is the attribute's own check:
// test/Dialect/TG/invalid.mlir.)

// %2 is moved onto the bytes of %0/%1/%4 (written in place, steps 0-4).
// CHECK: error: memory plan: %1 (bytes [512, 768) steps [1, 4]) and %2 (bytes [512, 1024) steps [2, 3]) share bytes [512, 768) while both are live at steps [2, 3]
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"},
                   %y: tensor<128xf32> {tg.kind = "input", tg.name = "y"}) -> tensor<f32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 6, arena_bytes = 1024, live_lower_bound_bytes = 1024, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 1024>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 512, 256>]} : tensor<64xf32>
  %1 = tg.scale %0 {factor = 2.0 : f64, tg.alloc = [#tg.alloc<arena, 512, 256>]} : tensor<64xf32>
  %2 = tg.gelu %y {tg.alloc = [#tg.alloc<arena, 512, 512>]} : tensor<128xf32>
  %3 = tg.reduce_sum %2 {dims = array<i64: 0>, tg.alloc = [#tg.alloc<arena, 768, 256>]} : tensor<128xf32> -> tensor<f32>
  %4 = tg.add %1, %x {tg.alloc = [#tg.alloc<arena, 512, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  %5 = tg.reduce_sum %4 {dims = array<i64: 0>, tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32> -> tensor<f32>
  return %5 : tensor<f32>
}

// -----

// An in-place write is only allowed over an operand that dies at that op:
// %0 is read again by %2.
// CHECK: error: memory plan: %0 (bytes [0, 256) steps [0, 2]) and %1 (bytes [0, 256) steps [1, 2]) share bytes [0, 256) while both are live at steps [1, 2]
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 3, arena_bytes = 512, live_lower_bound_bytes = 512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 512>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.scale %0 {factor = 2.0 : f64, tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %2 = tg.add %1, %0 {tg.alloc = [#tg.alloc<arena, 256, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %2 : tensor<64xf32>
}

// -----

// A buffer smaller than its value.
// CHECK: error: memory plan: result buffer of 128 bytes at offset 0 cannot hold the 256 bytes of its value
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = 128, live_lower_bound_bytes = 128, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 128>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 128>]} : tensor<64xf32>
  return %0 : tensor<64xf32>
}

// -----

// An op without a planned location.
// CHECK: error: memory plan: op has no planned location for each of its 1 results
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.neg %0 : tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// Totals that do not add up.
// CHECK: error: memory plan: recorded arena_bytes 4096 but the buffers give 512
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 4096, live_lower_bound_bytes = 512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 4096>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %x {tg.alloc = [#tg.alloc<arena, 256, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// CHECK: error: memory plan: recorded peak_bytes 999 but the buffers give 512
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 512, live_lower_bound_bytes = 512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 999>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %x {tg.alloc = [#tg.alloc<arena, 256, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// CHECK: error: memory plan: @forward has no memory plan
func.func @forward(%x: tensor<64xf32>) -> tensor<64xf32> {
  return %x : tensor<64xf32>
}

// -----

// CHECK: error: memory plan: recorded steps 9 but @forward has 2 ops
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 9, arena_bytes = 512, live_lower_bound_bytes = 512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 512>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %x {tg.alloc = [#tg.alloc<arena, 256, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// CHECK: error: memory plan: %0 at offset 100 is not aligned to the plan's 256 bytes
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 512, live_lower_bound_bytes = 512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 512>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<arena, 100, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %x {tg.alloc = [#tg.alloc<arena, 256, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// A gradient buffer too small for the gradients planned into it (the step
// would write past it).
// CHECK: error: memory plan: recorded grads_buffer_bytes 0 but the buffers give 256
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 256, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 512>} {
  %0 = tg.neg %x {tg.alloc = [#tg.alloc<grads, 0, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %1 : tensor<64xf32>
}

// -----

// Attention backward's scratch must hold what the op asks for: f32 dQ and
// rowsum(dO * O), 4 x (D + 1) bytes per row of B x Hq x S = 2 x 2 x 8.
// CHECK: error: memory plan: attention_grad has no planned workspace of 640 bytes
func.func @forward(%q: tensor<2x8x2x4xf32> {tg.kind = "input", tg.name = "q"}, %lse: tensor<2x2x8xf32> {tg.kind = "input", tg.name = "lse"}) -> tensor<2x8x2x4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = 1024, live_lower_bound_bytes = 1024, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 1024>} {
  %dq, %dk, %dv = tg.attention_grad %q, %q, %q, %q, %q, %lse {causal, scale = 0.5 : f64, tg.alloc = [#tg.alloc<arena, 0, 512>, #tg.alloc<arena, 512, 512>, #tg.alloc<arena, 1024, 512>], tg.workspace = #tg.alloc<arena, 1536, 64>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x2x8xf32>) -> (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>)
  return %dq : tensor<2x8x2x4xf32>
}

// -----

// An in-place result over an operand the function returns: the return reads
// %0 after the add overwrote it (found by fuzz-plan).
// CHECK: error: memory plan: %0 (bytes [0, 256) steps [0, 1]) and %1 (bytes [0, 256) steps [1, 1]) share bytes [0, 256) while both are live at steps [1, 1]
func.func @forward(%arg0: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<64xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 2, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  %0 = tg.neg %arg0 {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>
  %1 = tg.add %0, %arg0 {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %0 : tensor<64xf32>
}
