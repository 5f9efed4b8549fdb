//===- CheckedMath.h - sizes and offsets that report overflow --*- C++ -*-===//
//
// Element counts, byte sizes and offsets come from files, flags and IR that a
// user writes. Products and sums of them go through these helpers, which
// return nothing on overflow instead of wrapping (signed overflow is
// undefined behaviour). Plain C++17: the importer, the verifiers, the
// planner, tensor IO, the runtimes and the runner all include it.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_CHECKEDMATH_H
#define INTERNVL_RUNTIME_CHECKEDMATH_H

#include <cstddef>
#include <cstdint>
#include <optional>

namespace ivl {

/// The largest tensor any tool accepts: 1 TiB (2^40 bytes). No device holds
/// one tensor this large (the largest GPUs have 192 GB), and the sums a plan
/// makes of a step's tensors stay far from int64 overflow.
inline constexpr int64_t kMaxTensorBytes = int64_t(1) << 40;

/// a * b, or nothing on int64 overflow.
/// What an allocation of `bytes` (>= 0) reserves: a multiple of 256 bytes,
/// at least 256, the alignment the memory plan assumes of every buffer.
inline size_t allocationBytes(int64_t bytes) {
  size_t rounded = (static_cast<size_t>(bytes) + 255) & ~size_t(255);
  return rounded ? rounded : 256;
}

inline std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// a + b, or nothing on int64 overflow.
inline std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// The product of `count` dimensions (1 for none), or nothing when one is
/// negative or the product overflows.
inline std::optional<int64_t> checkedProduct(const int64_t *dims,
                                             size_t count) {
  int64_t n = 1;
  for (size_t i = 0; i < count; ++i) {
    if (dims[i] < 0)
      return std::nullopt;
    std::optional<int64_t> next = checkedMul(n, dims[i]);
    if (!next)
      return std::nullopt;
    n = *next;
  }
  return n;
}

/// Bytes of a tensor of `count` dimensions with `elementBytes`-byte elements,
/// or nothing on a negative dimension or overflow.
inline std::optional<int64_t>
checkedTensorBytes(const int64_t *dims, size_t count, int64_t elementBytes) {
  std::optional<int64_t> n = checkedProduct(dims, count);
  return n ? checkedMul(*n, elementBytes) : std::nullopt;
}

/// Whether a tensor of these dimensions is within kMaxTensorBytes. Zero
/// dimensions count as 1 here, so that the strides of an empty tensor are
/// bounded too.
inline bool fitsTensorCeiling(const int64_t *dims, size_t count,
                              int64_t elementBytes) {
  int64_t extent = elementBytes;
  for (size_t i = 0; i < count; ++i) {
    if (dims[i] < 0)
      return false;
    std::optional<int64_t> next = checkedMul(extent, dims[i] ? dims[i] : 1);
    if (!next || *next > kMaxTensorBytes)
      return false;
    extent = *next;
  }
  return extent <= kMaxTensorBytes;
}

/// `bytes` rounded up to a multiple of `alignment` (a power of two), or
/// nothing on overflow.
inline std::optional<int64_t> checkedAlignTo(int64_t bytes, int64_t alignment) {
  std::optional<int64_t> padded = checkedAdd(bytes, alignment - 1);
  if (!padded)
    return std::nullopt;
  return *padded & ~(alignment - 1);
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_CHECKEDMATH_H
