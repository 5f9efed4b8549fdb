//===- Comm.cu - data-parallel collectives on NCCL ------------------------===//
//
// Buckets are packed as f32 into the op's planned buffer, reduced with NCCL
// on the context's communication stream (after the compute stream has
// produced them), divided by the world size and unpacked with the usual
// rounding, all on that stream (a SideStream, Common.cuh); ivl_comm_wait
// makes the compute stream wait for the end of one collective, not for
// those launched after it. Gathers move raw bytes.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

#include <algorithm>
#include <vector>

using namespace ivl;
using namespace ivl::cuda;

namespace {

ivl_status checkNccl(ivl_context *ctx, ncclResult_t r, const char *what) {
  if (r == ncclSuccess)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_RUNTIME, "%s: NCCL error: %s", what,
              ncclGetErrorString(r));
}

/// The communicator and stream, created on first use for a group of one
/// (a data-parallel step on one GPU still runs its collectives).
ivl_status ensureComm(ivl_context *ctx, const ncclUniqueId *given) {
  if (ctx->nccl)
    return IVL_OK;
  if (ivl_status s = createSideStream(ctx, ctx->comm, "comm_init"))
    return s;
  ncclUniqueId id;
  if (given)
    id = *given;
  else if (ivl_status s =
               checkNccl(ctx, ncclGetUniqueId(&id), "comm_init (unique id)"))
    return s;
  return checkNccl(ctx, ncclCommInitRank(&ctx->nccl, ctx->size, id, ctx->rank),
                   "comm_init");
}

/// The comm stream starts after what the compute stream has queued.
ivl_status beginCollective(ivl_context *ctx, const char *what) {
  if (ivl_status s = ensureComm(ctx, nullptr))
    return s;
  return beginOnSide(ctx, ctx->comm, what);
}

ivl_status endCollective(ivl_context *ctx, const char *what) {
  if (ivl_status s = launched(ctx, what))
    return s;
  return endOnSide(ctx, ctx->comm, what);
}

__global__ void packKernel(const void *in, ivl_dtype t, float *out,
                           int64_t n) {
  GRID_STRIDE(i, n) { out[i] = load(in, t, i); }
}

__global__ void unpackKernel(const float *in, float scale, void *out,
                             ivl_dtype t, int64_t n) {
  GRID_STRIDE(i, n) { store(out, t, i, in[i] * scale); }
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

/// Packs the tensors into `out` (f32), on the comm stream; returns the
/// element count.
int64_t pack(ivl_context *ctx, const ivl_tensor *tensors, int32_t count,
             float *out) {
  int64_t offset = 0;
  for (int32_t k = 0; k < count; ++k) {
    int64_t n = numel(tensors[k]);
    if (n)
      packKernel<<<gridFor(n), kBlock, 0, ctx->comm.stream>>>(
          tensors[k].data, tensors[k].dtype, out + offset, n);
    offset += n;
  }
  return offset;
}

} // namespace

ivl_status ivl::cuda::allReduceSumOnCompute(ivl_context *ctx, double *values,
                                            int64_t n, const char *what) {
  if (ivl_status s = ensureComm(ctx, nullptr))
    return s;
  // NCCL runs one communicator's operations in issue order on the GPU only
  // within a stream: this one waits for every collective launched before.
  if (ivl_status s = ivl_comm_wait(ctx, 0))
    return s;
  return checkNccl(ctx,
                   ncclAllReduce(values, values, n, ncclDouble, ncclSum,
                                 ctx->nccl, ctx->stream),
                   what);
}

extern "C" {

ivl_status ivl_comm_init(ivl_context *ctx, int32_t rank, int32_t size,
                         const void *uniqueId, int64_t idBytes) {
  if (size < 1 || rank < 0 || rank >= size)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: rank %d of a group of %d", rank, size);
  if (idBytes && idBytes != static_cast<int64_t>(sizeof(ncclUniqueId)))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: an NCCL unique id has %zu bytes, got %lld",
                sizeof(ncclUniqueId), static_cast<long long>(idBytes));
  ctx->rank = rank;
  ctx->size = size;
  if (size == 1)
    return IVL_OK; // the communicator comes with the first collective
  if (!uniqueId && !std::getenv("NCCL_COMM_ID"))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: %d ranks need NCCL's rendezvous: pass rank 0's "
                "unique id or set NCCL_COMM_ID=<host>:<port>",
                size);
  return ensureComm(ctx, static_cast<const ncclUniqueId *>(uniqueId));
}

ivl_status ivl_comm_unique_id(ivl_context *ctx, void *id, int64_t capacity,
                              int64_t *bytes) {
  if (capacity < static_cast<int64_t>(sizeof(ncclUniqueId)))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_unique_id: %zu bytes needed", sizeof(ncclUniqueId));
  *bytes = sizeof(ncclUniqueId);
  return checkNccl(ctx, ncclGetUniqueId(static_cast<ncclUniqueId *>(id)),
                   "comm_unique_id");
}

int32_t ivl_comm_rank(const ivl_context *ctx) { return ctx->rank; }

int32_t ivl_comm_size(const ivl_context *ctx) { return ctx->size; }

} // extern "C"

namespace ivl::cuda {

ivl_status all_reduce_mean(ivl_context *ctx, ivl_tensor *tensors,
                               int32_t count, void *buffer,
                               int64_t bufferBytes) {
  int64_t n = 0;
  for (int32_t k = 0; k < count; ++k)
    n += numel(tensors[k]);
  if (ivl_status s = needBuffer(ctx, "all_reduce_mean", bufferBytes, 4 * n))
    return s;
  if (ivl_status s = beginCollective(ctx, "all_reduce_mean"))
    return s;
  auto *values = static_cast<float *>(buffer);
  pack(ctx, tensors, count, values);
  if (ivl_status s = checkNccl(ctx,
                               ncclAllReduce(values, values, n, ncclFloat,
                                             ncclSum, ctx->nccl,
                                             ctx->comm.stream),
                               "all_reduce_mean"))
    return s;
  float scale = 1.0f / static_cast<float>(ctx->size);
  int64_t offset = 0;
  for (int32_t k = 0; k < count; ++k) {
    int64_t m = numel(tensors[k]);
    if (m)
      unpackKernel<<<gridFor(m), kBlock, 0, ctx->comm.stream>>>(
          values + offset, scale, tensors[k].data, tensors[k].dtype, m);
    offset += m;
  }
  return endCollective(ctx, "all_reduce_mean");
}

ivl_status reduce_scatter_mean(ivl_context *ctx, const ivl_tensor *inputs,
                                   int32_t count, void *buffer,
                                   int64_t bufferBytes, ivl_tensor *shard) {
  int64_t c = numel(*shard), size = ctx->size;
  if (ivl_status s = needBuffer(ctx, "reduce_scatter_mean", bufferBytes,
                                4 * (size + 1) * c))
    return s;
  if (ivl_status s = beginCollective(ctx, "reduce_scatter_mean"))
    return s;
  auto *bucket = static_cast<float *>(buffer);
  float *mine = bucket + size * c;
  if (ivl_status s = check(ctx,
                           cudaMemsetAsync(bucket, 0, 4 * size * c,
                                           ctx->comm.stream),
                           "reduce_scatter_mean"))
    return s;
  pack(ctx, inputs, count, bucket);
  if (ivl_status s = checkNccl(ctx,
                               ncclReduceScatter(bucket, mine, c, ncclFloat,
                                                 ncclSum, ctx->nccl,
                                                 ctx->comm.stream),
                               "reduce_scatter_mean"))
    return s;
  if (c)
    unpackKernel<<<gridFor(c), kBlock, 0, ctx->comm.stream>>>(
        mine, 1.0f / static_cast<float>(size), shard->data, shard->dtype, c);
  return endCollective(ctx, "reduce_scatter_mean");
}

ivl_status all_gather(ivl_context *ctx, const ivl_tensor *shard,
                          void *buffer, int64_t bufferBytes,
                          ivl_tensor *outputs, int32_t count) {
  int64_t shardBytes = numel(*shard) * ivl_dtype_size(shard->dtype);
  if (ivl_status s =
          needBuffer(ctx, "all_gather", bufferBytes, ctx->size * shardBytes))
    return s;
  if (ivl_status s = beginCollective(ctx, "all_gather"))
    return s;
  char *all = static_cast<char *>(buffer);
  if (ivl_status s = checkNccl(ctx,
                               ncclAllGather(shard->data, all, shardBytes,
                                             ncclUint8, ctx->nccl,
                                             ctx->comm.stream),
                               "all_gather"))
    return s;
  for (int32_t k = 0; k < count; ++k) {
    int64_t bytes = numel(outputs[k]) * ivl_dtype_size(outputs[k].dtype);
    if (ivl_status s = check(ctx,
                             cudaMemcpyAsync(outputs[k].data, all, bytes,
                                             cudaMemcpyDeviceToDevice,
                                             ctx->comm.stream),
                             "all_gather"))
      return s;
    all += bytes;
  }
  return endCollective(ctx, "all_gather");
}

ivl_status comm_wait(ivl_context *ctx, int32_t newer) {
  return waitOnSide(ctx, ctx->comm, newer, "comm_wait");
}

} // namespace ivl::cuda
