// RUN: internvl-opt %s --tg-autodiff --tg-data-parallel="world-size=2 zero-stage=0" | FileCheck %s --check-prefix=Z0
// RUN: internvl-opt %s --tg-autodiff --tg-data-parallel="world-size=2 zero-stage=2" | FileCheck %s --check-prefix=Z2
// RUN: internvl-opt %s --tg-autodiff --tg-data-parallel="world-size=2 zero-stage=3" | FileCheck %s --check-prefix=Z3
// RUN: internvl-opt %s --tg-autodiff --tg-data-parallel="world-size=2 reduce-bucket-size=32" | FileCheck %s --check-prefix=SPLIT

// One rank of a two-rank step. The trainable weight (32 elements) and bias
// (4) make one bucket; the frozen weight gets no gradient.

// Stage 0: the gradients are averaged in place, waited for before the norm.
// Z0-LABEL: func.func @train_step
// Z0-SAME: tg.data_parallel = #tg.data_parallel<world_size = 2, zero_stage = 0, reduce_bucket_size = 500000000, allgather_bucket_size = 500000000, buckets = 1>
// Z0: %[[AVG:.*]]:2 = tg.all_reduce_mean %{{.*}}, %{{.*}} {tg.phase = #tg.phase<backward>, tg.scope = "data_parallel.bucket0", world_size = 2 : i64} : (tensor<4x8xf32>, tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
// Z0: %[[READY:.*]]:2 = tg.comm_wait %[[AVG]]#0, %[[AVG]]#1
// Z0: tg.global_norm %[[READY]]#0, %[[READY]]#1 {tg.phase
// Z0: tg.adamw {{.*}}%[[READY]]#0
// Z0-NOT: tg.shard_adamw

// Stage 2: each rank keeps its 18-element shard of the 36-element bucket
// (padded to 2 x 18), updates it, and gathers the parameters back in place.
// Z2-LABEL: func.func @train_step
// Z2-SAME: zero_stage = 2
// Z2: %[[SHARD:.*]] = tg.reduce_scatter_mean %{{.*}}, %{{.*}} {{.*}}world_size = 2 : i64} : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<18xf32>
// Z2: %[[S:.*]] = tg.comm_wait %[[SHARD]]
// Z2: tg.global_norm %[[S]] {across_ranks
// Z2: %{{.*}}, %{{.*}}, %{{.*}}, %[[NEW:.*]] = tg.shard_adamw {{.*}}, %[[S]], {{.*}}segments = array<i64: 32, 4>
// Z2: tg.all_gather %[[NEW]] into %arg1, %arg2 {{.*}}: (tensor<18xf32>, tensor<4x8xf32>, tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
// Z2-NOT: tg.adamw

// Stage 3: parameters live as shards (frozen ones in their own bucket) and
// are gathered for forward and again for backward.
// Z3-LABEL: func.func @train_step
// Z3-SAME: frozen_buckets = 1
// Z3-SAME: tg.zero_buckets = {{\[}}["fc.weight", "fc.bias"], ["frozen.weight"]]
// Z3: tg.all_gather %{{.*}} {tg.scope = "zero.bucket1", world_size = 2 : i64} : (tensor<16xf32>) -> tensor<4x8xf32>
// Z3: tg.all_gather %[[P:.*]] {tg.scope = "zero.bucket0", world_size = 2 : i64} : (tensor<18xf32>) -> (tensor<4x8xf32>, tensor<4xf32>)
// Z3: tg.all_gather %[[P]] {tg.phase = #tg.phase<backward>, tg.scope = "zero.bucket0"
// Z3: tg.shard_adamw {{.*}} into %[[P]]

// A bucket holds at most reduce-bucket-size elements (but at least one
// tensor): the weight and the bias go in two buckets, in the order their
// gradients are ready.
// SPLIT: buckets = 2
// SPLIT: tg.all_reduce_mean {{.*}}"data_parallel.bucket0"{{.*}} : (tensor<4x8xf32>) -> tensor<4x8xf32>
// SPLIT: tg.all_reduce_mean {{.*}}"data_parallel.bucket1"{{.*}} : (tensor<4xf32>) -> tensor<4xf32>
module {
  func.func @forward(%x: tensor<2x8xf32> {tg.name = "x", tg.kind = "input"},
                     %w: tensor<4x8xf32> {tg.name = "fc.weight", tg.kind = "param", tg.trainable},
                     %b: tensor<4xf32> {tg.name = "fc.bias", tg.kind = "param", tg.trainable},
                     %frozen: tensor<4x8xf32> {tg.name = "frozen.weight", tg.kind = "param"},
                     %labels: tensor<2xi64> {tg.name = "labels", tg.kind = "input"}) -> (tensor<f32> {tg.name = "loss", tg.kind = "loss"}) {
    %f = tg.linear %x, %frozen {tg.scope = "frozen"} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %h = tg.linear %x, %w, %b {tg.scope = "fc"} : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %a = tg.gelu %h {tg.scope = "act"} : tensor<2x4xf32>
    %s = tg.add %a, %f {tg.scope = "sum"} : tensor<2x4xf32>, tensor<2x4xf32> -> tensor<2x4xf32>
    %loss, %lse = tg.cross_entropy %s, %labels {tg.scope = "loss"} : (tensor<2x4xf32>, tensor<2xi64>) -> (tensor<f32>, tensor<2xf32>)
    return %loss : tensor<f32>
  }
}


