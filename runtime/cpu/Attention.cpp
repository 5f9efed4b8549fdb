//===- Attention.cpp - attention (flash semantics) and rotary embedding ---===//
//
// One query row at a time: scores, their logsumexp and the weighted values,
// with no S x Skv buffer. Backward recomputes the probabilities from the
// saved logsumexp (FlashAttention-2's algorithm, row by row).
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"
#include "internvl/runtime/KernelShapes.h"

#include <cmath>
#include <limits>

using namespace ivl;
using namespace ivl::cpu;

namespace {

using Dims = AttentionShape;

/// The shapes of q, k, v (the API checked that they group).
Dims readDims(const ivl_tensor &q, const ivl_tensor &k, const ivl_tensor &v) {
  Dims dims{};
  (void)attentionShape(q, k, v, dims);
  return dims;
}

inline int64_t at(int64_t b, int64_t s, int64_t h, int64_t S, int64_t H,
                  int64_t D) {
  return ((b * S + s) * H + h) * D;
}

/// Keys query i attends to: all, or 0..i under the causal mask.
inline int64_t keyLimit(const Dims &dims, int64_t i, bool causal) {
  return causal ? i + 1 : dims.skv;
}

} // namespace

namespace ivl::cpu {

ivl_status attention(ivl_context *ctx, const ivl_tensor *q,
                         const ivl_tensor *k, const ivl_tensor *v,
                         int32_t causal, double scale, ivl_tensor *o,
                         ivl_tensor *lse) {
  Dims dims = readDims(*q, *k, *v);
  std::vector<float> qs = toFloat(*q), ks = toFloat(*k), vs = toFloat(*v);
  std::vector<float> out(numel(*o), 0.0f), l(numel(*lse));
  std::vector<float> scores(dims.skv);
  float sc = static_cast<float>(scale);
  for (int64_t b = 0; b < dims.b; ++b)
    for (int64_t h = 0; h < dims.hq; ++h) {
      int64_t kh = h / dims.group;
      for (int64_t i = 0; i < dims.s; ++i) {
        const float *qi = qs.data() + at(b, i, h, dims.s, dims.hq, dims.d);
        int64_t limit = keyLimit(dims, i, causal);
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < limit; ++j) {
          const float *kj =
              ks.data() + at(b, j, kh, dims.skv, dims.hkv, dims.d);
          float dot = 0.0f;
          for (int64_t t = 0; t < dims.d; ++t)
            dot += qi[t] * kj[t];
          scores[j] = dot * sc;
          m = std::max(m, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < limit; ++j)
          sum += std::exp(static_cast<double>(scores[j] - m));
        float rowLse = m + static_cast<float>(std::log(sum));
        l[(b * dims.hq + h) * dims.s + i] = rowLse;
        float *oi = out.data() + at(b, i, h, dims.s, dims.hq, dims.dv);
        for (int64_t j = 0; j < limit; ++j) {
          float p = std::exp(scores[j] - rowLse);
          const float *vj =
              vs.data() + at(b, j, kh, dims.skv, dims.hkv, dims.dv);
          for (int64_t t = 0; t < dims.dv; ++t)
            oi[t] += p * vj[t];
        }
      }
    }
  fromFloat(*o, out.data());
  fromFloat(*lse, l.data());
  return IVL_OK;
}

ivl_status attention_grad(ivl_context *ctx, const ivl_tensor *dout,
                              const ivl_tensor *q, const ivl_tensor *k,
                              const ivl_tensor *v, const ivl_tensor *o,
                              const ivl_tensor *lse, int32_t causal,
                              double scale, ivl_tensor *dq, ivl_tensor *dk,
                              ivl_tensor *dv) {
  Dims dims = readDims(*q, *k, *v);
  std::vector<float> g = toFloat(*dout), qs = toFloat(*q), ks = toFloat(*k),
                     vs = toFloat(*v), os = toFloat(*o), l = toFloat(*lse);
  std::vector<float> dqs(qs.size(), 0.0f), dks(ks.size(), 0.0f),
      dvs(vs.size(), 0.0f);
  float sc = static_cast<float>(scale);
  for (int64_t b = 0; b < dims.b; ++b)
    for (int64_t h = 0; h < dims.hq; ++h) {
      int64_t kh = h / dims.group;
      for (int64_t i = 0; i < dims.s; ++i) {
        int64_t qi = at(b, i, h, dims.s, dims.hq, dims.d);
        int64_t oi = at(b, i, h, dims.s, dims.hq, dims.dv);
        float rowLse = l[(b * dims.hq + h) * dims.s + i];
        // rowsum(dO * O): the softmax correction term.
        float delta = 0.0f;
        for (int64_t t = 0; t < dims.dv; ++t)
          delta += g[oi + t] * os[oi + t];
        int64_t limit = keyLimit(dims, i, causal);
        for (int64_t j = 0; j < limit; ++j) {
          int64_t kj = at(b, j, kh, dims.skv, dims.hkv, dims.d);
          int64_t vj = at(b, j, kh, dims.skv, dims.hkv, dims.dv);
          float dot = 0.0f;
          for (int64_t t = 0; t < dims.d; ++t)
            dot += qs[qi + t] * ks[kj + t];
          float p = std::exp(dot * sc - rowLse);
          float dp = 0.0f;
          for (int64_t t = 0; t < dims.dv; ++t) {
            dvs[vj + t] += p * g[oi + t];
            dp += g[oi + t] * vs[vj + t];
          }
          float ds = p * (dp - delta) * sc;
          for (int64_t t = 0; t < dims.d; ++t) {
            dqs[qi + t] += ds * ks[kj + t];
            dks[kj + t] += ds * qs[qi + t];
          }
        }
      }
    }
  fromFloat(*dq, dqs.data());
  fromFloat(*dk, dks.data());
  fromFloat(*dv, dvs.data());
  return IVL_OK;
}

ivl_status rope(ivl_context *ctx, const ivl_tensor *in, double theta,
                    const double *freqFactors, double attentionFactor,
                    int32_t inverse, ivl_tensor *out) {
  int64_t bsz = in->shape[0], s = in->shape[1], h = in->shape[2],
          d = in->shape[3], half = d / 2;
  // Frequencies as transformers computes them, in f32.
  std::vector<float> invFreq(half);
  for (int64_t i = 0; i < half; ++i) {
    float base = std::pow(static_cast<float>(theta),
                          static_cast<float>(2 * i) / static_cast<float>(d));
    float factor = freqFactors ? static_cast<float>(freqFactors[i]) : 1.0f;
    invFreq[i] = 1.0f / (factor * base);
  }
  float af = static_cast<float>(attentionFactor);
  float sign = inverse ? -1.0f : 1.0f;
  std::vector<float> x = toFloat(*in), y(x.size());
  std::vector<float> cosv(half), sinv(half);
  for (int64_t pos = 0; pos < s; ++pos) {
    for (int64_t i = 0; i < half; ++i) {
      float angle = static_cast<float>(pos) * invFreq[i];
      cosv[i] = std::cos(angle) * af;
      sinv[i] = std::sin(angle) * af * sign;
    }
    for (int64_t b = 0; b < bsz; ++b)
      for (int64_t head = 0; head < h; ++head) {
        int64_t base = ((b * s + pos) * h + head) * d;
        for (int64_t i = 0; i < half; ++i) {
          float x1 = x[base + i], x2 = x[base + half + i];
          y[base + i] = x1 * cosv[i] - x2 * sinv[i];
          y[base + half + i] = x2 * cosv[i] + x1 * sinv[i];
        }
      }
  }
  fromFloat(*out, y.data());
  return IVL_OK;
}

} // namespace ivl::cpu
