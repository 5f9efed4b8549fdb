//===- Loss.cpp - conformance cases -------------------------------------===//

#include "Conformance.h"
#include "internvl/runtime/KernelShapes.h"

#include <algorithm>
#include <cmath>
#include <string>

using namespace conformance;

namespace {

constexpr int64_t kIgnore = -100;

/// The f64 reference of cross_entropy: per-token logsumexp and the mean of
/// lse - z[label] over the labelled tokens (NaN when there is none); with
/// weights, the weighted sum over them.
struct CrossEntropyRef {
  std::vector<double> lse;
  double loss = NAN;
  int64_t valid = 0;
};

CrossEntropyRef crossEntropyRef(const Tensor &logits, const Tensor &labels,
                                int64_t ignore,
                                const Tensor *weights = nullptr) {
  int64_t tokens = logits.shape[0], vocab = logits.shape[1];
  CrossEntropyRef r;
  r.lse.resize(tokens);
  double total = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    double m = -INFINITY;
    for (int64_t j = 0; j < vocab; ++j)
      m = std::max(m, logits[t * vocab + j]);
    double sum = 0;
    for (int64_t j = 0; j < vocab; ++j)
      sum += std::exp(logits[t * vocab + j] - m);
    r.lse[t] = m + std::log(sum);
    int64_t y = static_cast<int64_t>(labels[t]);
    if (y == ignore)
      continue;
    total += (r.lse[t] - logits[t * vocab + y]) * (weights ? (*weights)[t] : 1);
    ++r.valid;
  }
  r.loss = weights ? total : r.valid ? total / static_cast<double>(r.valid) : NAN;
  return r;
}

/// grad * (softmax(z_t) - onehot(y_t)) / valid for labelled tokens, 0 for
/// the others.
std::vector<double> crossEntropyGradRef(double dloss, const Tensor &logits,
                                        const Tensor &labels, int64_t ignore,
                                        const Tensor *weights = nullptr) {
  int64_t tokens = logits.shape[0], vocab = logits.shape[1];
  CrossEntropyRef f = crossEntropyRef(logits, labels, ignore);
  std::vector<double> g(tokens * vocab, 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t y = static_cast<int64_t>(labels[t]);
    if (y == ignore)
      continue;
    double scale = weights ? dloss * (*weights)[t]
                           : dloss / static_cast<double>(f.valid ? f.valid : 1);
    for (int64_t j = 0; j < vocab; ++j)
      g[t * vocab + j] = std::exp(logits[t * vocab + j] - f.lse[t]) * scale;
    g[t * vocab + y] -= scale;
  }
  return g;
}

/// Labels in [0, vocab) with every `every`-th token (from `first`) ignored.
Tensor labelsWithIgnored(Case &c, int64_t tokens, int64_t vocab,
                         int64_t every, int64_t first) {
  Tensor labels = c.integers({tokens}, 0, vocab);
  for (int64_t t = first; every > 0 && t < tokens; t += every)
    labels[t] = kIgnore;
  return labels;
}

/// The forward kernel against the reference: loss (f32 scalar) and lse (f32
/// [T]); both are f32 whatever the logits are, and their terms are about
/// |lse| in size.
void checkForward(Case &c, const Tensor &logits, const Tensor &labels,
                  int64_t ignore = kIgnore, const Tensor *weights = nullptr) {
  int64_t tokens = logits.shape[0];
  ivl_tensor z = c.device(logits), y = c.device(labels), w{};
  if (weights)
    w = c.device(*weights);
  ivl_tensor loss = c.output(IVL_F32, {}), lse = c.output(IVL_F32, {tokens});
  if (!c.call(ivl_cross_entropy(c.context(), &z, &y, weights ? &w : nullptr,
                                ignore, &loss, &lse)))
    return;
  CrossEntropyRef r = crossEntropyRef(logits, labels, ignore, weights);
  // A weighted sum's terms are each about |lse| times its weight.
  double scale = 1;
  if (weights)
    for (double v : weights->values)
      scale += std::fabs(v);
  for (double v : r.lse)
    scale = std::max(scale, std::fabs(v));
  for (double v : logits.values)
    scale = std::max(scale, std::fabs(v));
  c.expect("lse", lse, r.lse, toleranceFor(IVL_F32, scale));
  c.expect("loss", loss, {r.loss}, toleranceFor(IVL_F32, scale));
}

/// The gradient kernel, fed the reference lse rounded to f32 (so it does not
/// depend on the forward kernel).
void checkBackward(Case &c, double dlossValue, const Tensor &logits,
                   const Tensor &labels, int64_t ignore = kIgnore,
                   const Tensor *weights = nullptr) {
  int64_t tokens = logits.shape[0], vocab = logits.shape[1];
  CrossEntropyRef r = crossEntropyRef(logits, labels, ignore);
  Tensor lseRef{IVL_F32, {tokens}, r.lse};
  for (double &v : lseRef.values)
    v = roundTo(IVL_F32, v);
  Tensor dlossT = c.filled(IVL_F32, {}, dlossValue);
  ivl_tensor dloss = c.device(dlossT), z = c.device(logits),
             y = c.device(labels), lse = c.device(lseRef), w{};
  if (weights)
    w = c.device(*weights);
  ivl_tensor dz = c.output(logits.dtype, {tokens, vocab});
  if (!c.call(ivl_cross_entropy_grad(c.context(), &dloss, &z, &y, &lse,
                                     weights ? &w : nullptr, ignore, &dz)))
    return;
  std::vector<double> want =
      crossEntropyGradRef(dlossT[0], logits, labels, ignore, weights);
  // Elements are about scale / vocab (softmax * dloss / valid, or times the
  // largest weight); the label element, about scale, is compared relative
  // to itself.
  double scale = std::fabs(dlossT[0]) / static_cast<double>(r.valid ? r.valid : 1);
  if (weights) {
    scale = 0;
    for (double v : weights->values)
      scale = std::max(scale, std::fabs(dlossT[0] * v));
  }
  c.expect("dlogits", dz, want,
           toleranceFor(logits.dtype, scale / static_cast<double>(vocab)));
}

/// A call that must fail with `want` (checked after synchronizing, where a
/// device reports data errors).
} // namespace

//===--- cross_entropy ----------------------------------------------------===//

CONFORMANCE_CASE(cross_entropy, f32_vocab1000_ignored) {
  Tensor logits = c.random(IVL_F32, {17, 1000}, -4, 4);
  Tensor labels = labelsWithIgnored(c, 17, 1000, 3, 1);
  labels[16] = 999; // the last class
  labels[0] = 0;    // the first class
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, bf16_vocab33_ignored) {
  Tensor logits = c.random(IVL_BF16, {9, 33}, -3, 3);
  Tensor labels = labelsWithIgnored(c, 9, 33, 4, 0);
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, one_row_vocab13) {
  Tensor logits = c.random(IVL_F32, {1, 13}, -2, 2);
  Tensor labels = c.integers({1}, 0, 13);
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, large_logits_stable) {
  // exp(z) overflows f32 without the max subtraction.
  Tensor logits = c.random(IVL_F32, {5, 33}, 80, 120);
  Tensor labels = c.integers({5}, 0, 33);
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, all_ignored_nan) {
  // Documented (TGOps.td, as PyTorch): NaN loss when no token has a label;
  // the logsumexp of every row is still written.
  Tensor logits = c.random(IVL_BF16, {4, 13}, -2, 2);
  Tensor labels = c.filled(IVL_I64, {4}, kIgnore);
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, zero_tokens) {
  Tensor logits = c.random(IVL_F32, {0, 13});
  Tensor labels = c.integers({0}, 0, 13);
  checkForward(c, logits, labels);
}

CONFORMANCE_CASE(cross_entropy, custom_ignore_index) {
  // ignore_index is a valid class here: tokens labelled 2 do not count.
  Tensor logits = c.random(IVL_F32, {8, 13}, -2, 2);
  Tensor labels = c.integers({8}, 0, 13);
  labels[1] = labels[5] = 2;
  checkForward(c, logits, labels, 2);
}

// InternVL's loss_weight: per-sample weights (1/sqrt(n) and the like), zero
// on some labelled tokens too; the loss is the weighted sum.
CONFORMANCE_CASE(cross_entropy, weighted_sum) {
  for (ivl_dtype dtype : {IVL_F32, IVL_BF16}) {
    Tensor logits = c.random(dtype, {14, 37}, -3, 3);
    Tensor labels = labelsWithIgnored(c, 14, 37, 4, 1);
    Tensor weights = c.random(IVL_F32, {14}, 0, 0.5);
    weights[6] = 0;
    checkForward(c, logits, labels, kIgnore, &weights);
  }
}

CONFORMANCE_CASE(cross_entropy, label_out_of_range_rejected) {
  Tensor logits = c.random(IVL_F32, {3, 13});
  Tensor labels = c.integers({3}, 0, 13);
  for (double bad : {13.0, -1.0}) {
    labels[1] = bad;
    ivl_tensor z = c.device(logits), y = c.device(labels);
    ivl_tensor loss = c.output(IVL_F32, {}), lse = c.output(IVL_F32, {3});
    c.expectStatus(
                 ivl_cross_entropy(c.context(), &z, &y, nullptr, kIgnore, &loss,
                                   &lse),
                 IVL_ERROR_INVALID_INPUT,
                 bad < 0 ? "label -1" : "label == vocab");
  }
}

//===--- cross_entropy_grad -----------------------------------------------===//

CONFORMANCE_CASE(cross_entropy_grad, f32_vocab1000_ignored) {
  Tensor logits = c.random(IVL_F32, {12, 1000}, -4, 4);
  Tensor labels = labelsWithIgnored(c, 12, 1000, 5, 2);
  checkBackward(c, 2.5, logits, labels);
}

CONFORMANCE_CASE(cross_entropy_grad, bf16_vocab33_ignored) {
  Tensor logits = c.random(IVL_BF16, {10, 33}, -3, 3);
  Tensor labels = labelsWithIgnored(c, 10, 33, 3, 0);
  checkBackward(c, 0.75, logits, labels);
}

CONFORMANCE_CASE(cross_entropy_grad, one_row_vocab13) {
  Tensor logits = c.random(IVL_F32, {1, 13}, -2, 2);
  Tensor labels = c.integers({1}, 0, 13);
  checkBackward(c, 1.0, logits, labels);
}

CONFORMANCE_CASE(cross_entropy_grad, all_ignored_zero) {
  // No labelled token: every gradient is zero (not NaN).
  Tensor logits = c.random(IVL_F32, {3, 13}, -2, 2);
  Tensor labels = c.filled(IVL_I64, {3}, kIgnore);
  checkBackward(c, 1.0, logits, labels);
}

CONFORMANCE_CASE(cross_entropy_grad, zero_tokens) {
  Tensor logits = c.random(IVL_BF16, {0, 33});
  Tensor labels = c.integers({0}, 0, 33);
  checkBackward(c, 1.0, logits, labels);
}

CONFORMANCE_CASE(cross_entropy_grad, weighted) {
  for (ivl_dtype dtype : {IVL_F32, IVL_BF16}) {
    Tensor logits = c.random(dtype, {11, 29}, -3, 3);
    Tensor labels = labelsWithIgnored(c, 11, 29, 3, 2);
    Tensor weights = c.random(IVL_F32, {11}, 0, 0.4);
    weights[0] = 0;
    checkBackward(c, 1.5, logits, labels, kIgnore, &weights);
  }
}

CONFORMANCE_CASE(cross_entropy_grad, label_out_of_range_rejected) {
  Tensor logits = c.random(IVL_F32, {3, 13});
  Tensor labels = c.integers({3}, 0, 13);
  labels[2] = 13;
  Tensor lse = c.filled(IVL_F32, {3}, 1.0), dlossT = c.filled(IVL_F32, {}, 1);
  ivl_tensor z = c.device(logits), y = c.device(labels), l = c.device(lse),
             dloss = c.device(dlossT), dz = c.output(IVL_F32, {3, 13});
  c.expectStatus(
               ivl_cross_entropy_grad(c.context(), &dloss, &z, &y, &l, nullptr,
                                      kIgnore, &dz),
               IVL_ERROR_INVALID_INPUT, "label == vocab");
}

//===--- linear_cross_entropy ---------------------------------------------===//

namespace {

/// The chunked loss's problem as cross_entropy's: the logits hidden ·
/// weightᵀ in f64, rounded to the hidden state's type as the kernels round
/// them, and the labels and weights under the next-token shift (the last
/// token of a row is ignored).
struct ShiftedLoss {
  Tensor logits, labels, weights;
};

ShiftedLoss shiftedLoss(const Tensor &hidden, const Tensor &weight,
                        const Tensor &labels, const Tensor *weights) {
  int64_t seq = hidden.shape[1], width = hidden.shape[2];
  int64_t tokens = hidden.shape[0] * seq, vocab = weight.shape[0];
  ShiftedLoss s;
  s.logits = Tensor{hidden.dtype, {tokens, vocab},
                    std::vector<double>(tokens * vocab)};
  s.labels = Tensor{IVL_I64, {tokens}, std::vector<double>(tokens, kIgnore)};
  s.weights = Tensor{IVL_F32, {tokens}, std::vector<double>(tokens, 0)};
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < vocab; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < width; ++i)
        acc += hidden[t * width + i] * weight[j * width + i];
      s.logits[t * vocab + j] = roundTo(hidden.dtype, acc);
    }
    if ((t + 1) % seq == 0)
      continue;
    s.labels[t] = labels[t + 1];
    if (weights)
      s.weights[t] = (*weights)[t + 1];
  }
  return s;
}

/// The CUDA kernels keep the chunk of logits (and dW's f32 sum) in the
/// scratch the step sets; the CPU ignores it.
bool withScratch(Case &c, const Tensor &hidden, const Tensor &weight,
                 int64_t chunk, bool weightGrad) {
  int64_t bytes = ivl::chunkedLossWorkspaceBytes(
      hidden.shape[0] * hidden.shape[1], weight.shape[0], weight.shape[1],
      ivl_dtype_size(hidden.dtype), chunk, weightGrad);
  ivl_tensor scratch = c.output(IVL_F32, {(bytes + 3) / 4});
  return c.call(ivl_set_scratch(c.context(), scratch.data, bytes));
}

void checkChunkedForward(Case &c, ivl_dtype dtype, Shape bsh, int64_t vocab,
                         int64_t chunk, bool weighted) {
  Tensor hidden = c.random(dtype, bsh, -1, 1);
  Tensor weight = c.random(dtype, {vocab, bsh[2]}, -1, 1);
  int64_t tokens = bsh[0] * bsh[1];
  Tensor labels = labelsWithIgnored(c, tokens, vocab, 4, 2);
  labels.shape = {bsh[0], bsh[1]};
  Tensor weights = c.random(IVL_F32, {bsh[0], bsh[1]}, 0, 0.5);
  ivl_tensor h = c.device(hidden), w = c.device(weight), y = c.device(labels),
             lw = c.device(weights);
  ivl_tensor loss = c.output(IVL_F32, {}),
             lse = c.output(IVL_F32, {bsh[0], bsh[1]});
  if (!withScratch(c, hidden, weight, chunk, false))
    return;
  bool ok = c.call(ivl_linear_cross_entropy(c.context(), &h, &w, &y,
                                            weighted ? &lw : nullptr, kIgnore,
                                            chunk, &loss, &lse));
  c.call(ivl_set_scratch(c.context(), nullptr, 0));
  if (!ok)
    return;
  ShiftedLoss s = shiftedLoss(hidden, weight, labels, &weights);
  CrossEntropyRef r = crossEntropyRef(s.logits, s.labels, kIgnore,
                                      weighted ? &s.weights : nullptr);
  double scale = 1;
  for (double v : r.lse)
    scale = std::max(scale, std::fabs(v));
  if (weighted)
    for (double v : s.weights.values)
      scale += std::fabs(v) * scale / tokens;
  c.expect("lse", lse, r.lse, toleranceFor(IVL_F32, scale));
  c.expect("loss", loss, {r.loss}, toleranceFor(IVL_F32, scale));
}

/// Fed the reference lse (rounded to f32), as checkBackward.
void checkChunkedBackward(Case &c, ivl_dtype dtype, Shape bsh, int64_t vocab,
                          int64_t chunk, bool weighted, bool wantDh,
                          bool wantDw) {
  Tensor hidden = c.random(dtype, bsh, -1, 1);
  Tensor weight = c.random(dtype, {vocab, bsh[2]}, -1, 1);
  int64_t tokens = bsh[0] * bsh[1], width = bsh[2];
  Tensor labels = labelsWithIgnored(c, tokens, vocab, 3, 1);
  labels.shape = {bsh[0], bsh[1]};
  Tensor weights = c.random(IVL_F32, {bsh[0], bsh[1]}, 0, 0.5);
  ShiftedLoss s = shiftedLoss(hidden, weight, labels, &weights);
  CrossEntropyRef r = crossEntropyRef(s.logits, s.labels, kIgnore);
  Tensor lseRef{IVL_F32, {bsh[0], bsh[1]}, r.lse};
  for (double &v : lseRef.values)
    v = roundTo(IVL_F32, v);
  Tensor dlossT = c.filled(IVL_F32, {}, 1.25);
  ivl_tensor dloss = c.device(dlossT), h = c.device(hidden),
             w = c.device(weight), y = c.device(labels), lw = c.device(weights),
             lse = c.device(lseRef);
  ivl_tensor dh = c.output(dtype, bsh), dw = c.output(dtype, {vocab, width});
  if (!withScratch(c, hidden, weight, chunk, wantDw))
    return;
  bool ok = c.call(ivl_linear_cross_entropy_grad(
      c.context(), &dloss, &h, &w, &y, &lse, weighted ? &lw : nullptr, kIgnore,
      chunk, wantDh ? &dh : nullptr, wantDw ? &dw : nullptr));
  c.call(ivl_set_scratch(c.context(), nullptr, 0));
  if (!ok)
    return;
  std::vector<double> g = crossEntropyGradRef(
      dlossT[0], s.logits, s.labels, kIgnore, weighted ? &s.weights : nullptr);
  // The kernels round dlogits to the hidden state's type before the
  // products; each product sums V (or T) terms.
  for (double &v : g)
    v = roundTo(dtype, v);
  std::vector<double> wantH(tokens * width, 0), wantW(vocab * width, 0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < vocab; ++j)
      for (int64_t i = 0; i < width; ++i) {
        wantH[t * width + i] += g[t * vocab + j] * weight[j * width + i];
        wantW[j * width + i] += g[t * vocab + j] * hidden[t * width + i];
      }
  auto largest = [](const std::vector<double> &v) {
    double m = 1e-6;
    for (double x : v)
      m = std::max(m, std::fabs(x));
    return m;
  };
  if (wantDh)
    c.expect("dhidden", dh, wantH, toleranceFor(dtype, largest(wantH)));
  if (wantDw)
    c.expect("dweight", dw, wantW, toleranceFor(dtype, largest(wantW)));
}

} // namespace

CONFORMANCE_CASE(linear_cross_entropy, f32_chunks_cross_rows) {
  // Chunks of 5 tokens over rows of 6: chunk boundaries and row ends differ.
  checkChunkedForward(c, IVL_F32, {3, 6, 16}, 37, 5, false);
}

CONFORMANCE_CASE(linear_cross_entropy, bf16_one_chunk_and_single_rows) {
  checkChunkedForward(c, IVL_BF16, {2, 8, 24}, 50, 16, false);
  checkChunkedForward(c, IVL_BF16, {2, 8, 24}, 50, 1, false);
}

CONFORMANCE_CASE(linear_cross_entropy, weighted_sum) {
  checkChunkedForward(c, IVL_F32, {2, 7, 12}, 29, 4, true);
  checkChunkedForward(c, IVL_BF16, {1, 9, 8}, 33, 9, true);
}

CONFORMANCE_CASE(linear_cross_entropy, label_out_of_range_rejected) {
  // labels[b, 0] is never scored (nothing predicts it); labels[b, 1] is.
  Tensor hidden = c.random(IVL_F32, {1, 3, 4}), weight = c.random(IVL_F32, {13, 4});
  Tensor labels = c.integers({1, 3}, 0, 13);
  labels[1] = 13;
  ivl_tensor h = c.device(hidden), w = c.device(weight), y = c.device(labels);
  ivl_tensor loss = c.output(IVL_F32, {}), lse = c.output(IVL_F32, {1, 3});
  if (!withScratch(c, hidden, weight, 2, false))
    return;
  c.expectStatus(ivl_linear_cross_entropy(c.context(), &h, &w, &y, nullptr,
                                          kIgnore, 2, &loss, &lse),
                 IVL_ERROR_INVALID_INPUT, "label == vocab");
  c.call(ivl_set_scratch(c.context(), nullptr, 0));
}

//===--- linear_cross_entropy_grad ----------------------------------------===//

CONFORMANCE_CASE(linear_cross_entropy_grad, f32_chunks_cross_rows) {
  checkChunkedBackward(c, IVL_F32, {3, 6, 16}, 37, 5, false, true, true);
}

CONFORMANCE_CASE(linear_cross_entropy_grad, bf16_chunks_sum_in_f32) {
  // Several chunks of a bf16 weight: dW is summed in f32 in the scratch.
  checkChunkedBackward(c, IVL_BF16, {2, 8, 24}, 50, 3, false, true, true);
  checkChunkedBackward(c, IVL_BF16, {2, 8, 24}, 50, 16, false, true, true);
}

CONFORMANCE_CASE(linear_cross_entropy_grad, weighted_one_result) {
  checkChunkedBackward(c, IVL_F32, {2, 7, 12}, 29, 4, true, true, false);
  checkChunkedBackward(c, IVL_BF16, {1, 9, 8}, 33, 2, true, false, true);
}
