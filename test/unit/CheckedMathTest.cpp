//===- CheckedMathTest.cpp - sizes that report overflow -------------------===//

#include "internvl/runtime/CheckedMath.h"
#include "internvl/Support/Diagnostics.h"
#include "internvl/Support/Shape.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

TEST(CheckedMath, ProductsAndSumsReportOverflow) {
  EXPECT_EQ(ivl::checkedMul(int64_t(1) << 31, int64_t(1) << 31), int64_t(1)
                                                                     << 62);
  EXPECT_FALSE(ivl::checkedMul(int64_t(1) << 32, int64_t(1) << 31));
  EXPECT_FALSE(ivl::checkedMul(INT64_MIN, -1));
  EXPECT_EQ(ivl::checkedAdd(INT64_MAX - 1, 1), INT64_MAX);
  EXPECT_FALSE(ivl::checkedAdd(INT64_MAX, 1));
  EXPECT_FALSE(ivl::checkedAdd(INT64_MIN, -1));
}

TEST(CheckedMath, ShapesRefuseNegativeDimensionsAndOverflow) {
  int64_t fine[] = {2, 1025, 1024};
  EXPECT_EQ(ivl::checkedProduct(fine, 3), 2 * 1025 * 1024);
  EXPECT_EQ(ivl::checkedProduct(nullptr, 0), 1);
  int64_t negative[] = {4, -1};
  EXPECT_FALSE(ivl::checkedProduct(negative, 2));
  // -9223372036854775806 was what --max_dynamic_patch 2^62 once printed.
  int64_t wraps[] = {int64_t(1) << 62, 3, 56, 56};
  EXPECT_FALSE(ivl::checkedProduct(wraps, 4));
  EXPECT_FALSE(ivl::checkedTensorBytes(fine, 3, int64_t(1) << 50));
  EXPECT_FALSE(internvl::checkedNumElements({int64_t(1) << 40, 1 << 24}));
}

TEST(CheckedMath, TheTensorCeilingCountsZeroDimensionsAsOne) {
  // Exactly 1 TiB fits; one element more does not.
  int64_t tib[] = {65536, 65536, 64};
  EXPECT_TRUE(ivl::fitsTensorCeiling(tib, 3, 4));
  EXPECT_FALSE(ivl::fitsTensorCeiling(tib, 3, 8));
  // An empty tensor still has strides: [0, 2^62] is refused.
  int64_t empty[] = {0, int64_t(1) << 62};
  EXPECT_FALSE(ivl::fitsTensorCeiling(empty, 2, 1));
  int64_t small[] = {0, 4};
  EXPECT_TRUE(ivl::fitsTensorCeiling(small, 2, 4));
  EXPECT_TRUE(internvl::fitsTensorCeiling({}, 4));
  EXPECT_FALSE(internvl::fitsTensorCeiling({-1}, 4));
}

TEST(CheckedMath, AlignmentRoundsUpWithoutWrapping) {
  EXPECT_EQ(ivl::checkedAlignTo(1, 256), 256);
  EXPECT_EQ(ivl::checkedAlignTo(512, 256), 512);
  EXPECT_EQ(ivl::checkedAlignTo(0, 256), 0);
  EXPECT_FALSE(ivl::checkedAlignTo(INT64_MAX, 256));
}

TEST(Diagnostics, LongTextIsCutInTheMiddle) {
  EXPECT_EQ(internvl::clipText("short", 10), "short");
  std::string cut = internvl::clipText(std::string(5000, 'a') + "END", 100);
  EXPECT_LT(cut.size(), 160u);
  EXPECT_NE(cut.find("(4903 characters cut)"), std::string::npos) << cut;
  EXPECT_EQ(cut.substr(cut.size() - 3), "END");
}

} // namespace
