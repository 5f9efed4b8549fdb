//===- Offload.cu - host offload on a copy stream -------------------------===//
//
// tg.offload and tg.prefetch copy between the arena and the step's pinned
// host buffer on the context's copy stream, after what the compute stream
// has queued at their launch, so that they overlap the kernels that follow;
// ivl_copy_wait makes the compute stream wait for one copy (an event per
// copy, from a ring), not for those launched after it. The memory plan
// keeps a copy's source and destination alive until that wait.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

#include <algorithm>
#include <cstring>

using namespace ivl::cuda;

namespace {

ivl_status ensureCopyStream(ivl_context *ctx) {
  if (ctx->copyStream)
    return IVL_OK;
  if (ivl_status s = check(ctx,
                           cudaStreamCreateWithFlags(&ctx->copyStream,
                                                     cudaStreamNonBlocking),
                           "copy stream"))
    return s;
  if (ivl_status s = check(ctx,
                           cudaEventCreateWithFlags(&ctx->copyReady,
                                                    cudaEventDisableTiming),
                           "copy stream"))
    return s;
  for (cudaEvent_t &done : ctx->copyDone)
    if (ivl_status s = check(
            ctx, cudaEventCreateWithFlags(&done, cudaEventDisableTiming),
            "copy stream"))
      return s;
  return IVL_OK;
}

ivl_status launchCopy(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out,
                      cudaMemcpyKind kind, const char *what) {
  if (ivl_status s = ensureCopyStream(ctx))
    return s;
  int64_t bytes = ivl_numel(in) * ivl_dtype_size(in->dtype);
  if (ivl_status s = check(ctx, cudaEventRecord(ctx->copyReady, ctx->stream),
                           what))
    return s;
  if (ivl_status s = check(
          ctx, cudaStreamWaitEvent(ctx->copyStream, ctx->copyReady, 0), what))
    return s;
  if (bytes > 0)
    if (ivl_status s = check(ctx,
                             cudaMemcpyAsync(out->data, in->data, bytes, kind,
                                             ctx->copyStream),
                             what))
      return s;
  cudaEvent_t done =
      ctx->copyDone[ctx->copyLaunches % ivl_context::kCopyEvents];
  if (ivl_status s = check(ctx, cudaEventRecord(done, ctx->copyStream), what))
    return s;
  ++ctx->copyLaunches;
  return IVL_OK;
}

} // namespace

namespace ivl::cuda {

ivl_status offload(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out) {
  return launchCopy(ctx, in, out, cudaMemcpyDeviceToHost, "offload");
}

ivl_status prefetch(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out) {
  return launchCopy(ctx, in, out, cudaMemcpyHostToDevice, "prefetch");
}

ivl_status copy_wait(ivl_context *ctx, int32_t newer) {
  if (ctx->copyLaunches == 0)
    return IVL_OK;
  // The copy stream is in order: waiting for a later copy than the one
  // named (the oldest the ring still holds) also waits for it.
  int64_t back = std::min<int64_t>(
      {newer, ivl_context::kCopyEvents - 1, ctx->copyLaunches - 1});
  int64_t launch = ctx->copyLaunches - 1 - back;
  cudaEvent_t done = ctx->copyDone[launch % ivl_context::kCopyEvents];
  return check(ctx, cudaStreamWaitEvent(ctx->stream, done, 0), "copy_wait");
}

} // namespace ivl::cuda

extern "C" {

void *ivl_host_alloc(ivl_context *ctx, int64_t bytes) {
  if (bytes < 0) {
    fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "host_alloc: %lld bytes",
         static_cast<long long>(bytes));
    return nullptr;
  }
  size_t rounded = (static_cast<size_t>(bytes) + 255) & ~size_t(255);
  if (!rounded)
    rounded = 256;
  void *ptr = nullptr;
  // Page-locked, so that cudaMemcpyAsync runs on the copy engine without a
  // staging copy, and asynchronously to the host.
  if (check(ctx, cudaHostAlloc(&ptr, rounded, cudaHostAllocDefault),
            "host_alloc") != IVL_OK)
    return nullptr;
  std::memset(ptr, 0, rounded);
  return ptr;
}

void ivl_host_free(ivl_context *, void *ptr) {
  if (ptr)
    cudaFreeHost(ptr);
}

ivl_status ivl_set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes) {
  if (bytes < 0 || (!ptr && bytes > 0))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "set_host_buffer: %lld bytes at %p",
                static_cast<long long>(bytes), ptr);
  ctx->hostBuffer = ptr;
  ctx->hostBufferBytes = bytes;
  return IVL_OK;
}

void *ivl_host_buffer(ivl_context *ctx, int64_t *bytes) {
  if (bytes)
    *bytes = ctx->hostBufferBytes;
  return ctx->hostBuffer;
}

} // extern "C"
