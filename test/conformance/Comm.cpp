//===- Comm.cpp - conformance cases -------------------------------------===//
//
// The collectives at world size 1: the context never calls ivl_comm_init,
// so it is rank 0 of a group of one. Buffers are sized as
// tg::collectiveBufferBytes plans them and start as NaN, so a kernel that
// relies on a zeroed buffer shows. Every collective is waited for with
// ivl_comm_wait before its results are read (they may run asynchronously).
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <cmath>
#include <string>

using namespace conformance;

namespace {

/// Collectives at world size 1 move values unchanged (a mean over one rank,
/// f32 packing of f32/bf16 values, one rounding into an f32 or bf16 result).
constexpr Tolerance kExact{0, 0};

/// A call that must fail with `want` (checked after synchronizing).
/// A planned buffer of `bytes` bytes, NaN-filled.
void *buffer(Case &c, int64_t bytes) {
  return c.output(IVL_F32, {(bytes + 3) / 4}).data;
}

bool waitForLatest(Case &c) {
  return c.call(ivl_comm_wait(c.context(), 0));
}

int64_t totalElements(const std::vector<Tensor> &ts) {
  int64_t n = 0;
  for (const Tensor &t : ts)
    n += t.size();
  return n;
}

/// The tensors flattened and concatenated, padded with zeros to `size`,
/// each value rounded to `dtype`.
std::vector<double> bucketRef(const std::vector<Tensor> &ts, int64_t size,
                              ivl_dtype dtype) {
  std::vector<double> out;
  for (const Tensor &t : ts)
    for (double v : t.values)
      out.push_back(roundTo(dtype, v));
  out.resize(size, 0.0);
  return out;
}

//===--- all_reduce_mean --------------------------------------------------===//

void checkAllReduceMean(Case &c, const std::vector<Tensor> &ts) {
  std::vector<ivl_tensor> d;
  for (const Tensor &t : ts)
    d.push_back(c.device(t));
  int64_t bytes = 4 * totalElements(ts); // collectiveBufferBytes
  if (!c.call(ivl_all_reduce_mean(c.context(), d.data(),
                                  static_cast<int32_t>(d.size()),
                                  buffer(c, bytes), bytes)))
    return;
  if (!waitForLatest(c))
    return;
  // The mean over one rank: every tensor as it was.
  for (size_t k = 0; k < ts.size(); ++k) {
    std::string what = "tensor " + std::to_string(k);
    c.expect(what.c_str(), d[k], ts[k].values, kExact);
  }
}

} // namespace

CONFORMANCE_CASE(all_reduce_mean, mixed_dtypes) {
  checkAllReduceMean(c, {c.random(IVL_F32, {13, 33}), c.random(IVL_BF16, {1000}),
                         c.random(IVL_F32, {1}), c.random(IVL_BF16, {3, 7})});
}

CONFORMANCE_CASE(all_reduce_mean, one_tensor) {
  checkAllReduceMean(c, {c.random(IVL_BF16, {33})});
}

CONFORMANCE_CASE(all_reduce_mean, with_empty_tensor) {
  checkAllReduceMean(c, {c.random(IVL_F32, {5}), c.random(IVL_BF16, {0, 13}),
                         c.random(IVL_F32, {13})});
}

CONFORMANCE_CASE(all_reduce_mean, small_buffer_rejected) {
  Tensor t = c.random(IVL_F32, {13});
  ivl_tensor d = c.device(t);
  c.expectStatus( ivl_all_reduce_mean(c.context(), &d, 1, buffer(c, 51), 51),
               IVL_ERROR_INVALID_ARGUMENT, "a 51-byte buffer for 13 f32");
}

//===--- reduce_scatter_mean ----------------------------------------------===//

namespace {

void checkReduceScatter(Case &c, const std::vector<Tensor> &ts,
                        ivl_dtype shardType, int64_t shardSize) {
  std::vector<ivl_tensor> d;
  for (const Tensor &t : ts)
    d.push_back(c.device(t));
  ivl_tensor shard = c.output(shardType, {shardSize});
  int64_t bytes = 4 * (1 + 1) * shardSize; // collectiveBufferBytes
  if (!c.call(ivl_reduce_scatter_mean(c.context(), d.data(),
                                      static_cast<int32_t>(d.size()),
                                      buffer(c, bytes), bytes, &shard)))
    return;
  if (!waitForLatest(c))
    return;
  c.expect("shard", shard, bucketRef(ts, shardSize, shardType), kExact);
}

} // namespace

CONFORMANCE_CASE(reduce_scatter_mean, exact_bucket) {
  // c = ceil(n / 1) = n: the shard is the whole bucket.
  std::vector<Tensor> ts = {c.random(IVL_F32, {13, 33}),
                            c.random(IVL_BF16, {7})};
  checkReduceScatter(c, ts, IVL_F32, totalElements(ts));
}

CONFORMANCE_CASE(reduce_scatter_mean, padded_bf16_shard) {
  // f32 values rounded into a bf16 shard; the padding reads as zero even
  // though the buffer starts as NaN.
  std::vector<Tensor> ts = {c.random(IVL_F32, {5, 3}), c.random(IVL_F32, {1})};
  checkReduceScatter(c, ts, IVL_BF16, totalElements(ts) + 3);
}

CONFORMANCE_CASE(reduce_scatter_mean, one_element) {
  checkReduceScatter(c, {c.random(IVL_BF16, {1})}, IVL_BF16, 1);
}

CONFORMANCE_CASE(reduce_scatter_mean, small_buffer_rejected) {
  Tensor t = c.random(IVL_F32, {10});
  ivl_tensor d = c.device(t), shard = c.output(IVL_F32, {10});
  int64_t bytes = 4 * 2 * 10 - 1;
  c.expectStatus(
               ivl_reduce_scatter_mean(c.context(), &d, 1, buffer(c, bytes),
                                       bytes, &shard),
               IVL_ERROR_INVALID_ARGUMENT, "a buffer one byte short");
}

CONFORMANCE_CASE(reduce_scatter_mean, bucket_too_large_rejected) {
  // 12 elements do not fit one shard of 10 (the buffer is large enough to
  // hold them, so a kernel without the check stays in bounds).
  Tensor t = c.random(IVL_F32, {12});
  ivl_tensor d = c.device(t), shard = c.output(IVL_F32, {10});
  int64_t bytes = 4 * 2 * 10;
  c.expectStatus(
               ivl_reduce_scatter_mean(c.context(), &d, 1, buffer(c, bytes),
                                       bytes, &shard),
               IVL_ERROR_INVALID_ARGUMENT, "12 elements into a shard of 10");
}

//===--- all_gather -------------------------------------------------------===//

namespace {

/// The shard split in order into outputs of `shapes` (the rest, padding,
/// dropped).
void checkAllGather(Case &c, const Tensor &shardT,
                    const std::vector<Shape> &shapes) {
  ivl_tensor shard = c.device(shardT);
  std::vector<ivl_tensor> outs;
  for (const Shape &s : shapes)
    outs.push_back(c.output(shardT.dtype, s));
  int64_t bytes = shardT.size() * ivl_dtype_size(shardT.dtype); // x 1 rank
  if (!c.call(ivl_all_gather(c.context(), &shard, buffer(c, bytes), bytes,
                             outs.data(), static_cast<int32_t>(outs.size()))))
    return;
  if (!waitForLatest(c))
    return;
  int64_t at = 0;
  for (size_t k = 0; k < shapes.size(); ++k) {
    int64_t n = numel(shapes[k]);
    std::vector<double> want(shardT.values.begin() + at,
                             shardT.values.begin() + at + n);
    at += n;
    std::string what = "output " + std::to_string(k);
    c.expect(what.c_str(), outs[k], want, kExact);
  }
}

} // namespace

CONFORMANCE_CASE(all_gather, bf16_exact) {
  checkAllGather(c, c.random(IVL_BF16, {13 * 33 + 7}), {{13, 33}, {7}});
}

CONFORMANCE_CASE(all_gather, f32_padding_dropped) {
  checkAllGather(c, c.random(IVL_F32, {20}), {{3, 5}, {2}});
}

CONFORMANCE_CASE(all_gather, one_element) {
  checkAllGather(c, c.random(IVL_F32, {1}), {{1}});
}

CONFORMANCE_CASE(all_gather, small_buffer_rejected) {
  Tensor t = c.random(IVL_BF16, {9});
  ivl_tensor shard = c.device(t), out = c.output(IVL_BF16, {9});
  c.expectStatus(
               ivl_all_gather(c.context(), &shard, buffer(c, 17), 17, &out, 1),
               IVL_ERROR_INVALID_ARGUMENT, "a 17-byte buffer for 9 bf16");
}

//===--- comm_wait --------------------------------------------------------===//

CONFORMANCE_CASE(comm_wait, waits_in_order) {
  // Three collectives; waiting for the oldest (2 before the latest) makes
  // its result visible, waiting for the latest all of them.
  Tensor a = c.random(IVL_F32, {13}), b = c.random(IVL_BF16, {33});
  Tensor s = c.random(IVL_F32, {7});
  ivl_tensor da = c.device(a), db = c.device(b), ds = c.device(s);
  ivl_tensor shard = c.output(IVL_BF16, {33}), gathered = c.output(IVL_F32, {7});
  if (!c.call(ivl_all_reduce_mean(c.context(), &da, 1, buffer(c, 52), 52)))
    return;
  if (!c.call(ivl_reduce_scatter_mean(c.context(), &db, 1, buffer(c, 264), 264,
                                      &shard)))
    return;
  if (!c.call(ivl_all_gather(c.context(), &ds, buffer(c, 28), 28, &gathered,
                             1)))
    return;
  if (!c.call(ivl_comm_wait(c.context(), 2)))
    return;
  c.expect("all_reduce_mean after wait(2)", da, a.values, kExact);
  if (!c.call(ivl_comm_wait(c.context(), 0)))
    return;
  c.expect("reduce_scatter_mean after wait(0)", shard, b.values, kExact);
  c.expect("all_gather after wait(0)", gathered, s.values, kExact);
}

CONFORMANCE_CASE(comm_wait, older_than_recorded) {
  // Further back than there were launches (or the CUDA ring holds): waits
  // for the oldest it knows, which is no error.
  Tensor a = c.random(IVL_F32, {5});
  ivl_tensor da = c.device(a);
  if (!c.call(ivl_all_reduce_mean(c.context(), &da, 1, buffer(c, 20), 20)))
    return;
  if (!c.call(ivl_comm_wait(c.context(), 1000)))
    return;
  c.expect("tensor", da, a.values, kExact);
}

CONFORMANCE_CASE(comm_wait, negative_rejected) {
  c.expectStatus( ivl_comm_wait(c.context(), -1), IVL_ERROR_INVALID_ARGUMENT,
               "comm_wait(-1)");
}

//===--- global_norm_across_ranks -----------------------------------------===//

namespace {

void checkNormAcrossRanks(Case &c, const std::vector<Tensor> &grads) {
  std::vector<ivl_tensor> d;
  for (const Tensor &g : grads)
    d.push_back(c.device(g));
  ivl_tensor norm = c.output(IVL_F32, {});
  if (!c.call(ivl_global_norm_across_ranks(
          c.context(), d.data(), static_cast<int32_t>(d.size()), &norm)))
    return;
  double sum = 0;
  for (const Tensor &g : grads)
    for (double v : g.values)
      sum += v * v;
  double want = std::sqrt(sum); // one rank: its own shards' norm
  c.expect("norm", norm, {want}, toleranceFor(IVL_F32, want));
}

} // namespace

CONFORMANCE_CASE(global_norm_across_ranks, mixed_dtypes) {
  checkNormAcrossRanks(c, {c.random(IVL_BF16, {13 * 33 + 7}),
                           c.random(IVL_F32, {1000}), c.random(IVL_F32, {1})});
}

CONFORMANCE_CASE(global_norm_across_ranks, one_shard) {
  checkNormAcrossRanks(c, {c.random(IVL_F32, {13}, -5, 5)});
}

CONFORMANCE_CASE(global_norm_across_ranks, with_empty_shard) {
  checkNormAcrossRanks(c, {c.random(IVL_F32, {0}), c.random(IVL_BF16, {33})});
}
