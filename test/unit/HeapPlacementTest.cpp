//===- HeapPlacementTest.cpp - arena placement on hand-checkable cases ----===//

#include "internvl/Analysis/HeapPlacement.h"

#include <gtest/gtest.h>

#include <random>

using namespace internvl;

namespace {

/// No two buffers live at the same step share a byte.
void expectValid(llvm::ArrayRef<BufferInterval> buffers, const Placement &p) {
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_GE(p.offsets[i], 0);
    EXPECT_LE(p.offsets[i] + buffers[i].size, p.arenaBytes);
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      const BufferInterval &a = buffers[i], &b = buffers[j];
      bool together = a.start <= b.end && b.start <= a.end;
      bool overlap = p.offsets[i] < p.offsets[j] + b.size &&
                     p.offsets[j] < p.offsets[i] + a.size;
      EXPECT_FALSE(together && overlap) << "buffers " << i << " and " << j;
    }
  }
}

TEST(HeapPlacement, LowerBoundIsTheBusiestStep) {
  std::vector<BufferInterval> b = {{100, 0, 2}, {50, 1, 3}, {70, 3, 4}};
  // Step 1-2: 150; step 3: 120.
  EXPECT_EQ(liveLowerBound(b), 150);
  EXPECT_EQ(liveLowerBound({}), 0);
}

TEST(HeapPlacement, ReusesTheBytesOfDeadBuffers) {
  // A chain of activations, each dying when the next is made: two slots.
  std::vector<BufferInterval> b = {
      {256, 0, 1}, {256, 1, 2}, {256, 2, 3}, {256, 3, 4}};
  Placement p = placeBestFit(b);
  expectValid(b, p);
  EXPECT_EQ(p.arenaBytes, 512);
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_EQ(p.offsets[1], p.offsets[3]);
}

TEST(HeapPlacement, BestFitTakesTheSmallestGap) {
  // Big (0-9) at 0 and a medium one (0-9) on top; two small buffers that
  // live later fit in the hole left by a short-lived buffer.
  std::vector<BufferInterval> b = {
      {1024, 0, 9}, {512, 0, 1}, {256, 2, 9}, {256, 4, 9}, {768, 0, 9}};
  Placement p = placeBestFit(b);
  expectValid(b, p);
  EXPECT_EQ(p.arenaBytes, liveLowerBound(b));
  EXPECT_EQ(p.arenaBytes, 2304);
}

TEST(HeapPlacement, RandomGraphsStayValidAndNearTheBound) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<BufferInterval> b;
    for (int i = 0; i < 200; ++i) {
      int64_t start = rng() % 100;
      b.push_back(
          {256 * int64_t(1 + rng() % 64), start, start + int64_t(rng() % 20)});
    }
    Placement p = placeBestFit(b);
    expectValid(b, p);
    EXPECT_GE(p.arenaBytes, liveLowerBound(b));
    EXPECT_LE(p.arenaBytes, liveLowerBound(b) * 13 / 10);
  }
}

} // namespace
