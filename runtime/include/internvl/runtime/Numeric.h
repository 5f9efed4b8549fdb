//===- Numeric.h - bf16/f16 rounding and Philox, host and device ----------===//
//
// Shared by the CPU and CUDA runtimes so both round and draw random numbers
// the same way.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_NUMERIC_H
#define INTERNVL_RUNTIME_NUMERIC_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define IVL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define IVL_HOST_DEVICE inline
#endif

namespace ivl {

IVL_HOST_DEVICE uint32_t floatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}

IVL_HOST_DEVICE float bitsFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

/// bf16 is the upper half of an f32.
IVL_HOST_DEVICE float bf16ToFloat(uint16_t h) {
  return bitsFloat(static_cast<uint32_t>(h) << 16);
}

/// Round to nearest, ties to even; NaN stays a (quiet) NaN.
IVL_HOST_DEVICE uint16_t floatToBf16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

/// IEEE half to f32.
IVL_HOST_DEVICE float f16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0)
      return bitsFloat(sign);
    // Subnormal: normalise.
    exp = 127 - 15 + 1;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ffu;
    return bitsFloat(sign | (exp << 23) | (mant << 13));
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7f800000u | (mant << 13));
  return bitsFloat(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

/// f32 to IEEE half, round to nearest even, with overflow to infinity.
IVL_HOST_DEVICE uint16_t floatToF16(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (absu >= 0x477ff000u) // rounds to >= 65520: infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absu < 0x38800000u) { // below the smallest normal half: subnormal
    if (absu < 0x33000000u)
      return static_cast<uint16_t>(sign);
    uint32_t exp = absu >> 23;
    uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp; // 14 - (exp - 127) + 13 - 1 ... in [14, 24]
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t rounded = absu + 0xfffu + ((absu >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

/// Philox-4x32-10 (Salmon et al., SC'11), the generator of cuRAND and
/// PyTorch's CUDA RNG. One call turns a 128-bit counter and a 64-bit key into
/// four independent 32-bit outputs.
struct Philox4x32 {
  uint32_t out[4];

  IVL_HOST_DEVICE Philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                             uint32_t k0, uint32_t k1) {
    const uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    const uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      uint64_t p0 = static_cast<uint64_t>(m0) * c0;
      uint64_t p1 = static_cast<uint64_t>(m1) * c2;
      uint32_t hi0 = static_cast<uint32_t>(p0 >> 32),
               lo0 = static_cast<uint32_t>(p0);
      uint32_t hi1 = static_cast<uint32_t>(p1 >> 32),
               lo1 = static_cast<uint32_t>(p1);
      uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
      c0 = n0;
      c1 = n1;
      c2 = n2;
      c3 = n3;
      k0 += w0;
      k1 += w1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
  }
};

/// Whether drop_path keeps sample `sample` of the op with (`seed`, `offset`)
/// at `step`: u in [0, 1) from the first Philox output, kept when
/// u < 1 - rate. The counter is (sample, offset, step) and the key the seed,
/// so the decision is a pure function of those four numbers.
IVL_HOST_DEVICE bool dropPathKeeps(int64_t seed, int64_t offset, int64_t step,
                                   int64_t sample, double rate) {
  uint64_t s = static_cast<uint64_t>(step);
  Philox4x32 r(static_cast<uint32_t>(sample), static_cast<uint32_t>(offset),
               static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32),
               static_cast<uint32_t>(static_cast<uint64_t>(seed)),
               static_cast<uint32_t>(static_cast<uint64_t>(seed) >> 32));
  double u = r.out[0] * (1.0 / 4294967296.0);
  return u < 1.0 - rate;
}

/// Offsets dropout accepts: [0, 2^24).
inline constexpr int64_t kMaxDropoutOffset = int64_t(1) << 24;

/// Whether dropout keeps element `element` of the op with (`seed`,
/// `offset`) at `step`. Elements go four to a Philox call, group g =
/// element / 4 (below 2^38 under the 1 TiB tensor ceiling). The counter is
/// (g's low word, g's high 8 bits | offset << 8, step's low word, step's
/// high word); lane element % 4 is u's source, kept when u < 1 - rate. The
/// key is the seed with its high word flipped by a constant, a stream apart
/// from drop_path's.
IVL_HOST_DEVICE bool dropoutKeeps(int64_t seed, int64_t offset, int64_t step,
                                  int64_t element, double rate) {
  uint64_t group = static_cast<uint64_t>(element) >> 2;
  uint64_t key = static_cast<uint64_t>(seed);
  uint64_t s = static_cast<uint64_t>(step);
  uint32_t high = static_cast<uint32_t>((group >> 32) & 0xFFu) |
                  (static_cast<uint32_t>(offset) << 8);
  Philox4x32 r(static_cast<uint32_t>(group), high, static_cast<uint32_t>(s),
               static_cast<uint32_t>(s >> 32), static_cast<uint32_t>(key),
               static_cast<uint32_t>(key >> 32) ^ 0x85EBCA6Bu);
  double u = r.out[element & 3] * (1.0 / 4294967296.0);
  return u < 1.0 - rate;
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_NUMERIC_H
