//===- Offload.cpp - host offload on the CPU runtime ----------------------===//
//
// The CPU twin of the CUDA runtime's offload: host memory is a separate
// allocation from the "device" memory ivl_device_alloc hands out, and a copy
// is done when it returns, so ivl_copy_wait has nothing to wait for.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"
#include "internvl/runtime/CheckedMath.h"

#include <cstdlib>
#include <cstring>

namespace ivl::cpu {

namespace {
ivl_status copy(const ivl_tensor *in, ivl_tensor *out) {
  int64_t bytes = numel(*in) * ivl_dtype_size(in->dtype);
  if (bytes > 0)
    std::memcpy(out->data, in->data, static_cast<size_t>(bytes));
  return IVL_OK;
}
} // namespace

ivl_status offload(ivl_context *, const ivl_tensor *in, ivl_tensor *out) {
  return copy(in, out);
}

ivl_status prefetch(ivl_context *, const ivl_tensor *in, ivl_tensor *out) {
  return copy(in, out);
}

ivl_status copy_wait(ivl_context *, int32_t) { return IVL_OK; }

ivl_status set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes) {
  ctx->hostBuffer = ptr;
  ctx->hostBufferBytes = bytes;
  return IVL_OK;
}

} // namespace ivl::cpu

extern "C" {

void *ivl_host_alloc(ivl_context *ctx, int64_t bytes) {
  if (bytes < 0) {
    ivl::cpu::fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "host_alloc: %lld bytes",
                   static_cast<long long>(bytes));
    return nullptr;
  }
  size_t rounded = ivl::allocationBytes(bytes);
  void *ptr = std::aligned_alloc(256, rounded);
  if (!ptr) {
    ivl::cpu::fail(ctx, IVL_ERROR_RUNTIME,
                   "host_alloc: out of host memory for %lld bytes",
                   static_cast<long long>(bytes));
    return nullptr;
  }
  std::memset(ptr, 0, rounded);
  return ptr;
}

void ivl_host_free(ivl_context *, void *ptr) { std::free(ptr); }

void *ivl_host_buffer(ivl_context *ctx, int64_t *bytes) {
  if (bytes)
    *bytes = ctx->hostBufferBytes;
  return ctx->hostBuffer;
}

} // extern "C"
