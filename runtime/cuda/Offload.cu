//===- Offload.cu - host offload on a copy stream -------------------------===//
//
// tg.offload and tg.prefetch copy between the arena and the step's pinned
// host buffer on the context's copy stream (a SideStream, Common.cuh), after
// what the compute stream has queued at their launch, so that they overlap
// the kernels that follow; ivl_copy_wait makes the compute stream wait for
// one copy, not for those launched after it. The memory plan
// keeps a copy's source and destination alive until that wait.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"
#include "internvl/runtime/CheckedMath.h"

#include <cstring>

using namespace ivl::cuda;

namespace {

ivl_status launchCopy(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out,
                      cudaMemcpyKind kind, const char *what) {
  if (ivl_status s = createSideStream(ctx, ctx->copy, what))
    return s;
  if (ivl_status s = beginOnSide(ctx, ctx->copy, what))
    return s;
  int64_t bytes = ivl_numel(in) * ivl_dtype_size(in->dtype);
  if (bytes > 0)
    if (ivl_status s = check(ctx,
                             cudaMemcpyAsync(out->data, in->data, bytes, kind,
                                             ctx->copy.stream),
                             what))
      return s;
  return endOnSide(ctx, ctx->copy, what);
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
  return waitOnSide(ctx, ctx->copy, newer, "copy_wait");
}

ivl_status set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes) {
  ctx->hostBuffer = ptr;
  ctx->hostBufferBytes = bytes;
  return IVL_OK;
}

} // namespace ivl::cuda

extern "C" {

void *ivl_host_alloc(ivl_context *ctx, int64_t bytes) {
  if (bytes < 0) {
    fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "host_alloc: %lld bytes",
         static_cast<long long>(bytes));
    return nullptr;
  }
  size_t rounded = ivl::allocationBytes(bytes);
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

void *ivl_host_buffer(ivl_context *ctx, int64_t *bytes) {
  if (bytes)
    *bytes = ctx->hostBufferBytes;
  return ctx->hostBuffer;
}

} // extern "C"
