//===- RematSolverTest.cpp - frontier and knapsack on hand-checkable layers -===//

#include "internvl/Analysis/RematSolver.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace internvl;

namespace {

/// x -> fc1 (saved) -> gelu (saved) -> fc2 (the layer output, not a unit):
/// the MLP of a transformer layer.
LayerProblem mlp() {
  LayerProblem layer;
  layer.ops = {{/*seconds=*/4.0, /*flops=*/400, /*savedBytes=*/100, {}},
               {1.0, 10, 100, {{0, true}}},
               {4.0, 400, 0, {{1, true}}}};
  return layer;
}

TEST(RematSolver, RecomputesOnlyWhatBackwardNeeds) {
  LayerProblem layer = mlp();
  // Keep nothing: gelu is recomputed and needs fc1, which is not kept; fc2
  // (not read by backward) never runs again.
  RematChoice none = evaluateChoice(layer, {false, false, false});
  EXPECT_EQ(none.recompute, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(none.keptBytes, 0);
  EXPECT_DOUBLE_EQ(none.seconds, 5.0);
  EXPECT_EQ(none.flops, 410);
  // Keep fc1: only gelu runs again, from the kept fc1 output.
  RematChoice fc1 = evaluateChoice(layer, {true, false, false});
  EXPECT_EQ(fc1.recompute, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(fc1.keptBytes, 100);
  EXPECT_DOUBLE_EQ(fc1.seconds, 1.0);
}

TEST(RematSolver, UnsavedIntermediatesRunAgain) {
  // qkv (not read by backward) feeds three saved slices.
  LayerProblem layer;
  layer.ops = {{2.0, 200, 0, {}},
               {0.1, 0, 10, {{0, false}}},
               {0.1, 0, 10, {{0, false}}},
               {0.1, 0, 10, {{0, false}}}};
  RematChoice q = evaluateChoice(layer, {false, true, false, false});
  EXPECT_EQ(q.recompute, (std::vector<bool>{true, false, true, true}));
  RematChoice all = evaluateChoice(layer, {false, true, true, true});
  EXPECT_EQ(all.recompute, (std::vector<bool>{false, false, false, false}));
  EXPECT_DOUBLE_EQ(all.seconds, 0.0);
}

TEST(RematSolver, FrontierIsParetoOptimalAndSpansTheExtremes) {
  llvm::Expected<std::vector<RematChoice>> f = paretoFrontier(mlp());
  ASSERT_TRUE(static_cast<bool>(f)) << llvm::toString(f.takeError());
  // (0 B, 5 s), (100 B, 1 s) keeping fc1, (200 B, 0 s). Keeping only gelu
  // (100 B, 4 s) is dominated.
  ASSERT_EQ(f->size(), 3u);
  EXPECT_EQ((*f)[0].keptBytes, 0);
  EXPECT_DOUBLE_EQ((*f)[0].seconds, 5.0);
  EXPECT_EQ((*f)[1].keptBytes, 100);
  EXPECT_DOUBLE_EQ((*f)[1].seconds, 1.0);
  EXPECT_TRUE((*f)[1].keep[0]);
  EXPECT_EQ((*f)[2].keptBytes, 200);
  EXPECT_DOUBLE_EQ((*f)[2].seconds, 0.0);
}

TEST(RematSolver, FrontierRefusesHugeLayers) {
  LayerProblem layer;
  for (int i = 0; i < 5; ++i)
    layer.ops.push_back({1.0, 1, 1, {}});
  llvm::Expected<std::vector<RematChoice>> f = paretoFrontier(layer, 4);
  ASSERT_FALSE(static_cast<bool>(f));
  llvm::consumeError(f.takeError());
}

TEST(RematSolver, KnapsackMatchesBruteForce) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    // Three layers with random frontiers of 1-4 points.
    std::vector<std::vector<RematChoice>> fronts(3);
    for (auto &f : fronts) {
      int points = 1 + rng() % 4;
      int64_t bytes = 0;
      double seconds = 10.0 + rng() % 10;
      for (int p = 0; p < points; ++p) {
        RematChoice c;
        c.keptBytes = bytes;
        c.seconds = seconds;
        f.push_back(c);
        bytes += 1 + rng() % 10;
        seconds -= 1 + rng() % 4;
        if (seconds < 0)
          seconds = 0;
      }
    }
    std::vector<const std::vector<RematChoice> *> ptrs;
    for (auto &f : fronts)
      ptrs.push_back(&f);
    for (int64_t capacity = 0; capacity <= 30; capacity += 3) {
      double brute = std::numeric_limits<double>::infinity();
      for (size_t a = 0; a < fronts[0].size(); ++a)
        for (size_t b = 0; b < fronts[1].size(); ++b)
          for (size_t c = 0; c < fronts[2].size(); ++c)
            if (fronts[0][a].keptBytes + fronts[1][b].keptBytes +
                    fronts[2][c].keptBytes <=
                capacity)
              brute = std::min(brute, fronts[0][a].seconds +
                                          fronts[1][b].seconds +
                                          fronts[2][c].seconds);
      llvm::Expected<std::vector<int>> pick =
          chooseAcrossLayers(ptrs, capacity, 1);
      if (std::isinf(brute)) {
        EXPECT_FALSE(static_cast<bool>(pick));
        if (!pick)
          llvm::consumeError(pick.takeError());
        continue;
      }
      ASSERT_TRUE(static_cast<bool>(pick)) << llvm::toString(pick.takeError());
      double got = 0;
      int64_t used = 0;
      for (size_t l = 0; l < 3; ++l) {
        got += fronts[l][(*pick)[l]].seconds;
        used += fronts[l][(*pick)[l]].keptBytes;
      }
      EXPECT_LE(used, capacity);
      EXPECT_DOUBLE_EQ(got, brute) << "capacity " << capacity;
    }
  }
}

TEST(RematSolver, LargerCapacityNeverCostsMore) {
  llvm::Expected<std::vector<RematChoice>> f = paretoFrontier(mlp());
  ASSERT_TRUE(static_cast<bool>(f));
  std::vector<const std::vector<RematChoice> *> layers(10, &*f);
  double previous = std::numeric_limits<double>::infinity();
  for (int64_t capacity = 0; capacity <= 2000; capacity += 50) {
    llvm::Expected<std::vector<int>> pick = chooseAcrossLayers(layers, capacity, 7);
    ASSERT_TRUE(static_cast<bool>(pick));
    double t = 0;
    for (int p : *pick)
      t += (*f)[p].seconds;
    EXPECT_LE(t, previous);
    previous = t;
  }
}

} // namespace
