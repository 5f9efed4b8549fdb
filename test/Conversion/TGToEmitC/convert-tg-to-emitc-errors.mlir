// RUN: internvl-opt %s --split-input-file --convert-tg-to-emitc --verify-diagnostics
// RUN: not internvl-opt %s --split-input-file --convert-tg-to-emitc=target=tpu 2>&1 | FileCheck %s --check-prefix=TARGET

// TARGET: target 'tpu' is not one of: cpu, cuda

// expected-error @+1 {{@forward has no tg.memory_plan: run --tg-plan-memory before --convert-tg-to-emitc}}
func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32> {
  %y = tg.neg %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @+1 {{@forward is planned for 8 data-parallel ranks but has no collectives: run --tg-data-parallel before --tg-plan-memory}}
func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 1, world_size = 8, alignment = 256, steps = 1, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  // The lowering checks the plan first (PlanVerifier.cpp).
  // expected-error @+1 {{memory plan: op has no planned location for each of its 1 results}}
  %y = tg.neg %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  // expected-error @+1 {{memory plan: result buffer of 8 bytes at offset 0 cannot hold the 16 bytes of its value}}
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 8>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// A plan edited by hand after planning: not even a module.
// expected-error @+2 {{#tg.memory_plan: arena_bytes must be in [0, 576460752303423487], got -1}}
func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = -1, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 1, arena_bytes = 256, live_lower_bound_bytes = 256, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 256>} {
  // expected-error @+1 {{memory plan: %0 at offset 128 is not aligned to the plan's 256 bytes}}
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 128, 128>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}
