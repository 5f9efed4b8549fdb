//===- Loss.cpp - softmax cross-entropy -----------------------------------===//

#include "Tensor.h"

#include <cmath>
#include <limits>

using namespace ivl;
using namespace ivl::cpu;

namespace {

/// Checks the labels and counts those that take part in the loss.
ivl_status countValid(ivl_context *ctx, const ivl_tensor &labels, int64_t vocab,
                      int64_t ignore, int64_t &valid) {
  valid = 0;
  int64_t n = numel(labels);
  for (int64_t t = 0; t < n; ++t) {
    int64_t y = ids(labels)[t];
    if (y == ignore)
      continue;
    if (y < 0 || y >= vocab)
      return fail(ctx, IVL_ERROR_INVALID_INPUT,
                  "cross_entropy: label %lld at position %lld is outside the "
                  "vocabulary [0, %lld) and is not ignore_index %lld",
                  static_cast<long long>(y), static_cast<long long>(t),
                  static_cast<long long>(vocab),
                  static_cast<long long>(ignore));
    ++valid;
  }
  return IVL_OK;
}

} // namespace

namespace ivl::cpu {

ivl_status cross_entropy(ivl_context *ctx, const ivl_tensor *logits,
                         const ivl_tensor *labels, const ivl_tensor *weights,
                         int64_t ignore, ivl_tensor *loss, ivl_tensor *lse) {
  int64_t tokens = logits->shape[0], vocab = logits->shape[1], valid;
  if (ivl_status s = countValid(ctx, *labels, vocab, ignore, valid))
    return s;
  std::vector<float> z = toFloat(*logits), l(tokens);
  double total = 0.0;
  for (int64_t t = 0; t < tokens; ++t) {
    const float *zt = z.data() + t * vocab;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < vocab; ++j)
      m = std::max(m, zt[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < vocab; ++j)
      sum += std::exp(static_cast<double>(zt[j] - m));
    l[t] = m + static_cast<float>(std::log(sum));
    int64_t y = ids(*labels)[t];
    if (y != ignore)
      total += (static_cast<double>(l[t]) - zt[y]) *
               (weights ? load(*weights, t) : 1.0f);
  }
  // PyTorch's mean reduction: NaN when no token has a label. Weighted: the
  // sum, as InternVL's reduction='none' loss times loss_weight.
  float result = weights ? static_cast<float>(total)
                 : valid ? static_cast<float>(total / valid)
                         : std::numeric_limits<float>::quiet_NaN();
  fromFloat(*loss, &result);
  fromFloat(*lse, l.data());
  return IVL_OK;
}

ivl_status cross_entropy_grad(ivl_context *ctx, const ivl_tensor *dloss,
                                  const ivl_tensor *logits,
                                  const ivl_tensor *labels,
                              const ivl_tensor *lse, const ivl_tensor *weights,
                              int64_t ignore, ivl_tensor *dlogits) {
  int64_t tokens = logits->shape[0], vocab = logits->shape[1], valid;
  if (ivl_status s = countValid(ctx, *labels, vocab, ignore, valid))
    return s;
  std::vector<float> z = toFloat(*logits), l = toFloat(*lse),
                     g(tokens * vocab, 0.0f);
  float upstream = load(*dloss, 0);
  float meanScale = upstream / static_cast<float>(valid ? valid : 1);
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t y = ids(*labels)[t];
    if (y == ignore)
      continue;
    float scale = weights ? upstream * load(*weights, t) : meanScale;
    for (int64_t j = 0; j < vocab; ++j)
      g[t * vocab + j] = std::exp(z[t * vocab + j] - l[t]) * scale;
    g[t * vocab + y] -= scale;
  }
  fromFloat(*dlogits, g.data());
  return IVL_OK;
}

} // namespace ivl::cpu
