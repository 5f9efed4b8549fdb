//===- Buckets.h - communication buckets of gradients -------------*- C++ -*-===//
//
// DeepSpeed sends gradients in buckets: tensors in the order backward
// produces them, a bucket closed once it holds `bucket_size` elements; and
// ZeRO stage 3 gathers parameters ahead of their use within a prefetch
// budget. These are those two schedules, apart from the IR.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_ANALYSIS_BUCKETS_H
#define INTERNVL_ANALYSIS_BUCKETS_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace internvl {

/// A bucket: items [begin, end).
struct Bucket {
  size_t begin, end;
};

/// Splits items of `elements` each (in order) into consecutive buckets that
/// close as soon as they hold at least `bucketElements` elements; a change
/// of `group` (say, the element type) also closes a bucket, so each bucket
/// is one group. `groups` is empty or one entry per item.
std::vector<Bucket> consecutiveBuckets(llvm::ArrayRef<int64_t> elements,
                                       llvm::ArrayRef<int> groups,
                                       int64_t bucketElements);

/// ZeRO stage 3's prefetch (DeepSpeed's stage3_prefetch_bucket_size): for
/// each use window i (in schedule order, holding `elements[i]` parameter
/// elements), the earliest window j <= i at whose start i's gather may be
/// launched so that the windows after j up to i hold at most
/// `aheadElements`; j = i (no prefetch) when window i alone holds more.
std::vector<size_t> prefetchLaunchWindows(llvm::ArrayRef<int64_t> elements,
                                          int64_t aheadElements);

} // namespace internvl

#endif // INTERNVL_ANALYSIS_BUCKETS_H
