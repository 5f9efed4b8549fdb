//===- NumericTest.cpp - bf16/f16 rounding and Philox ---------------------===//

#include "internvl/runtime/Numeric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace ivl;

namespace {

TEST(Numeric, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between two bf16 values: ties go to the even one.
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // Just above the tie rounds up.
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            0x3f81);
  EXPECT_EQ(bf16ToFloat(floatToBf16(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(
      bf16ToFloat(floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
  // The largest float lies above bf16's largest finite value and rounds up.
  EXPECT_TRUE(std::isinf(
      bf16ToFloat(floatToBf16(std::numeric_limits<float>::max()))));
}

TEST(Numeric, F16MatchesTheCompilersConversion) {
  // Every half value converts exactly to f32 and back.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t half = static_cast<uint16_t>(h);
    _Float16 reference;
    std::memcpy(&reference, &half, 2);
    float f = f16ToFloat(half);
    if (std::isnan(static_cast<float>(reference))) {
      EXPECT_TRUE(std::isnan(f));
      continue;
    }
    ASSERT_EQ(f, static_cast<float>(reference)) << std::hex << h;
    ASSERT_EQ(floatToF16(f), half) << std::hex << h;
  }
  // Rounding of values between halves, normal and subnormal, as GCC does it.
  for (float f : {1.00048828125f, 1.0014648f, 65519.0f, 65520.0f, 3.0e-5f,
                  5.96e-8f, 2.98e-8f, 2.99e-8f, 1.2345e-6f, -7.1e-7f}) {
    _Float16 reference = static_cast<_Float16>(f);
    uint16_t bits;
    std::memcpy(&bits, &reference, 2);
    EXPECT_EQ(floatToF16(f), bits) << f;
  }
}

TEST(Numeric, PhiloxKnownAnswers) {
  // Known-answer vectors of Philox-4x32-10 from the Random123 distribution.
  Philox4x32 zero(0, 0, 0, 0, 0, 0);
  EXPECT_EQ(zero.out[0], 0x6627e8d5u);
  EXPECT_EQ(zero.out[1], 0xe169c58du);
  EXPECT_EQ(zero.out[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.out[3], 0x9b00dbd8u);
  Philox4x32 ones(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  EXPECT_EQ(ones.out[0], 0x408f276du);
  EXPECT_EQ(ones.out[1], 0x41c83b0eu);
  EXPECT_EQ(ones.out[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.out[3], 0x6d5451fdu);
  Philox4x32 pi(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u,
                0x299f31d0u);
  EXPECT_EQ(pi.out[0], 0xd16cfe09u);
  EXPECT_EQ(pi.out[1], 0x94fdccebu);
  EXPECT_EQ(pi.out[2], 0x5001e420u);
  EXPECT_EQ(pi.out[3], 0x24126ea1u);
}

TEST(Numeric, DropPathKeepsAtTheRequestedRate) {
  int kept = 0, samples = 20000;
  for (int b = 0; b < samples; ++b)
    kept += dropPathKeeps(/*seed=*/1, /*offset=*/7, /*step=*/3, b, 0.25);
  EXPECT_NEAR(kept / double(samples), 0.75, 0.01);
  // A pure function: the same arguments give the same decision, and the
  // step changes the mask.
  int same = 0, differs = 0;
  for (int b = 0; b < 1000; ++b) {
    same += dropPathKeeps(1, 7, 3, b, 0.5) == dropPathKeeps(1, 7, 3, b, 0.5);
    differs += dropPathKeeps(1, 7, 3, b, 0.5) != dropPathKeeps(1, 7, 4, b, 0.5);
  }
  EXPECT_EQ(same, 1000);
  EXPECT_GT(differs, 400);
}

} // namespace
