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

#include "internvl/runtime/KernelShapes.h"

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

/// FLOPs, traffic and scratch of one execution of a fused op.
struct OpCost {
  int64_t flops = 0;
  int64_t bytesRead = 0;
  int64_t bytesWritten = 0;
  int64_t workspaceBytes = 0;
};

/// tg.linear_cross_entropy(_grad) over `tokens` rows of width `hidden`,
/// `vocab` logits each, `chunk` rows at a time; `elementBytes` is the width
/// of the hidden state, the weight and the logits. Each chunk reads the whole
/// weight again: below the roofline's ridge (a few hundred rows) chunking
/// costs time, which is what the remat solver weighs against the chunk's
/// bytes.
struct ChunkedLoss {
  int64_t tokens = 0, vocab = 0, hidden = 0, elementBytes = 2, chunk = 1;
  bool weighted = false;

  int64_t chunks() const { return chunk > 0 ? (tokens + chunk - 1) / chunk : 0; }
  int64_t logitBytes() const { return tokens * vocab * elementBytes; }
  int64_t weightBytes() const { return vocab * hidden * elementBytes; }
  int64_t hiddenBytes() const { return tokens * hidden * elementBytes; }
  int64_t tokenBytes() const { return tokens * (8 + 4 + (weighted ? 4 : 0)); }
  /// Whether weight_grad is summed across chunks in an f32 buffer of the
  /// workspace (ivl::chunkedLossSumsWeightGrad).
  bool accumulates(bool weightGrad) const {
    return ivl::chunkedLossSumsWeightGrad(tokens, elementBytes, chunk,
                                          weightGrad);
  }
  /// The kernels' scratch (ivl::chunkedLossWorkspaceBytes).
  int64_t workspace(bool weightGrad) const {
    return ivl::chunkedLossWorkspaceBytes(tokens, vocab, hidden, elementBytes,
                                          chunk, weightGrad);
  }

  /// The lm_head GEMM per chunk, then softmax cross-entropy over it.
  OpCost forward() const {
    OpCost c;
    c.flops = matmulFlops(1, tokens, vocab, hidden) +
              kCrossEntropyFlops * tokens * vocab;
    c.bytesRead = hiddenBytes() + chunks() * weightBytes() + tokenBytes() +
                  logitBytes();
    c.bytesWritten = logitBytes() + 4 + 4 * tokens;
    c.workspaceBytes = workspace(false);
    return c;
  }

  /// Per chunk: the logits again, their gradient in place, then
  /// dlogits · W and dlogitsᵀ · hidden as asked.
  OpCost backward(bool hiddenGrad, bool weightGrad) const {
    OpCost c;
    int64_t gemm = matmulFlops(1, tokens, vocab, hidden);
    c.flops = gemm + kCrossEntropyGradFlops * tokens * vocab +
              (hiddenGrad ? gemm : 0) + (weightGrad ? gemm : 0);
    c.bytesRead = hiddenBytes() + chunks() * weightBytes() + tokenBytes() +
                  logitBytes();
    c.bytesWritten = 2 * logitBytes();
    if (hiddenGrad) {
      c.bytesRead += logitBytes() + chunks() * weightBytes();
      c.bytesWritten += hiddenBytes();
    }
    if (weightGrad) {
      int64_t sum = vocab * hidden * 4;
      bool f32 = elementBytes == 4;
      c.bytesRead += logitBytes() + hiddenBytes() +
                     (chunks() - 1) * (f32 ? weightBytes() : sum);
      c.bytesWritten += f32 || chunks() == 1 ? chunks() * weightBytes()
                                             : chunks() * sum + weightBytes();
      if (accumulates(weightGrad))
        c.bytesRead += sum;
    }
    c.workspaceBytes = workspace(weightGrad);
    return c;
  }
};

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
