//===- CostModelTest.cpp - FLOP formulas ----------------------------------===//

#include "internvl/Support/CostModel.h"

#include <gtest/gtest.h>

using namespace internvl::cost;

namespace {

TEST(CostModel, Matmul) {
  EXPECT_EQ(matmulFlops(1, 2, 3, 4), 48);
  EXPECT_EQ(matmulFlops(5, 2, 3, 4), 240);
}

TEST(CostModel, CausalAttentionScoresTheLowerTriangle) {
  EXPECT_EQ(attentionPairs(4, 4, /*causal=*/false), 16);
  EXPECT_EQ(attentionPairs(4, 4, /*causal=*/true), 10);
  EXPECT_EQ(attentionPairs(1, 1, /*causal=*/true), 1);
}

TEST(CostModel, AttentionForwardAndBackward) {
  // InternViT-300M, one tile: 1025 tokens, 16 heads of 64.
  int64_t pairs = 1025 * 1025;
  EXPECT_EQ(attentionFlops(1, 16, 1025, 1025, 64, 64, false),
            2 * 16 * pairs * 128);
  // Backward does 2.5 times the forward's matrix work when D == Dv.
  EXPECT_EQ(attentionGradFlops(1, 16, 1025, 1025, 64, 64, false) * 2,
            attentionFlops(1, 16, 1025, 1025, 64, 64, false) * 5);
}

TEST(CostModel, RooflinePicksTheBindingResource) {
  Roofline gpu{1e12, 1e9};
  EXPECT_DOUBLE_EQ(estimateSeconds(gpu, 2'000'000'000'000, 10), 2.0);
  EXPECT_DOUBLE_EQ(estimateSeconds(gpu, 10, 3'000'000'000), 3.0);
}

} // namespace
