//===- Shape.h - static shape arithmetic ----------------------*- C++ -*-===//
//
// Shape helpers shared by the verifiers, the importer and the runtimes. They
// work on plain integer vectors so they can be tested without any IR.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_SHAPE_H
#define INTERNVL_SUPPORT_SHAPE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <string>

namespace internvl {

/// Product of the dimensions (1 for a scalar) of a shape already known to be
/// within the tensor ceiling (a verified tg type); asserts otherwise.
int64_t numElements(llvm::ArrayRef<int64_t> shape);

/// Product of the dimensions, or nothing on a negative dimension or overflow.
std::optional<int64_t> checkedNumElements(llvm::ArrayRef<int64_t> shape);

/// Whether a tensor of `shape` with `elementBytes`-byte elements is within
/// ivl::kMaxTensorBytes (1 TiB), the ceiling of every tool.
bool fitsTensorCeiling(llvm::ArrayRef<int64_t> shape, int64_t elementBytes);

/// The numpy broadcast of two shapes (aligned on the right, size-1 dimensions
/// stretch), or std::nullopt when they are incompatible.
std::optional<llvm::SmallVector<int64_t>>
broadcastShapes(llvm::ArrayRef<int64_t> lhs, llvm::ArrayRef<int64_t> rhs);

/// Whether `from` broadcasts to exactly `to`.
bool isBroadcastableTo(llvm::ArrayRef<int64_t> from,
                       llvm::ArrayRef<int64_t> to);

/// The dimensions of `to` that a broadcast from `from` stretches or adds, in
/// increasing order: summing a gradient over them undoes the broadcast.
llvm::SmallVector<int64_t> broadcastedDims(llvm::ArrayRef<int64_t> from,
                                           llvm::ArrayRef<int64_t> to);

/// Whether `perm` is a permutation of 0..rank-1.
bool isPermutation(llvm::ArrayRef<int64_t> perm, int64_t rank);

/// `[2, 1025, 1024]`.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace internvl

#endif // INTERNVL_SUPPORT_SHAPE_H
