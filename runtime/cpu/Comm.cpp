//===- Comm.cpp - data-parallel collectives of the CPU runtime ------------===//
//
// Buckets are packed into the op's buffer as f32, summed over the ranks,
// divided by the world size and unpacked with the usual rounding; gathers
// move raw bytes. A group of one rank needs no library; a larger one takes
// MPI's collectives from MpiComm.cpp, linked into steps compiled for it.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"

#include <cmath>
#include <cstring>

using namespace ivl;
using namespace ivl::cpu;

/// Defined by MpiComm.cpp when a step links the MPI collectives: joins
/// MPI_COMM_WORLD and fills in `comm`.
extern "C" __attribute__((weak)) ivl_status
ivl_cpu_mpi_comm(ivl_context *ctx, int32_t rank, int32_t size, Comm *comm);

namespace {

int64_t totalElements(const ivl_tensor *tensors, int32_t count) {
  int64_t n = 0;
  for (int32_t k = 0; k < count; ++k)
    n += numel(tensors[k]);
  return n;
}

ivl_status needBuffer(ivl_context *ctx, const char *kernel, int64_t have,
                      int64_t need) {
  if (have >= need)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: the communication buffer holds %lld bytes, the bucket needs "
              "%lld",
              kernel, static_cast<long long>(have),
              static_cast<long long>(need));
}

/// The tensors, flattened and concatenated as f32 into `out`.
void pack(const ivl_tensor *tensors, int32_t count, float *out) {
  for (int32_t k = 0; k < count; ++k) {
    std::vector<float> values = toFloat(tensors[k]);
    if (!values.empty())
      std::memcpy(out, values.data(), values.size() * sizeof(float));
    out += values.size();
  }
}

} // namespace

extern "C" {

ivl_status ivl_comm_init(ivl_context *ctx, int32_t rank, int32_t size,
                         const void *, int64_t) {
  if (size < 1 || rank < 0 || rank >= size)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: rank %d of a group of %d", rank, size);
  if (size == 1) {
    ctx->comm = Comm();
    return IVL_OK;
  }
  if (!ivl_cpu_mpi_comm)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: a group of %d ranks needs MPI, and this step was "
                "built without it (compile it for more than one rank)",
                size);
  return ivl_cpu_mpi_comm(ctx, rank, size, &ctx->comm);
}

ivl_status ivl_comm_unique_id(ivl_context *, void *, int64_t, int64_t *bytes) {
  *bytes = 0; // MPI needs no rendezvous bytes.
  return IVL_OK;
}

int32_t ivl_comm_rank(const ivl_context *ctx) { return ctx->comm.rank; }

int32_t ivl_comm_size(const ivl_context *ctx) { return ctx->comm.size; }

} // extern "C"

namespace ivl::cpu {

ivl_status all_reduce_mean(ivl_context *ctx, ivl_tensor *tensors,
                               int32_t count, void *buffer,
                               int64_t bufferBytes) {
  int64_t n = totalElements(tensors, count);
  if (ivl_status s = needBuffer(ctx, "all_reduce_mean", bufferBytes, 4 * n))
    return s;
  auto *values = static_cast<float *>(buffer);
  pack(tensors, count, values);
  if (ctx->comm.size > 1)
    if (ivl_status s = ctx->comm.allReduceSum(ctx, values, n))
      return s;
  float scale = 1.0f / static_cast<float>(ctx->comm.size);
  for (int32_t k = 0; k < count; ++k) {
    int64_t m = numel(tensors[k]);
    if (ctx->comm.size > 1)
      for (int64_t i = 0; i < m; ++i)
        values[i] *= scale;
    fromFloat(tensors[k], values);
    values += m;
  }
  return IVL_OK;
}

ivl_status reduce_scatter_mean(ivl_context *ctx, const ivl_tensor *inputs,
                                   int32_t count, void *buffer,
                                   int64_t bufferBytes, ivl_tensor *shard) {
  int64_t c = numel(*shard), size = ctx->comm.size;
  if (ivl_status s = needBuffer(ctx, "reduce_scatter_mean", bufferBytes,
                                4 * (size + 1) * c))
    return s;
  auto *bucket = static_cast<float *>(buffer);
  float *mine = bucket + size * c;
  std::memset(bucket, 0, 4 * size * c);
  pack(inputs, count, bucket);
  if (size > 1) {
    if (ivl_status s = ctx->comm.reduceScatterSum(ctx, bucket, mine, c))
      return s;
    float scale = 1.0f / static_cast<float>(size);
    for (int64_t i = 0; i < c; ++i)
      mine[i] *= scale;
  } else {
    std::memcpy(mine, bucket, 4 * c);
  }
  fromFloat(*shard, mine);
  return IVL_OK;
}

ivl_status all_gather(ivl_context *ctx, const ivl_tensor *shard,
                          void *buffer, int64_t bufferBytes,
                          ivl_tensor *outputs, int32_t count) {
  int64_t size = ctx->comm.size;
  int64_t shardBytes = numel(*shard) * ivl_dtype_size(shard->dtype);
  if (ivl_status s =
          needBuffer(ctx, "all_gather", bufferBytes, size * shardBytes))
    return s;
  char *all = static_cast<char *>(buffer);
  if (size > 1) {
    if (ivl_status s = ctx->comm.allGather(ctx, shard->data, all, shardBytes))
      return s;
  } else {
    std::memcpy(all, shard->data, shardBytes);
  }
  for (int32_t k = 0; k < count; ++k) {
    if (outputs[k].dtype != shard->dtype)
      return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                  "all_gather: output %s is not of the shard's type %s",
                  describe(outputs[k]).c_str(), describe(*shard).c_str());
    int64_t bytes = numel(outputs[k]) * ivl_dtype_size(outputs[k].dtype);
    std::memcpy(outputs[k].data, all, bytes);
    all += bytes;
  }
  return IVL_OK;
}

// The CPU collectives are done when they return.
ivl_status comm_wait(ivl_context *, int32_t) { return IVL_OK; }

ivl_status global_norm_across_ranks(ivl_context *ctx,
                                        const ivl_tensor *grads, int32_t count,
                                        ivl_tensor *norm) {
  double sum = sumOfSquares(grads, count);
  if (ctx->comm.size > 1)
    if (ivl_status s = ctx->comm.allReduceSumF64(ctx, &sum, 1))
      return s;
  float result = static_cast<float>(std::sqrt(sum));
  fromFloat(*norm, &result);
  return IVL_OK;
}

} // namespace ivl::cpu
