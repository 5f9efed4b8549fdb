//===- Loss.cu - softmax cross-entropy ------------------------------------===//
//
// One block per token row: max, sum of exponentials in f64 and the row's
// logsumexp, as on the CPU. The mean over labelled tokens is a second,
// single-block pass over the per-row terms (kept in the context's per-token
// scratch), so the loss is the same on every run. With loss weights the
// terms are weighted and the loss is their sum (the caller divides).
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

using namespace ivl;
using namespace ivl::cuda;

namespace {

constexpr int kRowBlock = 256;

__device__ bool labelOk(int64_t y, int64_t ignore, int64_t vocab, int kernel,
                        int64_t t, DeviceStatus *status) {
  if (y == ignore)
    return false;
  if (y < 0 || y >= vocab) {
    if (status)
      reportError(status, DataError::LabelOutOfRange, kernel, y, t, vocab);
    return false;
  }
  return true;
}

__global__ void crossEntropyRowKernel(const void *logits, ivl_dtype tz,
                                      const int64_t *labels,
                                      const float *weights, int64_t ignore,
                                      int64_t vocab, float *lse, double *terms,
                                      DeviceStatus *status) {
  __shared__ float sharedMax[32];
  __shared__ double sharedSum[32];
  int64_t t = blockIdx.x, base = t * vocab;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
    m = fmaxf(m, load(logits, tz, base + j));
  m = blockMax(m, sharedMax);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
    sum += exp(static_cast<double>(load(logits, tz, base + j) - m));
  sum = blockSum(sum, sharedSum);
  if (threadIdx.x != 0)
    return;
  float rowLse = m + static_cast<float>(log(sum));
  lse[t] = rowLse;
  int64_t y = labels[t];
  terms[t] = labelOk(y, ignore, vocab, kCrossEntropy, t, status)
                 ? (static_cast<double>(rowLse) - load(logits, tz, base + y)) *
                       (weights ? weights[t] : 1.0f)
                 : 0.0;
}

/// loss = sum(terms) / (labelled tokens), NaN when there are none; the sum
/// itself when the terms are weighted.
__global__ void crossEntropyMeanKernel(const double *terms,
                                       const int64_t *labels, int64_t ignore,
                                       int64_t tokens, bool weighted,
                                       void *loss, ivl_dtype tl) {
  __shared__ double sharedSum[32];
  __shared__ long long sharedCount[32];
  double sum = 0.0;
  long long valid = 0;
  for (int64_t t = threadIdx.x; t < tokens; t += blockDim.x) {
    sum += terms[t];
    valid += labels[t] != ignore;
  }
  sum = blockSum(sum, sharedSum);
  valid = blockSum(valid, sharedCount);
  if (threadIdx.x == 0)
    store(loss, tl, 0,
          weighted ? static_cast<float>(sum)
          : valid  ? static_cast<float>(sum / valid)
                   : NAN);
}

/// The number of labelled tokens, into `count`.
__global__ void countLabelledKernel(const int64_t *labels, int64_t ignore,
                                    int64_t tokens, double *count) {
  __shared__ long long sharedCount[32];
  long long valid = 0;
  for (int64_t t = threadIdx.x; t < tokens; t += blockDim.x)
    valid += labels[t] != ignore;
  valid = blockSum(valid, sharedCount);
  if (threadIdx.x == 0)
    *count = static_cast<double>(valid);
}

/// count: the labelled tokens, read only without weights.
__global__ void crossEntropyGradKernel(const void *dloss, ivl_dtype td,
                                       const void *logits, ivl_dtype tz,
                                       const int64_t *labels,
                                       const float *lse, const float *weights,
                                       int64_t ignore, int64_t vocab,
                                       const double *count, void *dlogits,
                                       ivl_dtype tg, DeviceStatus *status) {
  int64_t t = blockIdx.x, base = t * vocab;
  float upstream = load(dloss, td, 0), scale;
  if (weights) {
    scale = upstream * weights[t];
  } else {
    float valid = static_cast<float>(*count);
    scale = upstream / (valid > 0.0f ? valid : 1.0f);
  }
  int64_t y = labels[t];
  bool labelled =
      labelOk(y, ignore, vocab, kCrossEntropyGrad, t,
              threadIdx.x == 0 ? status : nullptr);
  float rowLse = lse[t];
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    float g = 0.0f;
    if (labelled) {
      g = expf(load(logits, tz, base + j) - rowLse) * scale;
      if (j == y)
        g -= scale;
    }
    store(dlogits, tg, base + j, g);
  }
}

} // namespace

namespace ivl::cuda {

ivl_status cross_entropy(ivl_context *ctx, const ivl_tensor *logits,
                         const ivl_tensor *labels, const ivl_tensor *weights,
                         int64_t ignore, ivl_tensor *loss, ivl_tensor *lse) {
  int64_t tokens = logits->shape[0], vocab = logits->shape[1];
  if (tokens * static_cast<int64_t>(sizeof(double)) > ctx->tokenScratchBytes)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "cross_entropy: %lld tokens exceed the runtime's per-token "
                "scratch",
                static_cast<long long>(tokens));
  auto *terms = static_cast<double *>(ctx->tokenScratch);
  const auto *y = static_cast<const int64_t *>(labels->data);
  const auto *w =
      weights ? static_cast<const float *>(weights->data) : nullptr;
  if (tokens > 0) {
    crossEntropyRowKernel<<<static_cast<unsigned>(tokens), kRowBlock, 0,
                            ctx->stream>>>(logits->data, logits->dtype, y, w,
                                           ignore, vocab,
                                           static_cast<float *>(lse->data),
                                           terms, ctx->status);
    if (ivl_status s = launched(ctx, "cross_entropy"))
      return s;
  }
  crossEntropyMeanKernel<<<1, 1024, 0, ctx->stream>>>(
      terms, y, ignore, tokens, w != nullptr, loss->data, loss->dtype);
  return launched(ctx, "cross_entropy (mean)");
}

ivl_status cross_entropy_grad(ivl_context *ctx, const ivl_tensor *dloss,
                              const ivl_tensor *logits,
                              const ivl_tensor *labels, const ivl_tensor *lse,
                              const ivl_tensor *weights, int64_t ignore,
                              ivl_tensor *dlogits) {
  int64_t tokens = logits->shape[0], vocab = logits->shape[1];
  if (tokens == 0)
    return IVL_OK;
  const auto *y = static_cast<const int64_t *>(labels->data);
  const auto *w =
      weights ? static_cast<const float *>(weights->data) : nullptr;
  // Weighted tokens scale by their weight, not by the count.
  if (!w) {
    countLabelledKernel<<<1, 1024, 0, ctx->stream>>>(y, ignore, tokens,
                                                     ctx->accumulator);
    if (ivl_status s = launched(ctx, "cross_entropy_grad (count)"))
      return s;
  }
  crossEntropyGradKernel<<<static_cast<unsigned>(tokens), kRowBlock, 0,
                           ctx->stream>>>(
      dloss->data, dloss->dtype, logits->data, logits->dtype, y,
      static_cast<const float *>(lse->data), w, ignore, vocab,
      ctx->accumulator, dlogits->data, dlogits->dtype, ctx->status);
  return launched(ctx, "cross_entropy_grad");
}

} // namespace ivl::cuda
