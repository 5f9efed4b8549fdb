//===- ShapeTest.cpp - static shape arithmetic ----------------------------===//

#include "internvl/Support/Shape.h"

#include <gtest/gtest.h>

using namespace internvl;

namespace {

TEST(Shape, NumElements) {
  EXPECT_EQ(numElements({}), 1);
  EXPECT_EQ(numElements({2, 1025, 1024}), 2 * 1025 * 1024);
  EXPECT_EQ(numElements({4, 0, 3}), 0);
}

TEST(Shape, BroadcastAlignsOnTheRight) {
  auto shape = broadcastShapes({2, 8, 64}, {64});
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ(formatShape(*shape), "[2, 8, 64]");

  shape = broadcastShapes({1, 1025, 1024}, {7, 1, 1024});
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ(formatShape(*shape), "[7, 1025, 1024]");

  EXPECT_FALSE(broadcastShapes({2, 8, 64}, {32}).has_value());
  EXPECT_FALSE(broadcastShapes({3, 4}, {2, 4}).has_value());
}

TEST(Shape, BroadcastableTo) {
  EXPECT_TRUE(isBroadcastableTo({64}, {2, 8, 64}));
  EXPECT_TRUE(isBroadcastableTo({1, 1, 64}, {2, 8, 64}));
  // The broadcast result would be larger than the target.
  EXPECT_FALSE(isBroadcastableTo({2, 8, 64}, {8, 64}));
  EXPECT_FALSE(isBroadcastableTo({3, 64}, {2, 8, 64}));
}

TEST(Shape, BroadcastedDimsUndoTheBroadcast) {
  auto dims = broadcastedDims({64}, {2, 8, 64});
  EXPECT_EQ(formatShape(dims), "[0, 1]");
  dims = broadcastedDims({1, 1025, 1024}, {7, 1025, 1024});
  EXPECT_EQ(formatShape(dims), "[0]");
  dims = broadcastedDims({2, 1, 4}, {2, 3, 4});
  EXPECT_EQ(formatShape(dims), "[1]");
  // Nothing to undo when the shapes are equal.
  EXPECT_TRUE(broadcastedDims({2, 3}, {2, 3}).empty());
}

TEST(Shape, Permutation) {
  EXPECT_TRUE(isPermutation({0, 2, 1, 3}, 4));
  EXPECT_FALSE(isPermutation({0, 2, 2, 3}, 4));
  EXPECT_FALSE(isPermutation({0, 1}, 3));
  EXPECT_FALSE(isPermutation({0, 3}, 2));
  EXPECT_TRUE(isPermutation({}, 0));
}

} // namespace
