//===- Shape.cpp - static shape arithmetic --------------------------------===//

#include "internvl/Support/Shape.h"
#include "internvl/runtime/CheckedMath.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace internvl;

int64_t internvl::numElements(llvm::ArrayRef<int64_t> shape) {
  std::optional<int64_t> n = checkedNumElements(shape);
  assert(n && "shape outside the tensor ceiling");
  return n.value_or(0);
}

std::optional<int64_t>
internvl::checkedNumElements(llvm::ArrayRef<int64_t> shape) {
  return ivl::checkedProduct(shape.data(), shape.size());
}

bool internvl::fitsTensorCeiling(llvm::ArrayRef<int64_t> shape,
                                 int64_t elementBytes) {
  return ivl::fitsTensorCeiling(shape.data(), shape.size(), elementBytes);
}

std::optional<llvm::SmallVector<int64_t>>
internvl::broadcastShapes(llvm::ArrayRef<int64_t> lhs,
                          llvm::ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  llvm::SmallVector<int64_t> result(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Walk from the right; a missing dimension acts as 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return std::nullopt;
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return result;
}

bool internvl::isBroadcastableTo(llvm::ArrayRef<int64_t> from,
                                 llvm::ArrayRef<int64_t> to) {
  std::optional<llvm::SmallVector<int64_t>> shape = broadcastShapes(from, to);
  return shape && llvm::equal(*shape, to);
}

llvm::SmallVector<int64_t>
internvl::broadcastedDims(llvm::ArrayRef<int64_t> from,
                          llvm::ArrayRef<int64_t> to) {
  llvm::SmallVector<int64_t> dims;
  size_t lead = to.size() - from.size();
  for (size_t i = 0; i < to.size(); ++i)
    if (i < lead || (from[i - lead] == 1 && to[i] != 1))
      dims.push_back(static_cast<int64_t>(i));
  return dims;
}

bool internvl::isPermutation(llvm::ArrayRef<int64_t> perm, int64_t rank) {
  if (static_cast<int64_t>(perm.size()) != rank)
    return false;
  llvm::SmallVector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return false;
    seen[p] = true;
  }
  return true;
}

std::string internvl::formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '[';
  llvm::interleaveComma(shape, os);
  os << ']';
  return s;
}
