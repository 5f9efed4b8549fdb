//===- Tensor.h - internal helpers of the CPU runtime -----------*- C++ -*-===//
//
// Kernels convert whole operands to f32 vectors, compute, and round the
// results back on store; this keeps every kernel's arithmetic in one place
// and in one precision.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_CPU_TENSOR_H
#define INTERNVL_RUNTIME_CPU_TENSOR_H

#include "internvl/runtime/Numeric.h"
#include "internvl/runtime/Runtime.h"

#include "Backend.h"

#include <cstdarg>
#include <string>
#include <unordered_map>
#include <vector>

namespace ivl::cpu {
/// The data-parallel group: one rank by default; MpiComm.cpp fills in MPI's
/// collectives for a larger group.
struct Comm {
  int32_t rank = 0, size = 1;
  /// Sums `n` values over the ranks, in place.
  ivl_status (*allReduceSum)(ivl_context *, float *, int64_t n) = nullptr;
  ivl_status (*allReduceSumF64)(ivl_context *, double *, int64_t n) = nullptr;
  /// Sums `size * chunk` values over the ranks; this rank gets its chunk.
  ivl_status (*reduceScatterSum)(ivl_context *, const float *in, float *out,
                                 int64_t chunk) = nullptr;
  /// Concatenates every rank's `bytes` bytes in rank order.
  ivl_status (*allGather)(ivl_context *, const void *in, void *out,
                          int64_t bytes) = nullptr;
};
} // namespace ivl::cpu

struct ivl_context {
  std::string error;
  ivl::cpu::Comm comm;
  /// ivl_device_alloc's live allocations and their sizes.
  std::unordered_map<void *, int64_t> allocations;
  int64_t bytesInUse = 0;
  int64_t peakBytes = 0;
  /// ivl_set_host_buffer's: where a compiled step's offloaded activations
  /// live, apart from the "device" allocations above.
  void *hostBuffer = nullptr;
  int64_t hostBufferBytes = 0;
};

namespace ivl::cpu {

/// Records a printf-style message and returns `status`.
ivl_status fail(ivl_context *ctx, ivl_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

int64_t numel(const ivl_tensor &t);
std::string describe(const ivl_tensor &t);

bool isFloat(ivl_dtype dtype);

/// Reads element i as f32 (i64 and i1 convert exactly where they can).
float load(const ivl_tensor &t, int64_t i);
void store(ivl_tensor &t, int64_t i, float v);

/// The whole tensor as f32.
std::vector<float> toFloat(const ivl_tensor &t);
/// Rounds `values` into `t` (numel(t) entries).
void fromFloat(ivl_tensor &t, const float *values);

inline const int64_t *ids(const ivl_tensor &t) {
  return static_cast<const int64_t *>(t.data);
}

/// The sum of squares of every element of the tensors, in f64 in order.
double sumOfSquares(const ivl_tensor *tensors, int32_t count);

/// Row-major strides of a shape.
std::vector<int64_t> strides(const ivl_tensor &t);

/// Checks that the tensor has exactly `expected` elements, else fails with a
/// message naming `what`.
ivl_status expectNumel(ivl_context *ctx, const char *kernel, const char *what,
                       const ivl_tensor &t, int64_t expected);

} // namespace ivl::cpu

#endif // INTERNVL_RUNTIME_CPU_TENSOR_H
