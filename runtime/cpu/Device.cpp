//===- Device.cpp - memory of the CPU runtime (host memory) -----------------===//

#include "Tensor.h"

#include <cstdlib>
#include <cstring>

extern "C" {

void *ivl_device_alloc(ivl_context *, int64_t bytes) {
  // 256-byte alignment, as the memory plan assumes.
  size_t rounded = (static_cast<size_t>(bytes) + 255) & ~size_t(255);
  void *ptr = std::aligned_alloc(256, rounded ? rounded : 256);
  if (ptr)
    std::memset(ptr, 0, rounded);
  return ptr;
}

void ivl_device_free(ivl_context *, void *ptr) { std::free(ptr); }

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

const char *ivl_device_name(ivl_context *) { return "cpu"; }

} // extern "C"
