//===- Buckets.cpp - communication buckets of gradients --------------------===//

#include "internvl/Analysis/Buckets.h"

#include <cassert>

std::vector<internvl::Bucket>
internvl::consecutiveBuckets(llvm::ArrayRef<int64_t> elements,
                             llvm::ArrayRef<int> groups,
                             int64_t bucketElements) {
  assert(groups.empty() || groups.size() == elements.size());
  std::vector<Bucket> buckets;
  size_t begin = 0;
  int64_t held = 0;
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > begin && !groups.empty() && groups[i] != groups[begin]) {
      buckets.push_back({begin, i});
      begin = i;
      held = 0;
    }
    held += elements[i];
    if (held >= bucketElements) {
      buckets.push_back({begin, i + 1});
      begin = i + 1;
      held = 0;
    }
  }
  if (begin < elements.size())
    buckets.push_back({begin, elements.size()});
  return buckets;
}

std::vector<size_t>
internvl::prefetchLaunchWindows(llvm::ArrayRef<int64_t> elements,
                                int64_t aheadElements) {
  std::vector<size_t> launchAt(elements.size());
  size_t from = 0;
  int64_t ahead = 0; // elements of windows (from, i]
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0)
      ahead += elements[i];
    while (from < i && ahead > aheadElements)
      ahead -= elements[++from];
    launchAt[i] = from;
  }
  return launchAt;
}
