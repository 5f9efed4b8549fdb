//===- HeapPlacement.h - packing buffers with lifetimes into one arena ----===//
//
// The offline dynamic-storage-allocation problem: buffers with a size and a
// live interval of schedule steps get byte offsets in one arena so that no
// two buffers live at the same step overlap. Plain data in and out, no IR.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_ANALYSIS_HEAPPLACEMENT_H
#define INTERNVL_ANALYSIS_HEAPPLACEMENT_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace internvl {

struct BufferInterval {
  /// Bytes, already rounded to the arena alignment.
  int64_t size;
  /// First and last step (inclusive) at which the buffer holds its value.
  int64_t start;
  int64_t end;
};

struct Placement {
  std::vector<int64_t> offsets;
  int64_t arenaBytes = 0;
};

/// The largest total size of buffers live at one step: no placement can use
/// a smaller arena.
int64_t liveLowerBound(llvm::ArrayRef<BufferInterval> buffers);

/// Best-fit decreasing (XLA's heap simulator, TFLite's greedy-by-size): take
/// buffers from the largest, put each into the smallest gap between the
/// buffers already placed that overlap it in time, or on top. The result is
/// the best of a few orders (by size, by size x lifetime, by start), since
/// none wins on every graph. O(n^2) in the number of buffers.
Placement placeBestFit(llvm::ArrayRef<BufferInterval> buffers);

/// Rounds `bytes` up to a multiple of `alignment` (a power of two).
inline int64_t alignTo(int64_t bytes, int64_t alignment) {
  return (bytes + alignment - 1) & ~(alignment - 1);
}

} // namespace internvl

#endif // INTERNVL_ANALYSIS_HEAPPLACEMENT_H
