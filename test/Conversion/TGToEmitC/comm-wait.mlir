// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc | FileCheck %s

// A wait names its collective by how many launches came after it, so that
// the CUDA runtime waits for that one alone and not for those still in flight.
// A wait with nothing in flight emits no call.

// CHECK-LABEL: emitc.func @ivl_step
// CHECK-NOT: ivl::call<ivl_comm_wait>
// CHECK: emitc.call_opaque "ivl::call<ivl_all_reduce_mean>"
// CHECK: emitc.call_opaque "ivl::call<ivl_all_reduce_mean>"
// CHECK: emitc.call_opaque "ivl::call<ivl_all_reduce_mean>"
// CHECK: emitc.call_opaque "ivl::call<ivl_comm_wait>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"2">]}
// CHECK: emitc.call_opaque "ivl::call<ivl_comm_wait>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"0">]}
// CHECK: emitc.call_opaque "ivl::call<ivl_comm_wait>"(%{{.*}}) {args = [0 : index, #emitc.opaque<"1">]}
// CHECK-NOT: ivl::call<ivl_comm_wait>
func.func @train_step(%a: tensor<4xf32> {tg.kind = "input", tg.name = "a"},
                      %b: tensor<4xf32> {tg.kind = "input", tg.name = "b"},
                      %c: tensor<4xf32> {tg.kind = "input", tg.name = "c"})
    -> (tensor<4xf32> {tg.name = "a"}, tensor<4xf32> {tg.name = "b"}, tensor<4xf32> {tg.name = "c"})
    attributes {tg.data_parallel = #tg.data_parallel<world_size = 2, zero_stage = 0, reduce_bucket_size = 500000000, allgather_bucket_size = 500000000, buckets = 1>} {
  %ready = tg.comm_wait %a : (tensor<4xf32>) -> tensor<4xf32>
  %ra = tg.all_reduce_mean %ready {world_size = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %rb = tg.all_reduce_mean %b {world_size = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %rc = tg.all_reduce_mean %c {world_size = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %wa = tg.comm_wait %ra : (tensor<4xf32>) -> tensor<4xf32>
  %wc = tg.comm_wait %rc : (tensor<4xf32>) -> tensor<4xf32>
  %wb = tg.comm_wait %rb : (tensor<4xf32>) -> tensor<4xf32>
  return %wa, %wb, %wc : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
