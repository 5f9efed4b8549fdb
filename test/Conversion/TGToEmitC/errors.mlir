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
    attributes {tg.memory_plan = {arena_bytes = 256 : i64, world_size = 8 : i64, zero_stage = 1 : i64}} {
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 256>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = {arena_bytes = 256 : i64, world_size = 1 : i64, zero_stage = 0 : i64}} {
  // expected-error @+1 {{has no planned storage (tg.alloc): run --tg-plan-memory before lowering}}
  %y = tg.neg %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @forward(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.memory_plan = {arena_bytes = 256 : i64, world_size = 1 : i64, zero_stage = 0 : i64}} {
  // expected-error @+1 {{result needs 16 bytes but its planned buffer has 8}}
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, 0, 8>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}
