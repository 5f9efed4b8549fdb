//===- Attention.cpp - conformance of attention and rope ------------------===//
//
// q [B,S,Hq,D], k [B,Skv,Hkv,D], v [B,Skv,Hkv,Dv] -> o [B,S,Hq,Dv] and an
// f32 lse [B,Hq,S]; query head h reads key head h / (Hq / Hkv); under the
// causal mask query i sees keys 0..i (the cases keep S == Skv there).
// Packed rows (cu_seqlens [B, N+1]): a query sees only its sample's keys.
//
// attention_grad takes o and lse computed by the f64 reference here (o
// rounded to its dtype, lse to f32), so it is tested apart from
// ivl_attention; its reference differentiates with those given o and lse
// (p = exp(scale q.k - lse), delta = dO.o), which is what the kernel API
// means. One case (f32_chained) feeds it ivl_attention's own o and lse.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <algorithm>
#include <cmath>

using namespace conformance;

namespace {

double maxAbsOf(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

struct Dims {
  int64_t b, s, hq, d, skv, hkv, dv;
  Shape q() const { return {b, s, hq, d}; }
  Shape k() const { return {b, skv, hkv, d}; }
  Shape v() const { return {b, skv, hkv, dv}; }
  Shape o() const { return {b, s, hq, dv}; }
  Shape lse() const { return {b, hq, s}; }
  int64_t qAt(int64_t bi, int64_t i, int64_t h) const {
    return ((bi * s + i) * hq + h) * d;
  }
  int64_t kAt(int64_t bi, int64_t j, int64_t h) const {
    return ((bi * skv + j) * hkv + h) * d;
  }
  int64_t vAt(int64_t bi, int64_t j, int64_t h) const {
    return ((bi * skv + j) * hkv + h) * dv;
  }
  int64_t oAt(int64_t bi, int64_t i, int64_t h) const {
    return ((bi * s + i) * hq + h) * dv;
  }
  int64_t lseAt(int64_t bi, int64_t h, int64_t i) const {
    return (bi * hq + h) * s + i;
  }
  /// Packed rows: each row's N+1 sample boundaries, row after row (empty:
  /// no packing).
  std::vector<int64_t> cu = {};
  int64_t bounds() const { return b ? static_cast<int64_t>(cu.size()) / b : 0; }
  /// The sample holding position i of row bi: [begin, end).
  std::pair<int64_t, int64_t> sample(int64_t bi, int64_t i) const {
    if (cu.empty())
      return {0, skv};
    for (int64_t k = 0; k + 1 < bounds(); ++k) {
      int64_t lo = cu[bi * bounds() + k], hi = cu[bi * bounds() + k + 1];
      if (lo <= i && i < hi)
        return {lo, hi};
    }
    return {0, 0};
  }
  /// The keys query i of row bi sees: [first, limit).
  int64_t first(int64_t bi, int64_t i) const { return sample(bi, i).first; }
  int64_t limit(int64_t bi, int64_t i, bool causal) const {
    return causal ? i + 1 : sample(bi, i).second;
  }
};

/// The boundaries as a device tensor, or null without packing.
struct Bounds {
  ivl_tensor view{};
  bool set = false;
  const ivl_tensor *get() const { return set ? &view : nullptr; }
};
Bounds boundsOf(Case &c, const Dims &a) {
  Bounds b;
  if (a.cu.empty())
    return b;
  std::vector<double> values(a.cu.begin(), a.cu.end());
  b.view = c.device(Tensor{IVL_I64, {a.b, a.bounds()}, values});
  b.set = true;
  return b;
}

double dot(const Tensor &a, int64_t ai, const Tensor &b, int64_t bi,
           int64_t n) {
  double sum = 0;
  for (int64_t t = 0; t < n; ++t)
    sum += a[ai + t] * b[bi + t];
  return sum;
}

void attentionRef(const Dims &a, const Tensor &q, const Tensor &k,
                  const Tensor &v, bool causal, double scale,
                  std::vector<double> &o, std::vector<double> &lse) {
  o.assign(numel(a.o()), 0.0);
  lse.assign(numel(a.lse()), 0.0);
  int64_t group = a.hq / a.hkv;
  std::vector<double> s(a.skv);
  for (int64_t b = 0; b < a.b; ++b)
    for (int64_t h = 0; h < a.hq; ++h)
      for (int64_t i = 0; i < a.s; ++i) {
        int64_t kh = h / group, j0 = a.first(b, i), n = a.limit(b, i, causal);
        double m = -INFINITY;
        for (int64_t j = j0; j < n; ++j) {
          s[j] = scale * dot(q, a.qAt(b, i, h), k, a.kAt(b, j, kh), a.d);
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = j0; j < n; ++j)
          sum += std::exp(s[j] - m);
        double l = m + std::log(sum);
        lse[a.lseAt(b, h, i)] = l;
        for (int64_t j = j0; j < n; ++j) {
          double p = std::exp(s[j] - l);
          for (int64_t t = 0; t < a.dv; ++t)
            o[a.oAt(b, i, h) + t] += p * v[a.vAt(b, j, kh) + t];
        }
      }
}

/// scale = 1/sqrt(D) throughout.
double softmaxScale(const Dims &a) {
  return 1.0 / std::sqrt(static_cast<double>(a.d));
}

void attentionCase(Case &c, ivl_dtype dtype, Dims a, bool causal) {
  double scale = softmaxScale(a);
  Tensor q = c.random(dtype, a.q()), k = c.random(dtype, a.k()),
         v = c.random(dtype, a.v());
  ivl_tensor qd = c.device(q), kd = c.device(k), vd = c.device(v),
             o = c.output(dtype, a.o()), lse = c.output(IVL_F32, a.lse());
  Bounds cu = boundsOf(c, a);
  if (!c.call(ivl_attention(c.context(), &qd, &kd, &vd, cu.get(), causal,
                            scale, &o, &lse)))
    return;
  std::vector<double> wantO, wantLse;
  attentionRef(a, q, k, v, causal, scale, wantO, wantLse);
  // o is a convex combination of rows of v (|v| < 1); lse is f32 always,
  // its terms (the largest score, log of the sum) about 1.
  c.expect("o", o, wantO, toleranceFor(dtype, 1.0));
  c.expect("lse", lse, wantLse, toleranceFor(IVL_F32, 1.0));
}

} // namespace

//===--- attention --------------------------------------------------------===//

CONFORMANCE_CASE(attention, f32_mha_causal_d64) {
  attentionCase(c, IVL_F32, {2, 17, 2, 64, 17, 2, 64}, true);
}

CONFORMANCE_CASE(attention, f32_gqa2_noncausal_cross) {
  // S != Skv, Dv != D.
  attentionCase(c, IVL_F32, {1, 5, 4, 8, 13, 2, 16}, false);
}

CONFORMANCE_CASE(attention, bf16_gqa4_causal_d8) {
  attentionCase(c, IVL_BF16, {2, 33, 8, 8, 33, 2, 8}, true);
}

CONFORMANCE_CASE(attention, f32_noncausal_more_queries_than_keys) {
  attentionCase(c, IVL_F32, {2, 11, 2, 8, 4, 1, 8}, false);
}

CONFORMANCE_CASE(attention, bf16_gqa2_noncausal_d64) {
  attentionCase(c, IVL_BF16, {1, 9, 4, 64, 31, 2, 64}, false);
}

CONFORMANCE_CASE(attention, one_query) {
  // A decode step: one query row against 7 keys, and causal S = Skv = 1.
  attentionCase(c, IVL_F32, {3, 1, 4, 8, 7, 1, 8}, false);
  attentionCase(c, IVL_F32, {2, 1, 2, 8, 1, 2, 8}, true);
}

// Packed rows (varlen attention): samples of several lengths, an empty
// sample (a repeated boundary) and the padding segment at the end.
CONFORMANCE_CASE(attention, f32_packed_gqa_causal) {
  Dims a{2, 23, 4, 16, 23, 2, 16};
  a.cu = {0, 5, 5, 12, 23, 23, /*row 1:*/ 0, 1, 9, 20, 21, 23};
  attentionCase(c, IVL_F32, a, true);
}

CONFORMANCE_CASE(attention, bf16_packed_causal_d64) {
  Dims a{1, 40, 2, 64, 40, 2, 64};
  a.cu = {0, 17, 31, 40};
  attentionCase(c, IVL_BF16, a, true);
}

CONFORMANCE_CASE(attention, f32_packed_noncausal) {
  // Bidirectional within a sample (no model uses it; the API allows it).
  Dims a{1, 19, 2, 8, 19, 1, 8};
  a.cu = {0, 6, 6, 19};
  attentionCase(c, IVL_F32, a, false);
}

CONFORMANCE_CASE(attention, bad_sample_bounds_rejected) {
  // Each breaks 0 = c[0] <= ... <= c[N] = S; found where the kernel reads
  // them (on a GPU at the next synchronisation).
  Dims a{1, 8, 2, 8, 8, 2, 8};
  for (std::vector<int64_t> cu : std::vector<std::vector<int64_t>>{
           {1, 4, 8}, {0, 5, 3, 8}, {0, 4, 7}, {0, 4, 9}}) {
    Tensor q = c.random(IVL_F32, a.q()), k = c.random(IVL_F32, a.k()),
           v = c.random(IVL_F32, a.v());
    ivl_tensor qd = c.device(q), kd = c.device(k), vd = c.device(v),
               o = c.output(IVL_F32, a.o()), lse = c.output(IVL_F32, a.lse()),
               cud = c.device(Tensor{IVL_I64,
                                     {1, static_cast<int64_t>(cu.size())},
                                     std::vector<double>(cu.begin(), cu.end())});
    c.expectStatus(ivl_attention(c.context(), &qd, &kd, &vd, &cud, 1,
                                 softmaxScale(a), &o, &lse),
                   IVL_ERROR_INVALID_INPUT, "boundaries out of order");
  }
}

CONFORMANCE_CASE(attention, empty_batch) {
  attentionCase(c, IVL_F32, {0, 4, 2, 8, 4, 2, 8}, true);
  attentionCase(c, IVL_BF16, {0, 3, 4, 8, 5, 1, 8}, false);
}

//===--- attention_grad ---------------------------------------------------===//

namespace {

/// The gradients of attention given its o and lse.
void attentionGradRef(const Dims &a, const Tensor &g, const Tensor &q,
                      const Tensor &k, const Tensor &v, const Tensor &o,
                      const Tensor &lse, bool causal, double scale,
                      std::vector<double> &dq, std::vector<double> &dk,
                      std::vector<double> &dv) {
  dq.assign(q.size(), 0.0);
  dk.assign(k.size(), 0.0);
  dv.assign(v.size(), 0.0);
  int64_t group = a.hq / a.hkv;
  for (int64_t b = 0; b < a.b; ++b)
    for (int64_t h = 0; h < a.hq; ++h)
      for (int64_t i = 0; i < a.s; ++i) {
        int64_t kh = h / group, qi = a.qAt(b, i, h), oi = a.oAt(b, i, h);
        double l = lse[a.lseAt(b, h, i)];
        double delta = dot(g, oi, o, oi, a.dv);
        for (int64_t j = a.first(b, i); j < a.limit(b, i, causal); ++j) {
          int64_t kj = a.kAt(b, j, kh), vj = a.vAt(b, j, kh);
          double p = std::exp(scale * dot(q, qi, k, kj, a.d) - l);
          double dp = dot(g, oi, v, vj, a.dv);
          for (int64_t t = 0; t < a.dv; ++t)
            dv[vj + t] += p * g[oi + t];
          double ds = p * (dp - delta) * scale;
          for (int64_t t = 0; t < a.d; ++t) {
            dq[qi + t] += ds * k[kj + t];
            dk[kj + t] += ds * q[qi + t];
          }
        }
      }
}

/// chained: o and lse from ivl_attention rather than the reference.
void attentionGradCase(Case &c, ivl_dtype dtype, Dims a, bool causal,
                       bool chained = false) {
  double scale = softmaxScale(a);
  Tensor q = c.random(dtype, a.q()), k = c.random(dtype, a.k()),
         v = c.random(dtype, a.v()), g = c.random(dtype, a.o());
  std::vector<double> refO, refLse;
  attentionRef(a, q, k, v, causal, scale, refO, refLse);
  Tensor o{dtype, a.o(), refO}, lse{IVL_F32, a.lse(), refLse};
  for (double &x : o.values)
    x = roundTo(dtype, x);
  for (double &x : lse.values)
    x = roundTo(IVL_F32, x);
  ivl_tensor qd = c.device(q), kd = c.device(k), vd = c.device(v),
             gd = c.device(g), od, ld;
  Bounds cu = boundsOf(c, a);
  if (chained) {
    od = c.output(dtype, a.o());
    ld = c.output(IVL_F32, a.lse());
    if (!c.call(ivl_attention(c.context(), &qd, &kd, &vd, cu.get(), causal,
                              scale, &od, &ld)))
      return;
    o = c.fetch(od);
    lse = c.fetch(ld);
  } else {
    od = c.device(o);
    ld = c.device(lse);
  }
  ivl_tensor dq = c.output(dtype, a.q()), dk = c.output(dtype, a.k()),
             dv = c.output(dtype, a.v());
  // The CUDA kernel keeps rowsum(dO * O) in the scratch, one f32 per row.
  int64_t rows = a.b * a.hq * a.s;
  ivl_tensor scratch = c.output(IVL_F32, {rows});
  if (!c.call(ivl_set_scratch(c.context(), scratch.data, rows * 4)))
    return;
  bool ok = c.call(ivl_attention_grad(c.context(), &gd, &qd, &kd, &vd, &od,
                                      &ld, cu.get(), causal, scale, &dq, &dk,
                                      &dv));
  c.call(ivl_set_scratch(c.context(), nullptr, 0));
  if (!ok)
    return;
  std::vector<double> wantDq, wantDk, wantDv;
  attentionGradRef(a, g, q, k, v, o, lse, causal, scale, wantDq, wantDk,
                   wantDv);
  // Each gradient is a sum of random-sign terms no larger than the sum, so
  // its largest element is the size of the terms.
  c.expect("dq", dq, wantDq, toleranceFor(dtype, maxAbsOf(wantDq)));
  c.expect("dk", dk, wantDk, toleranceFor(dtype, maxAbsOf(wantDk)));
  c.expect("dv", dv, wantDv, toleranceFor(dtype, maxAbsOf(wantDv)));
}

} // namespace

CONFORMANCE_CASE(attention_grad, f32_mha_causal_d64) {
  attentionGradCase(c, IVL_F32, {2, 13, 2, 64, 13, 2, 64}, true);
}

CONFORMANCE_CASE(attention_grad, f32_gqa2_noncausal_cross) {
  attentionGradCase(c, IVL_F32, {1, 7, 4, 8, 19, 2, 8}, false);
}

CONFORMANCE_CASE(attention_grad, f32_gqa4_causal_d8) {
  attentionGradCase(c, IVL_F32, {2, 33, 8, 8, 33, 2, 8}, true);
}

CONFORMANCE_CASE(attention_grad, bf16_gqa4_noncausal_d64) {
  attentionGradCase(c, IVL_BF16, {1, 11, 4, 64, 23, 1, 64}, false);
}

CONFORMANCE_CASE(attention_grad, bf16_gqa2_causal_d8) {
  attentionGradCase(c, IVL_BF16, {2, 17, 4, 8, 17, 2, 8}, true);
}

CONFORMANCE_CASE(attention_grad, f32_chained) {
  attentionGradCase(c, IVL_F32, {1, 21, 4, 64, 21, 2, 64}, true, true);
}

CONFORMANCE_CASE(attention_grad, f32_packed_gqa_causal) {
  Dims a{2, 21, 4, 16, 21, 2, 16};
  a.cu = {0, 4, 4, 13, 21, /*row 1:*/ 0, 11, 12, 20, 21};
  attentionGradCase(c, IVL_F32, a, true);
}

CONFORMANCE_CASE(attention_grad, bf16_packed_chained_d64) {
  Dims a{1, 33, 2, 64, 33, 1, 64};
  a.cu = {0, 9, 30, 33};
  attentionGradCase(c, IVL_BF16, a, true, true);
}

CONFORMANCE_CASE(attention_grad, f32_noncausal_more_queries_than_keys) {
  attentionGradCase(c, IVL_F32, {1, 12, 2, 8, 5, 2, 8}, false);
}

// No query rows: dq is empty, dk and dv are sums of nothing, zeros.
CONFORMANCE_CASE(attention_grad, zero_queries) {
  attentionGradCase(c, IVL_F32, {1, 0, 2, 8, 5, 1, 8}, false);
}

//===--- rope -------------------------------------------------------------===//

namespace {

/// y = R(pos * f_i) x on pairs (i, i + D/2), times attention_factor;
/// inverse rotates by the negative angle (the adjoint: af R^T).
std::vector<double> ropeRef(const Tensor &x, double theta,
                            const std::vector<double> &factors, double af,
                            bool inverse,
                            const std::vector<int64_t> &cu = {}) {
  int64_t bsz = x.shape[0], s = x.shape[1], h = x.shape[2], d = x.shape[3],
          half = d / 2;
  // The inverse frequencies and the angles are f32, as transformers
  // computes them (inv_freq an f32 tensor, positions times it in f32).
  std::vector<double> inv(half);
  for (int64_t i = 0; i < half; ++i)
    inv[i] = roundTo(IVL_F32,
                     1.0 / ((factors.empty() ? 1.0 : factors[i]) *
                            std::pow(theta, 2.0 * i / d)));
  std::vector<double> y(x.size());
  int64_t bounds = bsz ? static_cast<int64_t>(cu.size()) / bsz : 0;
  for (int64_t b = 0; b < bsz; ++b)
    for (int64_t token = 0; token < s; ++token)
      for (int64_t head = 0; head < h; ++head) {
        int64_t base = ((b * s + token) * h + head) * d;
        // Packed: the position within the token's sample.
        int64_t pos = token;
        for (int64_t k = 0; k + 1 < bounds; ++k)
          if (cu[b * bounds + k] <= token && token < cu[b * bounds + k + 1])
            pos = token - cu[b * bounds + k];
        for (int64_t i = 0; i < half; ++i) {
          double angle = roundTo(IVL_F32, pos * inv[i]);
          double cs = std::cos(angle) * af,
                 sn = std::sin(angle) * af * (inverse ? -1 : 1);
          double x1 = x[base + i], x2 = x[base + half + i];
          y[base + i] = x1 * cs - x2 * sn;
          y[base + half + i] = x2 * cs + x1 * sn;
        }
      }
  return y;
}

void ropeCase(Case &c, ivl_dtype dtype, Shape shape, double theta,
              std::vector<double> factors, double af, bool inverse,
              std::vector<int64_t> cu = {}) {
  Tensor x = c.random(dtype, shape);
  ivl_tensor xd = c.device(x), y = c.output(dtype, shape), cud{};
  if (!cu.empty())
    cud = c.device(Tensor{IVL_I64,
                          {shape[0], static_cast<int64_t>(cu.size()) / shape[0]},
                          std::vector<double>(cu.begin(), cu.end())});
  if (!c.call(ivl_rope(c.context(), &xd, cu.empty() ? nullptr : &cud, theta,
                       factors.empty() ? nullptr : factors.data(), af,
                       inverse, &y)))
    return;
  // Each output is x1 cos - x2 sin, times af: terms about af.
  c.expect("out", y, ropeRef(x, theta, factors, af, inverse, cu),
           toleranceFor(dtype, af));
}

/// Llama-3 style factors: 1 for the fast pairs, up to 8 for the slow ones.
std::vector<double> llamaFactors(int64_t half) {
  std::vector<double> f(half);
  for (int64_t i = 0; i < half; ++i)
    f[i] = 1.0 + 7.0 * static_cast<double>(i) / std::max<int64_t>(half - 1, 1);
  return f;
}

} // namespace

CONFORMANCE_CASE(rope, f32_plain) {
  ropeCase(c, IVL_F32, {2, 37, 3, 8}, 10000.0, {}, 1.0, false);
}

CONFORMANCE_CASE(rope, bf16_d64) {
  ropeCase(c, IVL_BF16, {1, 19, 2, 64}, 10000.0, {}, 1.0, false);
}

CONFORMANCE_CASE(rope, freq_factors) {
  ropeCase(c, IVL_F32, {1, 29, 2, 64}, 500000.0, llamaFactors(32), 1.0, false);
  ropeCase(c, IVL_BF16, {2, 9, 1, 16}, 500000.0, llamaFactors(8), 1.0, false);
}

CONFORMANCE_CASE(rope, attention_factor) {
  ropeCase(c, IVL_F32, {1, 23, 3, 16}, 1e6, llamaFactors(8), 1.2, false);
  ropeCase(c, IVL_BF16, {2, 5, 2, 32}, 10000.0, {}, 0.75, false);
}

CONFORMANCE_CASE(rope, inverse) {
  // Against the reference directly, with factors and af != 1.
  ropeCase(c, IVL_F32, {2, 15, 2, 16}, 10000.0, llamaFactors(8), 0.8, true);
  ropeCase(c, IVL_BF16, {1, 11, 3, 64}, 10000.0, {}, 1.0, true);
  // inverse(forward(x)) = af^2 x; with af = 1 it gives x back.
  for (ivl_dtype dtype : {IVL_F32, IVL_BF16}) {
    Shape shape{2, 13, 3, 32};
    std::vector<double> f = llamaFactors(16);
    Tensor x = c.random(dtype, shape);
    ivl_tensor xd = c.device(x), y = c.output(dtype, shape),
               back = c.output(dtype, shape);
    if (!c.call(ivl_rope(c.context(), &xd, nullptr, 10000.0, f.data(), 1.0, 0,
                         &y)) ||
        !c.call(ivl_rope(c.context(), &y, nullptr, 10000.0, f.data(), 1.0, 1,
                         &back)))
      return;
    // bf16: the rotated values are rounded to bf16 before rotating back
    // (the doubled intermediate rounding of toleranceFor); |x| < 1.
    c.expect("inverse(forward(x))", back, x.values, toleranceFor(dtype, 1.0));
  }
}

CONFORMANCE_CASE(rope, packed_positions) {
  // Positions restart at each sample (and at the padding segment).
  ropeCase(c, IVL_F32, {2, 21, 2, 16}, 10000.0, {}, 1.0, false,
           {0, 7, 7, 15, 21, /*row 1:*/ 0, 20, 21, 21, 21});
  ropeCase(c, IVL_BF16, {1, 30, 2, 64}, 1e6, llamaFactors(32), 1.0, true,
           {0, 11, 30});
}

CONFORMANCE_CASE(rope, empty) {
  ropeCase(c, IVL_F32, {2, 0, 3, 8}, 10000.0, {}, 1.0, false);
  ropeCase(c, IVL_BF16, {0, 4, 2, 8}, 10000.0, llamaFactors(4), 1.0, true);
}
