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

/// Each query position's sample, as [begin, end) of the keys it may see:
/// all `keys` without packing, else the sample holding it (one pair per
/// position of each of the `rows` rows of `length` queries; packed rows have
/// as many keys as queries).
struct Samples {
  std::vector<int64_t> begin, end;
};

ivl_status readSamples(ivl_context *ctx, const char *kernel,
                       const ivl_tensor *cu, int64_t rows, int64_t length,
                       int64_t keys, Samples &samples) {
  samples.begin.assign(rows * length, 0);
  samples.end.assign(rows * length, keys);
  if (!cu)
    return IVL_OK;
  const int64_t *c = ids(*cu);
  int64_t bounds = cu->shape[1];
  if (long long bad = firstBadSampleBound(c, rows, bounds, length); bad >= 0)
    return fail(ctx, IVL_ERROR_INVALID_INPUT,
                "%s: cu_seqlens[%lld][%lld] = %lld breaks 0 = c[0] <= c[1] "
                "<= ... <= c[%lld] = %lld (the sequence length)",
                kernel, bad / bounds, bad % bounds, static_cast<long long>(c[bad]),
                static_cast<long long>(bounds - 1),
                static_cast<long long>(length));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k + 1 < bounds; ++k)
      for (int64_t i = c[r * bounds + k]; i < c[r * bounds + k + 1]; ++i) {
        samples.begin[r * length + i] = c[r * bounds + k];
        samples.end[r * length + i] = c[r * bounds + k + 1];
      }
  return IVL_OK;
}

/// Keys query i of row b attends to: [first, limit).
inline int64_t keyLimit(const Samples &samples, int64_t b, int64_t i,
                        int64_t s, bool causal) {
  return causal ? i + 1 : samples.end[b * s + i];
}
inline int64_t firstKey(const Samples &samples, int64_t b, int64_t i,
                        int64_t s) {
  return samples.begin[b * s + i];
}

} // namespace

namespace ivl::cpu {

ivl_status attention(ivl_context *ctx, const ivl_tensor *q,
                         const ivl_tensor *k, const ivl_tensor *v,
                         const ivl_tensor *cu, int32_t causal, double scale,
                         ivl_tensor *o, ivl_tensor *lse) {
  Dims dims = readDims(*q, *k, *v);
  Samples samples;
  if (ivl_status st = readSamples(ctx, "attention", cu, dims.b, dims.s,
                                  dims.skv, samples))
    return st;
  std::vector<float> qs = toFloat(*q), ks = toFloat(*k), vs = toFloat(*v);
  std::vector<float> out(numel(*o), 0.0f), l(numel(*lse));
  std::vector<float> scores(dims.skv);
  float sc = static_cast<float>(scale);
  for (int64_t b = 0; b < dims.b; ++b)
    for (int64_t h = 0; h < dims.hq; ++h) {
      int64_t kh = h / dims.group;
      for (int64_t i = 0; i < dims.s; ++i) {
        const float *qi = qs.data() + at(b, i, h, dims.s, dims.hq, dims.d);
        int64_t first = firstKey(samples, b, i, dims.s);
        int64_t limit = keyLimit(samples, b, i, dims.s, causal);
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t j = first; j < limit; ++j) {
          const float *kj =
              ks.data() + at(b, j, kh, dims.skv, dims.hkv, dims.d);
          float dot = 0.0f;
          for (int64_t t = 0; t < dims.d; ++t)
            dot += qi[t] * kj[t];
          scores[j] = dot * sc;
          m = std::max(m, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = first; j < limit; ++j)
          sum += std::exp(static_cast<double>(scores[j] - m));
        float rowLse = m + static_cast<float>(std::log(sum));
        l[(b * dims.hq + h) * dims.s + i] = rowLse;
        float *oi = out.data() + at(b, i, h, dims.s, dims.hq, dims.dv);
        for (int64_t j = first; j < limit; ++j) {
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
                              const ivl_tensor *lse, const ivl_tensor *cu,
                              int32_t causal, double scale, ivl_tensor *dq,
                              ivl_tensor *dk, ivl_tensor *dv) {
  Dims dims = readDims(*q, *k, *v);
  Samples samples;
  if (ivl_status st = readSamples(ctx, "attention_grad", cu, dims.b, dims.s,
                                  dims.skv, samples))
    return st;
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
        int64_t first = firstKey(samples, b, i, dims.s);
        int64_t limit = keyLimit(samples, b, i, dims.s, causal);
        for (int64_t j = first; j < limit; ++j) {
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

ivl_status rope(ivl_context *ctx, const ivl_tensor *in, const ivl_tensor *cu,
                double theta, const double *freqFactors,
                double attentionFactor, int32_t inverse, ivl_tensor *out) {
  int64_t bsz = in->shape[0], s = in->shape[1], h = in->shape[2],
          d = in->shape[3], half = d / 2;
  Samples samples;
  if (ivl_status st = readSamples(ctx, "rope", cu, bsz, s, s, samples))
    return st;
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
  for (int64_t b = 0; b < bsz; ++b)
    for (int64_t i = 0; i < s; ++i) {
      // Packed samples restart their positions (InternVL's position_ids).
      int64_t pos = i - samples.begin[b * s + i];
      for (int64_t f = 0; f < half; ++f) {
        float angle = static_cast<float>(pos) * invFreq[f];
        cosv[f] = std::cos(angle) * af;
        sinv[f] = std::sin(angle) * af * sign;
      }
      for (int64_t head = 0; head < h; ++head) {
        int64_t base = ((b * s + i) * h + head) * d;
        for (int64_t f = 0; f < half; ++f) {
          float x1 = x[base + f], x2 = x[base + half + f];
          y[base + f] = x1 * cosv[f] - x2 * sinv[f];
          y[base + half + f] = x2 * cosv[f] + x1 * sinv[f];
        }
      }
    }
  fromFloat(*out, y.data());
  return IVL_OK;
}

} // namespace ivl::cpu
