//===- RematSolverTest.cpp - frontier and knapsack on hand-checkable layers -===//

#include "internvl/Analysis/RematSolver.h"

#include "llvm/ADT/STLExtras.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
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
  std::optional<std::vector<RematChoice>> f = paretoFrontier(mlp());
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

// Beyond maxUnits units, the smallest are kept in every choice and the
// frontier is exact over the others: here it equals the brute-force frontier
// of all subsets that keep the two small units.
TEST(RematSolver, LargeLayersKeepTheirSmallestUnits) {
  std::mt19937 rng(11);
  LayerProblem layer;
  // A chain of 6 ops with big results and two small side units (LoRA's
  // rank-r intermediates) reading ops 1 and 3.
  for (int i = 0; i < 6; ++i) {
    RematOp op{1.0 + rng() % 5, 10, 100 + int64_t(rng() % 50), {}};
    if (i > 0)
      op.inputs.push_back({i - 1, true});
    layer.ops.push_back(op);
  }
  layer.ops.push_back({0.5, 1, 3, {{1, true}}});
  layer.ops.push_back({0.5, 1, 2, {{3, true}}});
  std::vector<int> kept = alwaysKeptUnits(layer, 6);
  EXPECT_EQ(kept, (std::vector<int>{6, 7}));
  std::vector<RematChoice> f = paretoFrontier(layer, 6);
  ASSERT_FALSE(f.empty());
  for (const RematChoice &c : f)
    EXPECT_TRUE(c.keep[6] && c.keep[7]);
  EXPECT_EQ(f.front().keptBytes, 5);
  // Brute force over the 6 big units with the small ones kept.
  std::vector<RematChoice> brute;
  for (int mask = 0; mask < 64; ++mask) {
    std::vector<bool> keep(8, true);
    for (int u = 0; u < 6; ++u)
      keep[u] = (mask >> u) & 1;
    brute.push_back(evaluateChoice(layer, keep));
  }
  for (const RematChoice &c : brute) {
    // No brute-force point beats the frontier on both axes.
    bool dominated = std::any_of(f.begin(), f.end(), [&](const RematChoice &p) {
      return p.keptBytes <= c.keptBytes && p.seconds <= c.seconds;
    });
    EXPECT_TRUE(dominated) << c.keptBytes << " bytes, " << c.seconds << " s";
  }
  // And every frontier point is one of the brute-force choices that nothing
  // beats: the same frontier, not just a dominating one.
  for (const RematChoice &p : f) {
    auto same = [&](const RematChoice &c) {
      return c.keptBytes == p.keptBytes && c.seconds == p.seconds &&
             c.keep == p.keep;
    };
    auto beats = [&](const RematChoice &c) {
      return c.keptBytes <= p.keptBytes && c.seconds < p.seconds;
    };
    EXPECT_TRUE(std::any_of(brute.begin(), brute.end(), same) &&
                std::none_of(brute.begin(), brute.end(), beats))
        << p.keptBytes << " bytes, " << p.seconds << " s";
  }
  // With room for every unit it is the plain exact frontier.
  EXPECT_TRUE(alwaysKeptUnits(layer).empty());
  EXPECT_EQ(paretoFrontier(layer).front().keptBytes, 0);
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
  std::optional<std::vector<RematChoice>> f = paretoFrontier(mlp());
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

namespace {
/// InternVL2-8B's loss at batch 4 x 4096: InternLM2's 92553-token vocabulary
/// over a 4096-wide bf16 hidden state.
internvl::cost::ChunkedLoss internlm2Loss() {
  internvl::cost::ChunkedLoss loss;
  loss.tokens = 4 * 4096;
  loss.vocab = 92553;
  loss.hidden = 4096;
  loss.elementBytes = 2;
  return loss;
}
constexpr internvl::cost::Roofline kH100 = {989e12, 3.35e12};
} // namespace

TEST(LossChunks, FrontierTradesBytesForTime) {
  std::vector<internvl::LossChunk> front = internvl::lossChunkFrontier(
      internlm2Loss(), /*backward=*/true, true, /*weightGrad=*/true, kH100);
  ASSERT_GE(front.size(), 2u);
  for (size_t i = 1; i < front.size(); ++i) {
    EXPECT_GT(front[i].workspaceBytes, front[i - 1].workspaceBytes);
    EXPECT_LT(front[i].seconds, front[i - 1].seconds);
  }
  // The fewest bytes: 128 rows of logits and the f32 sum of dW.
  EXPECT_EQ(front.front().tokens, 128);
  EXPECT_EQ(front.front().workspaceBytes,
            128 * 92553 * 2 + int64_t(92553) * 4096 * 4);
  // 128 rows re-read the weight 128 times: memory-bound, slower than the
  // compute-bound chunks of a few thousand rows.
  EXPECT_GT(front.front().seconds, front.back().seconds);
}

TEST(LossChunks, FrozenHeadNeedsNoSum) {
  // Without lm_head's gradient there is no f32 sum: one chunk of all tokens
  // holds the most bytes and every smaller chunk holds proportionally fewer.
  std::vector<internvl::LossChunk> front = internvl::lossChunkFrontier(
      internlm2Loss(), /*backward=*/true, true, /*weightGrad=*/false, kH100);
  ASSERT_FALSE(front.empty());
  for (const internvl::LossChunk &c : front)
    EXPECT_EQ(c.workspaceBytes, std::min<int64_t>(c.tokens, 4 * 4096) * 92553 * 2);
  // The fastest point is the first compute-bound chunk: larger ones take
  // more bytes for no time, so the frontier stops there.
  ASSERT_GE(front.size(), 2u);
  EXPECT_EQ(front.front().tokens, 128);
  EXPECT_LT(front.back().tokens, 4 * 4096);
}

TEST(LossChunks, OneChunkBelowTheSmallestCandidate) {
  internvl::cost::ChunkedLoss loss = internlm2Loss();
  loss.tokens = 100;
  std::vector<internvl::LossChunk> front =
      internvl::lossChunkFrontier(loss, true, true, true, kH100);
  ASSERT_EQ(front.size(), 1u);
  EXPECT_EQ(front[0].tokens, 100);
  EXPECT_EQ(front[0].workspaceBytes, 100 * 92553 * 2);
}

namespace {

/// `n` layers of 10 bytes of output, 1 s to re-run each.
std::vector<ChainLayer> chain(int n) {
  return std::vector<ChainLayer>(n, ChainLayer{10, 1.0, 100});
}

TEST(Segments, LengthOneKeepsEveryOutput) {
  SegmentChoice one = evaluateSegments(chain(9), 1);
  EXPECT_EQ(one.dropped, std::vector<bool>(9, false));
  EXPECT_EQ(one.heldBytes, 90);
  EXPECT_EQ(one.seconds, 0.0);
}

TEST(Segments, RunsOfThreeKeepTheirFirstInputs) {
  // Runs [0,1,2] [3,4,5] [6,7,8]: outputs 0,1 / 3,4 / 6,7 dropped; 2, 5 and
  // 8 kept (8 is the chain's own output). The last run's re-run holds two
  // dropped outputs with nothing freed yet.
  SegmentChoice three = evaluateSegments(chain(9), 3);
  EXPECT_EQ(three.dropped, (std::vector<bool>{true, true, false, true, true,
                                              false, true, true, false}));
  EXPECT_EQ(three.heldBytes, 30 + 20);
  EXPECT_EQ(three.seconds, 6.0);
  EXPECT_EQ(three.flops, 600);
}

TEST(Segments, ShortLastRunLetsAnEarlierRunSetTheHeldBytes) {
  // Runs [0..3] [4..7] [8]: the last run drops nothing; the middle one's
  // re-run (3 outputs) comes after the last run's kept output was freed.
  SegmentChoice four = evaluateSegments(chain(9), 4);
  EXPECT_EQ(four.heldBytes, 30 + (30 - 10));
  // The whole chain in one run: only its output is kept.
  SegmentChoice all = evaluateSegments(chain(9), 9);
  EXPECT_EQ(all.heldBytes, 10 + 80);
  EXPECT_EQ(all.seconds, 8.0);
}

TEST(Segments, FrontierIsParetoOptimalAroundTheSquareRoot) {
  std::vector<SegmentChoice> front = segmentFrontier(chain(16));
  ASSERT_FALSE(front.empty());
  for (size_t k = 1; k < front.size(); ++k) {
    EXPECT_LT(front[k - 1].heldBytes, front[k].heldBytes);
    EXPECT_GT(front[k - 1].seconds, front[k].seconds);
  }
  // Keeping everything is the fastest point. The fewest bytes, 70, are
  // below Chen et al.'s 2·sqrt(n) outputs and several lengths reach them
  // (runs of 4 keep 4 outputs and re-run 3); the fastest of those wins:
  // runs of 3 keep outputs 2, 5, 8, 11, 14 and 15, and the run [12, 14]
  // re-runs 2 once the last run's kept output is freed.
  EXPECT_EQ(front.back().length, 1);
  EXPECT_EQ(front.back().heldBytes, 160);
  EXPECT_EQ(front.front().length, 3);
  EXPECT_EQ(front.front().heldBytes, 70);
  EXPECT_EQ(front.front().seconds, 10.0);
  // Every length is dominated by or on the frontier.
  for (int64_t length = 1; length <= 16; ++length) {
    SegmentChoice c = evaluateSegments(chain(16), length);
    EXPECT_TRUE(llvm::any_of(front, [&](const SegmentChoice &f) {
      return f.heldBytes <= c.heldBytes && f.seconds <= c.seconds;
    })) << "length " << length;
  }
}

TEST(Segments, OneLayerHasNothingToDrop) {
  std::vector<SegmentChoice> front = segmentFrontier(chain(1));
  ASSERT_EQ(front.size(), 1u);
  EXPECT_EQ(front[0].dropped, std::vector<bool>{false});
}


TEST(Offload, ExposedTimeIsWhatTheWindowsDoNotHide) {
  OffloadWindow w{/*bytesPerSecond=*/100.0, /*forwardSeconds=*/1.0,
                  /*backwardSeconds=*/2.0};
  EXPECT_EQ(exposedTransferSeconds(0, w), 0.0);
  EXPECT_EQ(exposedTransferSeconds(100, w), 0.0); // 1 s each way: hidden
  EXPECT_EQ(exposedTransferSeconds(150, w), 0.5); // 1.5 s: 0.5 forward
  EXPECT_EQ(exposedTransferSeconds(400, w), 5.0); // 4 s: 3 + 2
  w.bytesPerSecond = 0;                           // no link: no lever
  EXPECT_EQ(exposedTransferSeconds(400, w), 0.0);
}

TEST(Offload, FrontierMovesOutputsAndKeepsTheFastestPerByte) {
  // Two recompute choices of a layer: keep 40 bytes in 1 s, or 100 in 0 s;
  // the layer's outputs are 60 bytes; the link hides 30 bytes each way.
  RematChoice slow, fast;
  slow.keptBytes = 40;
  slow.seconds = 1.0;
  fast.keptBytes = 100;
  fast.seconds = 0.0;
  OffloadWindow w{/*bytesPerSecond=*/10.0, /*forwardSeconds=*/3.0,
                  /*backwardSeconds=*/6.0};
  std::vector<RematChoice> front = offloadFrontier({slow, fast}, 60, w);
  ASSERT_FALSE(front.empty());
  for (size_t k = 1; k < front.size(); ++k) {
    EXPECT_LT(front[k - 1].keptBytes, front[k].keptBytes);
    EXPECT_GT(front[k - 1].seconds, front[k].seconds);
  }
  // The fewest device bytes: the slow choice with all 60 output bytes on
  // the host (6 s each way: 3 s exposed forward, none in its 6 + 1 s
  // backward window).
  EXPECT_EQ(front.front().keptBytes, 40);
  EXPECT_EQ(front.front().offloadBytes, 60);
  EXPECT_NEAR(front.front().seconds, 1.0 + 3.0, 1e-9);
  // The most: the fast choice with its outputs on the device.
  EXPECT_EQ(front.back().keptBytes, 160);
  EXPECT_EQ(front.back().offloadBytes, 0);
  EXPECT_EQ(front.back().seconds, 0.0);
  // The hidden share (30 bytes) costs only the tie-break, far below any
  // roofline time; nothing beyond the outputs ever moves.
  auto hidden = llvm::find_if(
      front, [](const RematChoice &c) { return c.keptBytes == 130; });
  ASSERT_NE(hidden, front.end());
  EXPECT_EQ(hidden->offloadBytes, 30);
  EXPECT_GT(hidden->seconds, 0.0);
  EXPECT_LT(hidden->seconds, 1e-12);
  for (const RematChoice &c : front)
    EXPECT_LE(c.offloadBytes, 60);
}

} // namespace
