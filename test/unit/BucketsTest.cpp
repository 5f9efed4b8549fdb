//===- BucketsTest.cpp - gradient buckets and ZeRO-3 prefetch -------------===//

#include "internvl/Analysis/Buckets.h"

#include <gtest/gtest.h>

using namespace internvl;

namespace {

std::vector<std::pair<size_t, size_t>> spans(const std::vector<Bucket> &b) {
  std::vector<std::pair<size_t, size_t>> s;
  for (const Bucket &x : b)
    s.push_back({x.begin, x.end});
  return s;
}

TEST(Buckets, CloseOnceFull) {
  // 3 + 4 passes 6: closed; 5 + 1 reaches it; 2 is what is left.
  EXPECT_EQ(spans(consecutiveBuckets({3, 4, 5, 1, 2}, {}, 6)),
            (std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 4}, {4, 5}}));
}

TEST(Buckets, GroupChangeCloses) {
  EXPECT_EQ(spans(consecutiveBuckets({1, 1, 1, 1}, {0, 0, 1, 1}, 100)),
            (std::vector<std::pair<size_t, size_t>>{{0, 2}, {2, 4}}));
}

TEST(Prefetch, LaunchesWithinTheBudget) {
  // Windows of 4, 4, 4, 4 elements with room for 8 ahead: each gather
  // starts two windows before its own (the first ones as early as they can).
  EXPECT_EQ(prefetchLaunchWindows({4, 4, 4, 4}, 8),
            (std::vector<size_t>{0, 0, 0, 1}));
}

TEST(Prefetch, LargeWindowIsNotPrefetched) {
  // Window 2 alone holds more than the budget: it is gathered at its start.
  EXPECT_EQ(prefetchLaunchWindows({1, 1, 50, 1}, 10),
            (std::vector<size_t>{0, 0, 2, 2}));
}

TEST(Prefetch, NoBudgetMeansNoPrefetch) {
  EXPECT_EQ(prefetchLaunchWindows({1, 1, 1}, 0),
            (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(prefetchLaunchWindows({}, 10).empty());
}

} // namespace
