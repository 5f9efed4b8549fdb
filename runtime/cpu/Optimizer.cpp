//===- Optimizer.cpp - global norm, clipping, AdamW -----------------------===//
//
// AdamW follows torch.optim.AdamW's single-tensor path operation by
// operation (decoupled decay, lerp for the first moment, bias corrections in
// f64 as Python computes them).
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"

#include <algorithm>
#include <cmath>

using namespace ivl;
using namespace ivl::cpu;

double ivl::cpu::sumOfSquares(const ivl_tensor *grads, int32_t count) {
  double sum = 0.0;
  for (int32_t k = 0; k < count; ++k) {
    int64_t n = numel(grads[k]);
    for (int64_t i = 0; i < n; ++i) {
      double v = load(grads[k], i);
      sum += v * v;
    }
  }
  return sum;
}

namespace {

/// torch.optim.AdamW's single-tensor step, element by element, with the
/// weight decay of element i from `decayOf(i)`.
template <typename DecayOf>
ivl_status adamwUpdate(ivl_context *ctx, const char *kernel, const ivl_tensor &master,
                 const ivl_tensor &expAvg, const ivl_tensor &expAvgSq,
                 const ivl_tensor &grad, const ivl_tensor &gradScale,
                 const ivl_tensor &step, double lr, double beta1, double beta2,
                 double epsilon, DecayOf decayOf, ivl_tensor &newMaster,
                 ivl_tensor &newExpAvg, ivl_tensor &newExpAvgSq,
                 ivl_tensor &newParam) {
  int64_t t = ids(step)[0];
  if (t < 1)
    return fail(ctx, IVL_ERROR_INVALID_INPUT,
                "%s: step must be >= 1 (the first update is step 1), got %lld",
                kernel, static_cast<long long>(t));
  std::vector<float> p = toFloat(master), m = toFloat(expAvg),
                     v = toFloat(expAvgSq), g = toFloat(grad);
  float gs = load(gradScale, 0);
  double bc1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  double bc2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  float stepSize = static_cast<float>(lr / bc1);
  float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  float oneMinusBeta1 = static_cast<float>(1.0 - beta1);
  float b2 = static_cast<float>(beta2),
        oneMinusBeta2 = static_cast<float>(1.0 - beta2);
  float eps = static_cast<float>(epsilon);
  for (size_t i = 0; i < p.size(); ++i) {
    float decay = static_cast<float>(1.0 - lr * decayOf(i));
    float gi = g[i] * gs;
    p[i] = p[i] * decay;
    m[i] = m[i] + oneMinusBeta1 * (gi - m[i]);
    v[i] = v[i] * b2 + oneMinusBeta2 * gi * gi;
    float denom = std::sqrt(v[i]) / bc2Sqrt + eps;
    p[i] = p[i] - stepSize * (m[i] / denom);
  }
  fromFloat(newMaster, p.data());
  fromFloat(newExpAvg, m.data());
  fromFloat(newExpAvgSq, v.data());
  fromFloat(newParam, p.data());
  return IVL_OK;
}

} // namespace

namespace ivl::cpu {

ivl_status global_norm(ivl_context *, const ivl_tensor *grads,
                           int32_t count, ivl_tensor *norm) {
  float result = static_cast<float>(std::sqrt(sumOfSquares(grads, count)));
  fromFloat(*norm, &result);
  return IVL_OK;
}

ivl_status clip_scale(ivl_context *, const ivl_tensor *norm, double maxNorm,
                          ivl_tensor *scale) {
  // torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), clamped to 1.
  float n = load(*norm, 0);
  float coef = static_cast<float>(maxNorm) / (n + 1e-6f);
  float result = coef < 1.0f ? coef : 1.0f;
  fromFloat(*scale, &result);
  return IVL_OK;
}

ivl_status adamw(ivl_context *ctx, const ivl_tensor *master,
                     const ivl_tensor *expAvg, const ivl_tensor *expAvgSq,
                     const ivl_tensor *grad, const ivl_tensor *gradScale,
                     const ivl_tensor *step, double lr, double beta1,
                     double beta2, double epsilon, double weightDecay,
                     ivl_tensor *newMaster, ivl_tensor *newExpAvg,
                     ivl_tensor *newExpAvgSq, ivl_tensor *newParam) {
  return adamwUpdate(ctx, "adamw", *master, *expAvg, *expAvgSq, *grad, *gradScale,
               *step, lr, beta1, beta2, epsilon,
               [&](int64_t) { return weightDecay; }, *newMaster, *newExpAvg,
               *newExpAvgSq, *newParam);
}

ivl_status shard_adamw(ivl_context *ctx, const ivl_tensor *master,
                           const ivl_tensor *expAvg,
                           const ivl_tensor *expAvgSq, const ivl_tensor *grad,
                           const ivl_tensor *gradScale, const ivl_tensor *step,
                           double lr, double beta1, double beta2,
                           double epsilon, double weightDecay,
                           const int64_t *segments, const uint8_t *decay,
                           int32_t numSegments, ivl_tensor *newMaster,
                           ivl_tensor *newExpAvg, ivl_tensor *newExpAvgSq,
                           ivl_tensor *newParam) {
  // Element j of the shard is element rank * c + j of the bucket.
  int64_t first = static_cast<int64_t>(ivl_comm_rank(ctx)) * numel(*master);
  std::vector<int64_t> ends(numSegments);
  int64_t end = 0;
  for (int32_t k = 0; k < numSegments; ++k)
    ends[k] = end += segments[k];
  return adamwUpdate(
      ctx, "shard_adamw", *master, *expAvg, *expAvgSq, *grad, *gradScale,
      *step, lr, beta1, beta2, epsilon,
      [&](int64_t j) {
        int64_t flat = first + j;
        auto it = std::upper_bound(ends.begin(), ends.end(), flat);
        return it != ends.end() && decay[it - ends.begin()] ? weightDecay
                                                            : 0.0;
      },
      *newMaster, *newExpAvg, *newExpAvgSq, *newParam);
}

} // namespace ivl::cpu
