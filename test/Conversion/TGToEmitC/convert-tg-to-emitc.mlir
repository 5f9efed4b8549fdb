// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc | FileCheck %s
// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc=fuse-elementwise=false | FileCheck %s --check-prefix=NOFUSE
// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc=target=cuda | FileCheck %s --check-prefix=CUDA

// A planned step lowers to one host function over views of planned memory;
// the manifest records where each result lives.

// CHECK: emitc.include "internvl/runtime/StepSupport.h"
// CHECK: emitc.include "internvl/runtime/FusedSupport.h"
// CHECK: emitc.func @ivl_step_manifest() -> !emitc.ptr<!emitc.opaque<"const char">> attributes {specifiers = ["extern \22C\22"]}
// CHECK: emitc.literal "R\22ivl({\22arena_bytes\22:{{[0-9]+}},\22arguments\22:[{\22dtype\22:\22bf16\22,\22kind\22:\22input\22,\22name\22:\22x\22,\22shape\22:[4,8]},{\22dtype\22:\22bf16\22,\22init\22:{\22normal\22:true,\22value\22:0.02},\22kind\22:\22param\22,\22name\22:\22w\22,\22shape\22:[8,8]},{\22dtype\22:\22bf16\22,\22init\22:{\22normal\22:false,\22value\22:0},\22kind\22:\22param\22,\22name\22:\22b\22,\22shape\22:[8]}]
// CHECK-SAME: \22results\22:[{\22dtype\22:\22bf16\22,\22name\22:\22y\22,\22offset\22:{{[0-9]+}},\22shape\22:[4,8],\22space\22:\22arena\22}]

// The fused kernel: gelu(x . w^T + b) * 0.5 + x computes in f32 and rounds
// each intermediate to bf16 as the unfused kernels store it.
// CHECK-LABEL: emitc.func @ivl_fused_0(
// CHECK-SAME: %[[H:.*]]: !emitc.opaque<"ivl_tensor">, %[[X:.*]]: !emitc.opaque<"ivl_tensor">, %[[O:.*]]: !emitc.opaque<"ivl_tensor">, %[[N:.*]]: i64) attributes {specifiers = ["static"]}
// CHECK: emitc.for %[[I:.*]] = %{{.*}} to %[[N]] step %{{.*}} : i64 {
// CHECK: %[[HV:.*]] = emitc.call_opaque "ivl::fused::loadBf16"(%[[H]], %[[I]])
// CHECK: %[[G:.*]] = emitc.call_opaque "ivl::scalar::geluTanh"(%[[HV]])
// CHECK: %[[GR:.*]] = emitc.call_opaque "ivl::fused::roundBf16"(%[[G]])
// CHECK: %[[HALF:.*]] = emitc.literal "0x1p-1f" : f32
// CHECK: %[[S:.*]] = emitc.mul %[[GR]], %[[HALF]] : (f32, f32) -> f32
// CHECK: %[[SR:.*]] = emitc.call_opaque "ivl::fused::roundBf16"(%[[S]])
// CHECK: %[[XV:.*]] = emitc.call_opaque "ivl::fused::loadBf16"(%[[X]], %[[I]])
// CHECK: %[[SUM:.*]] = emitc.add %[[SR]], %[[XV]] : (f32, f32) -> f32
// CHECK: emitc.call_opaque "ivl::fused::storeBf16"(%[[O]], %[[I]], %[[SUM]])

// The schedule, in parts cut at layer boundaries; each part makes the views
// of planned memory it uses.
// CHECK: emitc.verbatim "// forward: from fc"
// CHECK-LABEL: emitc.func @ivl_step_part_0(
// CHECK-SAME: %[[CTX:.*]]: !emitc.ptr<!emitc.opaque<"ivl_context">>, %[[ARENA:.*]]: !emitc.ptr<!emitc.opaque<"void">>, %{{.*}}: !emitc.ptr<!emitc.opaque<"void">>, %[[ARGS:.*]]: !emitc.ptr<!emitc.ptr<!emitc.opaque<"void">>>) -> !emitc.opaque<"ivl_status"> attributes {specifiers = ["static"]}
// CHECK: emitc.verbatim "// ---- forward ----"
// CHECK: emitc.verbatim "// fc"
// CHECK: %[[H2:.*]] = emitc.call_opaque "ivl::view"(%[[ARENA]]) {args = [0 : index, #emitc.opaque<"[[HOFF:[0-9]+]]">, #emitc.opaque<"IVL_BF16">, #emitc.opaque<"{4, 8}">]}
// CHECK: %[[XA:.*]] = emitc.call_opaque "ivl::argument"(%[[ARGS]]) {args = [0 : index, #emitc.opaque<"0">, #emitc.opaque<"IVL_BF16">, #emitc.opaque<"{4, 8}">]}
// CHECK: %[[ST:.*]] = emitc.call_opaque "ivl::call<ivl_linear>"(%[[CTX]], %[[XA]], %{{.*}}, %{{.*}}, %[[H2]])
// CHECK: emitc.call_opaque "IVL_CHECK"(%[[CTX]], %[[ST]]) {args = [0 : index, 1 : index, #emitc.opaque<"\22tg.linear (fc)\22">]}
// The fused output overwrites h in place (same offset, same type).
// CHECK: %[[Y:.*]] = emitc.call_opaque "ivl::view"(%[[ARENA]]) {args = [0 : index, #emitc.opaque<"[[HOFF]]">
// CHECK: %[[F:.*]] = emitc.call_opaque "ivl::fused::launch"(%[[CTX]], %[[H2]], %[[XA]], %[[Y]]) {args = [0 : index, #emitc.opaque<"ivl_fused_0">, #emitc.opaque<"32">, 1 : index, 2 : index, 3 : index]}
// CHECK: emitc.call_opaque "IVL_CHECK"(%[[CTX]], %[[F]]) {args = [0 : index, 1 : index, #emitc.opaque<"\22fused tg.gelu + tg.scale + tg.add (act)\22">]}
// CHECK: emitc.return

// The step sets the cuBLASLt workspace planned in the arena and runs the
// parts in order.
// CHECK-LABEL: emitc.func @ivl_step(
// CHECK-SAME: attributes {specifiers = ["extern \22C\22"]}
// CHECK: emitc.call_opaque "ivl::setWorkspace"(%{{.*}}, %{{.*}}) {args = [0 : index, 1 : index, #emitc.opaque<"0">, #emitc.opaque<"33554432">]}
// CHECK: %[[P:.*]] = emitc.call @ivl_step_part_0(
// CHECK: emitc.call_opaque "IVL_PROPAGATE"(%[[P]])
// CHECK: emitc.literal "IVL_OK"

// NOFUSE-NOT: ivl_fused
// NOFUSE: "ivl::call<ivl_unary>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"IVL_GELU">, 1 : index, #emitc.opaque<"1">, 2 : index]}
// NOFUSE: "ivl::call<ivl_unary>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"IVL_SCALE">, 1 : index, #emitc.opaque<"0.5">, 2 : index]}
// NOFUSE: "ivl::call<ivl_binary>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"IVL_ADD">, 1 : index, 2 : index, 3 : index]}

// CUDA: \22target\22:\22cuda\22
// CUDA: emitc.func @ivl_fused_0({{.*}}) attributes {specifiers = ["static", "__global__"]}

func.func @forward(%x: tensor<4x8xbf16> {tg.kind = "input", tg.name = "x"},
                   %w: tensor<8x8xbf16> {tg.kind = "param", tg.name = "w", tg.init = "normal:0.02"},
                   %b: tensor<8xbf16> {tg.kind = "param", tg.name = "b", tg.init = "zeros"})
    -> (tensor<4x8xbf16> {tg.name = "y"}) {
  %h = tg.linear %x, %w, %b {tg.scope = "fc"} : (tensor<4x8xbf16>, tensor<8x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
  %g = tg.gelu %h {approximate = #tg<gelu_approximation tanh>, tg.scope = "act"} : tensor<4x8xbf16>
  %s = tg.scale %g {factor = 0.5 : f64, tg.scope = "act"} : tensor<4x8xbf16>
  %y = tg.add %s, %x {tg.scope = "act"} : tensor<4x8xbf16>, tensor<4x8xbf16> -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}
