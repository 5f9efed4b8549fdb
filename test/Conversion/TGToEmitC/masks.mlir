// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc | FileCheck %s

// The random masks lower to their kernels with the step counter and the
// (rate, seed, offset) that fix the mask, so a recomputed op draws it again.

// CHECK: %[[D:.*]] = emitc.call_opaque "ivl::call<ivl_dropout>"(%[[CTX:.*]], %[[X:.*]], %[[STEP:.*]], %[[OUT:.*]]) {args = [0 : index, 1 : index, 2 : index, #emitc.opaque<"0.050000000000000003">, #emitc.opaque<"7">, #emitc.opaque<"3">, 3 : index]}
// CHECK: emitc.call_opaque "IVL_CHECK"(%[[CTX]], %[[D]]) {args = [0 : index, 1 : index, #emitc.opaque<"\22tg.dropout (lora)\22">]}
// CHECK: "ivl::call<ivl_drop_path>"(%[[CTX]], %[[OUT]], %[[STEP]], %{{.*}}) {args = [0 : index, 1 : index, 2 : index, #emitc.opaque<"0.10000000000000001">, #emitc.opaque<"7">, #emitc.opaque<"1">, 3 : index]}

func.func @forward(%x: tensor<4x8xbf16> {tg.kind = "input", tg.name = "x"},
                   %step: tensor<i64> {tg.kind = "input", tg.name = "step"})
    -> (tensor<4x8xbf16> {tg.name = "y"}) {
  %d = tg.dropout %x, %step {rate = 0.05 : f64, seed = 7 : i64, offset = 3 : i64, tg.scope = "lora"} : (tensor<4x8xbf16>, tensor<i64>) -> tensor<4x8xbf16>
  %y = tg.drop_path %d, %step {rate = 0.1 : f64, seed = 7 : i64, offset = 1 : i64, tg.scope = "layer"} : (tensor<4x8xbf16>, tensor<i64>) -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}
