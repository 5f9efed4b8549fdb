//===- Device.cpp - memory of the CPU runtime (host memory) -----------------===//

#include "Tensor.h"
#include "internvl/runtime/CheckedMath.h"
#include "internvl/runtime/HostMemory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using ivl::cpu::fail;

extern "C" {

ivl_status ivl_select_device(int32_t) { return IVL_OK; }

void *ivl_device_alloc(ivl_context *ctx, int64_t bytes) {
  if (bytes < 0) {
    fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "device_alloc: %lld bytes",
         static_cast<long long>(bytes));
    return nullptr;
  }
  // 256-byte alignment, as the memory plan assumes.
  size_t rounded = ivl::allocationBytes(bytes);
  void *ptr = std::aligned_alloc(256, rounded);
  if (!ptr) {
    fail(ctx, IVL_ERROR_RUNTIME, "device_alloc: out of host memory for %lld bytes",
         static_cast<long long>(bytes));
    return nullptr;
  }
  std::memset(ptr, 0, rounded);
  ctx->allocations[ptr] = static_cast<int64_t>(rounded);
  ctx->bytesInUse += static_cast<int64_t>(rounded);
  ctx->peakBytes = std::max(ctx->peakBytes, ctx->bytesInUse);
  return ptr;
}

void ivl_device_free(ivl_context *ctx, void *ptr) {
  auto it = ctx->allocations.find(ptr);
  if (it != ctx->allocations.end()) {
    ctx->bytesInUse -= it->second;
    ctx->allocations.erase(it);
  }
  std::free(ptr);
}

void ivl_device_memory(ivl_context *ctx, int64_t *inUse, int64_t *peak) {
  *inUse = ctx->bytesInUse;
  *peak = ctx->peakBytes;
}

ivl_status ivl_copy_to_device(ivl_context *, void *dst, const void *src,
                              int64_t bytes) {
  std::memmove(dst, src, bytes);
  return IVL_OK;
}

ivl_status ivl_copy_to_host(ivl_context *, void *dst, const void *src,
                            int64_t bytes) {
  std::memmove(dst, src, bytes);
  return IVL_OK;
}

ivl_status ivl_synchronize(ivl_context *) { return IVL_OK; }

// The CPU kernels need no workspace or scratch.
ivl_status ivl_set_workspace(ivl_context *, void *, int64_t) { return IVL_OK; }
ivl_status ivl_set_scratch(ivl_context *, void *, int64_t) { return IVL_OK; }

int64_t ivl_device_capacity(ivl_context *) { return ivl::hostMemoryBytes(); }

const char *ivl_device_name(ivl_context *) { return "cpu"; }

} // extern "C"
