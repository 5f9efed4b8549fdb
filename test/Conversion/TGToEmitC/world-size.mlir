// RUN: internvl-opt %s --tg-plan-memory --convert-tg-to-emitc --verify-diagnostics

// A hand-edited collective for another world size than the step's is refused.
func.func @train_step(%x: tensor<4xf32> {tg.kind = "input", tg.name = "x"}) -> tensor<4xf32>
    attributes {tg.data_parallel = #tg.data_parallel<world_size = 2, zero_stage = 0, reduce_bucket_size = 500000000, allgather_bucket_size = 500000000, buckets = 1>} {
  // expected-error @+1 {{'tg.all_reduce_mean' op has world_size 4 but @train_step is data parallel over 2 ranks}}
  %r = tg.all_reduce_mean %x {world_size = 4 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %w = tg.comm_wait %r : (tensor<4xf32>) -> tensor<4xf32>
  return %w : tensor<4xf32>
}
