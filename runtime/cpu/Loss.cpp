//===- Loss.cpp - softmax cross-entropy -----------------------------------===//

#include "Tensor.h"

#include <algorithm>
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

/// The logsumexp of one row of logits: max, then the sum of exponentials in
/// f64 (the order both losses and the CUDA kernels share).
float rowLogsumexp(const float *z, int64_t vocab) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < vocab; ++j)
    m = std::max(m, z[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < vocab; ++j)
    sum += std::exp(static_cast<double>(z[j] - m));
  return m + static_cast<float>(std::log(sum));
}

/// The mean over `valid` labelled tokens, NaN without one (PyTorch's mean
/// reduction); weighted, the sum itself (InternVL's reduction='none' loss
/// times loss_weight).
float reduceLoss(double total, int64_t valid, bool weighted) {
  return weighted ? static_cast<float>(total)
         : valid  ? static_cast<float>(total / valid)
                  : std::numeric_limits<float>::quiet_NaN();
}

/// Each token's target under the next-token shift of a [rows, seq] batch:
/// labels[b, t + 1], ignore_index for the last token of a row; with
/// `weights`, the shifted weights too. Checks the targets as countValid does.
ivl_status shiftedTargets(ivl_context *ctx, const ivl_tensor &labels,
                          const ivl_tensor *weights, int64_t seq,
                          int64_t vocab, int64_t ignore,
                          std::vector<int64_t> &targets,
                          std::vector<float> &targetWeights, int64_t &valid) {
  int64_t tokens = numel(labels);
  targets.assign(tokens, ignore);
  targetWeights.assign(weights ? tokens : 0, 0.0f);
  valid = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    if ((t + 1) % seq == 0)
      continue;
    int64_t y = ids(labels)[t + 1];
    if (weights)
      targetWeights[t] = load(*weights, t + 1);
    targets[t] = y;
    if (y == ignore)
      continue;
    if (y < 0 || y >= vocab)
      return fail(ctx, IVL_ERROR_INVALID_INPUT,
                  "linear_cross_entropy: label %lld at position %lld is "
                  "outside the vocabulary [0, %lld) and is not ignore_index "
                  "%lld",
                  static_cast<long long>(y), static_cast<long long>(t + 1),
                  static_cast<long long>(vocab),
                  static_cast<long long>(ignore));
    ++valid;
  }
  return IVL_OK;
}

/// What both chunked-loss kernels read: the shifted targets (checked) and
/// the operands as f32.
struct ChunkedOperands {
  int64_t seq = 0, width = 0, tokens = 0, vocab = 0, valid = 0;
  std::vector<int64_t> targets;
  std::vector<float> targetWeights, x, w;

  ivl_status read(ivl_context *ctx, const ivl_tensor &hidden,
                  const ivl_tensor &weight, const ivl_tensor &labels,
                  const ivl_tensor *weights, int64_t ignore) {
    seq = hidden.shape[1];
    width = hidden.shape[2];
    tokens = hidden.shape[0] * seq;
    vocab = weight.shape[0];
    if (ivl_status s = shiftedTargets(ctx, labels, weights, seq, vocab, ignore,
                                      targets, targetWeights, valid))
      return s;
    x = toFloat(hidden);
    w = toFloat(weight);
    return IVL_OK;
  }
};

/// `value` rounded to `dtype` and read back, as storing a result does.
float rounded(ivl_dtype dtype, float value) {
  alignas(8) unsigned char storage[8];
  ivl_tensor one{storage, dtype, 0, {}};
  store(one, 0, value);
  return load(one, 0);
}

/// Rows [first, first + rows) of hidden · weightᵀ, rounded to the hidden
/// state's type, as ivl::cpu::linear computes them (f32 over H in order).
void logitRows(const std::vector<float> &x, const std::vector<float> &w,
               ivl_dtype dtype, int64_t first, int64_t rows, int64_t vocab,
               int64_t hidden, std::vector<float> &z) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.data() + (first + r) * hidden;
    for (int64_t j = 0; j < vocab; ++j) {
      const float *wr = w.data() + j * hidden;
      float acc = 0.0f;
      for (int64_t i = 0; i < hidden; ++i)
        acc += xr[i] * wr[i];
      z[r * vocab + j] = rounded(dtype, acc);
    }
  }
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
    l[t] = rowLogsumexp(zt, vocab);
    int64_t y = ids(*labels)[t];
    if (y != ignore)
      total += (static_cast<double>(l[t]) - zt[y]) *
               (weights ? load(*weights, t) : 1.0f);
  }
  float result = reduceLoss(total, valid, weights != nullptr);
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

// The chunked loss computes exactly what tg.linear, tg.cross_entropy and
// their gradients compute on the whole logits: the same f32 and f64 sums in
// the same order, so the chunk size never changes a bit.
ivl_status linear_cross_entropy(ivl_context *ctx, const ivl_tensor *hidden,
                                const ivl_tensor *weight,
                                const ivl_tensor *labels,
                                const ivl_tensor *weights, int64_t ignore,
                                int64_t chunk, ivl_tensor *loss,
                                ivl_tensor *lse) {
  ChunkedOperands op;
  if (ivl_status s = op.read(ctx, *hidden, *weight, *labels, weights, ignore))
    return s;
  int64_t tokens = op.tokens, vocab = op.vocab, width = op.width;
  const std::vector<int64_t> &targets = op.targets;
  const std::vector<float> &x = op.x, &w = op.w, &w8 = op.targetWeights;
  std::vector<float> l(tokens), z(std::min(chunk, tokens) * vocab);
  double total = 0.0;
  for (int64_t first = 0; first < tokens; first += chunk) {
    int64_t rows = std::min(chunk, tokens - first);
    logitRows(x, w, hidden->dtype, first, rows, vocab, width, z);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t t = first + r;
      const float *zt = z.data() + r * vocab;
      l[t] = rowLogsumexp(zt, vocab);
      int64_t y = targets[t];
      if (y != ignore)
        total += (static_cast<double>(l[t]) - zt[y]) *
                 (weights ? w8[t] : 1.0f);
    }
  }
  float result = reduceLoss(total, op.valid, weights != nullptr);
  fromFloat(*loss, &result);
  fromFloat(*lse, l.data());
  return IVL_OK;
}

ivl_status linear_cross_entropy_grad(
    ivl_context *ctx, const ivl_tensor *dloss, const ivl_tensor *hidden,
    const ivl_tensor *weight, const ivl_tensor *labels, const ivl_tensor *lse,
    const ivl_tensor *weights, int64_t ignore, int64_t chunk,
    ivl_tensor *dhidden, ivl_tensor *dweight) {
  ChunkedOperands op;
  if (ivl_status s = op.read(ctx, *hidden, *weight, *labels, weights, ignore))
    return s;
  int64_t tokens = op.tokens, vocab = op.vocab, width = op.width,
          valid = op.valid;
  const std::vector<int64_t> &targets = op.targets;
  const std::vector<float> &x = op.x, &w = op.w, &w8 = op.targetWeights;
  std::vector<float> l = toFloat(*lse);
  std::vector<float> z(std::min(chunk, tokens) * vocab);
  std::vector<float> dx(dhidden ? tokens * width : 0),
      dw(dweight ? vocab * width : 0, 0.0f);
  float upstream = load(*dloss, 0);
  float meanScale = upstream / static_cast<float>(valid ? valid : 1);
  ivl_dtype dtype = hidden->dtype;
  for (int64_t first = 0; first < tokens; first += chunk) {
    int64_t rows = std::min(chunk, tokens - first);
    logitRows(x, w, dtype, first, rows, vocab, width, z);
    // The logits' gradient in place, rounded as tg.cross_entropy_grad's.
    for (int64_t r = 0; r < rows; ++r) {
      int64_t t = first + r, y = targets[t];
      float *gt = z.data() + r * vocab;
      if (y == ignore) {
        std::fill(gt, gt + vocab, 0.0f);
        continue;
      }
      float scale = weights ? upstream * w8[t] : meanScale;
      for (int64_t j = 0; j < vocab; ++j)
        gt[j] = std::exp(gt[j] - l[t]) * scale;
      gt[y] -= scale;
      for (int64_t j = 0; j < vocab; ++j)
        gt[j] = rounded(dtype, gt[j]);
    }
    // dX = dlogits · W, as tg.matmul (f32 over V in order).
    for (int64_t r = 0; r < rows && dhidden; ++r)
      for (int64_t i = 0; i < width; ++i) {
        float acc = 0.0f;
        for (int64_t j = 0; j < vocab; ++j)
          acc += z[r * vocab + j] * w[j * width + i];
        dx[(first + r) * width + i] = acc;
      }
    // dW = dlogitsᵀ · X: the f32 sum over tokens continues across chunks.
    if (dweight)
      for (int64_t j = 0; j < vocab; ++j)
        for (int64_t i = 0; i < width; ++i) {
          float acc = dw[j * width + i];
          for (int64_t r = 0; r < rows; ++r)
            acc += z[r * vocab + j] * x[(first + r) * width + i];
          dw[j * width + i] = acc;
        }
  }
  if (dhidden)
    fromFloat(*dhidden, dx.data());
  if (dweight)
    fromFloat(*dweight, dw.data());
  return IVL_OK;
}

} // namespace ivl::cpu
