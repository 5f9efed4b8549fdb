//===- KernelShapes.h - the shapes kernels agree on ----------------*- C++ -*-===//
//
// How tg.matmul and tg.attention read their operands' shapes, shared by the
// CPU and CUDA runtimes so both implement the same semantics.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_KERNELSHAPES_H
#define INTERNVL_RUNTIME_KERNELSHAPES_H

#include "internvl/runtime/Numeric.h"
#include "internvl/runtime/Runtime.h"

namespace ivl {

/// out[batch, m, n] = op(lhs)[m, k] . op(rhs)[k, n]. A rank-2 rhs with a
/// higher-rank lhs is shared: every leading dimension of lhs becomes a row
/// (batch 1). lhs is [la, lb] per batch, rhs [ra, rb].
struct MatmulShape {
  int64_t m, n, k, batch;
  int64_t la, lb, ra, rb;
  bool shared;
};

/// False when an operand has rank < 2.
inline bool matmulShape(const ivl_tensor &lhs, const ivl_tensor &rhs,
                        int transposeLhs, int transposeRhs, MatmulShape &s) {
  if (lhs.rank < 2 || rhs.rank < 2)
    return false;
  s.shared = rhs.rank == 2 && lhs.rank > 2;
  s.la = lhs.shape[lhs.rank - 2];
  s.lb = lhs.shape[lhs.rank - 1];
  s.ra = rhs.shape[rhs.rank - 2];
  s.rb = rhs.shape[rhs.rank - 1];
  s.m = transposeLhs ? s.lb : s.la;
  s.k = transposeLhs ? s.la : s.lb;
  s.n = transposeRhs ? s.ra : s.rb;
  int64_t perBatch = s.la * s.lb;
  s.batch = perBatch ? ivl_numel(&lhs) / perBatch : 0;
  if (s.shared) {
    s.m = s.lb ? ivl_numel(&lhs) / s.lb : 0;
    s.batch = 1;
  }
  return true;
}

/// q [b, s, hq, d], k [b, skv, hkv, d], v [b, skv, hkv, dv]; each key head
/// serves `group` consecutive query heads.
struct AttentionShape {
  int64_t b, s, hq, d, skv, hkv, dv, group;
};

/// False unless q, k, v have rank 4 and the query heads group onto the key
/// heads.
inline bool attentionShape(const ivl_tensor &q, const ivl_tensor &k,
                           const ivl_tensor &v, AttentionShape &a) {
  if (q.rank != 4 || k.rank != 4 || v.rank != 4)
    return false;
  a = {q.shape[0], q.shape[1], q.shape[2], q.shape[3],
       k.shape[1], k.shape[2], v.shape[3], 1};
  if (a.hkv == 0 || a.hq % a.hkv != 0)
    return false;
  a.group = a.hq / a.hkv;
  return true;
}

/// The packed-sequence rules of cu_seqlens ([rows, bounds] row-major, as
/// ivl_attention documents them): each row is 0 = c[0] <= ... <=
/// c[bounds-1] = length. Returns the flat index of the first element that
/// breaks them, or -1.
IVL_HOST_DEVICE long long firstBadSampleBound(const int64_t *c, int64_t rows,
                                              int64_t bounds, int64_t length) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t *row = c + r * bounds;
    if (row[0] != 0)
      return r * bounds;
    for (int64_t k = 1; k < bounds; ++k)
      if (row[k] < row[k - 1] || row[k] > length)
        return r * bounds + k;
    if (row[bounds - 1] != length)
      return r * bounds + bounds - 1;
  }
  return -1;
}

/// Whether tg.linear_cross_entropy_grad sums the weight's gradient in an f32
/// buffer of its scratch: over several chunks, for a weight narrower than f32
/// (an f32 weight's gradient accumulates in place).
inline bool chunkedLossSumsWeightGrad(int64_t tokens, int64_t elementBytes,
                                      int64_t chunk, bool weightGrad) {
  return weightGrad && chunk < tokens && elementBytes != 4;
}

/// Scratch of tg.linear_cross_entropy(_grad) over `tokens` rows: `chunk` rows
/// of logits of `elementBytes` each and, when the gradient sums the weight's
/// gradient in f32, that [vocab, hidden] sum.
inline int64_t chunkedLossWorkspaceBytes(int64_t tokens, int64_t vocab,
                                         int64_t hidden, int64_t elementBytes,
                                         int64_t chunk, bool weightGrad) {
  int64_t rows = chunk < tokens ? chunk : tokens;
  bool sums = chunkedLossSumsWeightGrad(tokens, elementBytes, chunk, weightGrad);
  return rows * vocab * elementBytes + (sums ? vocab * hidden * 4 : 0);
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_KERNELSHAPES_H
