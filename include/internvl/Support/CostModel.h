//===- CostModel.h - FLOP and byte formulas of tg ops -----------*- C++ -*-===//
//
// The arithmetic behind the cost interface, on plain integers. Matrix products
// count a multiply-add as two FLOPs; the per-element constants of the other
// ops count the arithmetic of a straightforward kernel and are documented in
// docs/cost-model.md. Recomputation weighs these numbers on a roofline
// (`estimateSeconds`), where matrix products dominate.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_COSTMODEL_H
#define INTERNVL_SUPPORT_COSTMODEL_H

#include <cstdint>

namespace internvl::cost {

/// FLOPs per element of the ops that are not matrix products.
inline constexpr int64_t kGeluFlops = 8;
inline constexpr int64_t kGeluGradFlops = 12;
inline constexpr int64_t kSiluFlops = 4;
inline constexpr int64_t kSiluGradFlops = 7;
inline constexpr int64_t kLayerNormFlops = 8;
inline constexpr int64_t kLayerNormGradFlops = 12;
inline constexpr int64_t kRmsNormFlops = 5;
inline constexpr int64_t kRmsNormGradFlops = 9;
inline constexpr int64_t kRopeFlops = 3;
inline constexpr int64_t kCrossEntropyFlops = 4;
inline constexpr int64_t kCrossEntropyGradFlops = 3;
inline constexpr int64_t kAdamWFlops = 16;
inline constexpr int64_t kSquareSumFlops = 2;

/// 2·batch·M·N·K.
inline constexpr int64_t matmulFlops(int64_t batch, int64_t m, int64_t n,
                                     int64_t k) {
  return 2 * batch * m * n * k;
}

/// Query/key pairs one attention head scores: S·Skv, or S(S+1)/2 under a
/// causal mask (query i sees keys 0..i).
inline constexpr int64_t attentionPairs(int64_t s, int64_t skv, bool causal) {
  return causal ? s * (s + 1) / 2 : s * skv;
}

/// Pairs over a packed row of `s` tokens split into `samples` samples as
/// equal as integers allow (varlen attention scores no pair across a sample
/// boundary). One sample is attentionPairs(s, s, causal).
inline constexpr int64_t packedAttentionPairs(int64_t s, int64_t samples,
                                              bool causal) {
  if (samples <= 1)
    return attentionPairs(s, s, causal);
  int64_t base = s / samples, longer = s % samples;
  return longer * attentionPairs(base + 1, base + 1, causal) +
         (samples - longer) * attentionPairs(base, base, causal);
}

/// Q·Kᵀ (2·D per pair) and P·V (2·Dv per pair) for every batch and query head.
inline constexpr int64_t attentionFlops(int64_t b, int64_t hq, int64_t s,
                                        int64_t skv, int64_t d, int64_t dv,
                                        bool causal) {
  return 2 * b * hq * attentionPairs(s, skv, causal) * (d + dv);
}

/// Flash backward: recompute Q·Kᵀ (2D), dV = Pᵀ·dO (2Dv), dP = dO·Vᵀ (2Dv),
/// dQ = dS·K (2D), dK = dSᵀ·Q (2D) per pair.
inline constexpr int64_t attentionGradFlops(int64_t b, int64_t hq, int64_t s,
                                            int64_t skv, int64_t d, int64_t dv,
                                            bool causal) {
  return 2 * b * hq * attentionPairs(s, skv, causal) * (3 * d + 2 * dv);
}

/// A GPU's throughput, for turning FLOPs and bytes into time.
struct Roofline {
  double flopsPerSecond;
  double bytesPerSecond;
};

/// (The rooflines of the GPUs plans are made for: Targets.h.)

/// Time of an op on the roofline: bound by compute or by memory traffic.
inline double estimateSeconds(const Roofline &gpu, int64_t flops,
                              int64_t bytes) {
  double compute = static_cast<double>(flops) / gpu.flopsPerSecond;
  double memory = static_cast<double>(bytes) / gpu.bytesPerSecond;
  return compute > memory ? compute : memory;
}

} // namespace internvl::cost

#endif // INTERNVL_SUPPORT_COSTMODEL_H
