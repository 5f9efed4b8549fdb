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
#include "internvl/runtime/KernelShapes.h"

#include <algorithm>

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

/// The logsumexp of the row at `base` (every thread gets it): the block's
/// max, then the sum of exponentials in f64.
__device__ float rowLogsumexp(const void *logits, ivl_dtype tz, int64_t base,
                              int64_t vocab) {
  __shared__ float sharedMax[32];
  __shared__ double sharedSum[32];
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
    m = fmaxf(m, load(logits, tz, base + j));
  m = blockMax(m, sharedMax);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x)
    sum += exp(static_cast<double>(load(logits, tz, base + j) - m));
  sum = blockSum(sum, sharedSum);
  return m + static_cast<float>(log(sum));
}

__global__ void crossEntropyRowKernel(const void *logits, ivl_dtype tz,
                                      const int64_t *labels,
                                      const float *weights, int64_t ignore,
                                      int64_t vocab, float *lse, double *terms,
                                      DeviceStatus *status) {
  int64_t t = blockIdx.x, base = t * vocab;
  float rowLse = rowLogsumexp(logits, tz, base, vocab);
  if (threadIdx.x != 0)
    return;
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

/// One row of the logits' gradient, `scale * (softmax - onehot(y))` for a
/// labelled row and 0 otherwise, written to `out` (which may be `logits`:
/// each element is read before it is written).
__device__ void gradientRow(const void *logits, ivl_dtype tz, int64_t base,
                            int64_t vocab, int64_t y, bool labelled,
                            float rowLse, float scale, void *out,
                            ivl_dtype to) {
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    float g = 0.0f;
    if (labelled) {
      g = expf(load(logits, tz, base + j) - rowLse) * scale;
      if (j == y)
        g -= scale;
    }
    store(out, to, base + j, g);
  }
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
  gradientRow(logits, tz, base, vocab, y, labelled, lse[t], scale, dlogits, tg);
}

/// Token t's target under the next-token shift of rows of `seq` tokens.
__device__ int64_t shiftedTarget(const int64_t *labels, int64_t t, int64_t seq,
                                 int64_t ignore) {
  return (t + 1) % seq == 0 ? ignore : labels[t + 1];
}

/// crossEntropyRowKernel on one chunk of logits: rows first.. of the batch,
/// scored against the shifted labels and weights.
__global__ void chunkRowKernel(const void *logits, ivl_dtype tz, int64_t first,
                               const int64_t *labels, const float *weights,
                               int64_t seq, int64_t ignore, int64_t vocab,
                               float *lse, double *terms,
                               DeviceStatus *status) {
  int64_t t = first + blockIdx.x, base = blockIdx.x * vocab;
  float rowLse = rowLogsumexp(logits, tz, base, vocab);
  if (threadIdx.x != 0)
    return;
  lse[t] = rowLse;
  int64_t y = shiftedTarget(labels, t, seq, ignore);
  terms[t] = labelOk(y, ignore, vocab, kLinearCrossEntropy, t + 1, status)
                 ? (static_cast<double>(rowLse) - load(logits, tz, base + y)) *
                       (weights ? weights[t + 1] : 1.0f)
                 : 0.0;
}

/// The tokens whose shifted label counts, into `count`.
__global__ void countShiftedKernel(const int64_t *labels, int64_t seq,
                                   int64_t ignore, int64_t tokens,
                                   double *count) {
  __shared__ long long sharedCount[32];
  long long valid = 0;
  for (int64_t t = threadIdx.x; t < tokens; t += blockDim.x)
    valid += shiftedTarget(labels, t, seq, ignore) != ignore;
  valid = blockSum(valid, sharedCount);
  if (threadIdx.x == 0)
    *count = static_cast<double>(valid);
}

/// loss = sum(terms) / count (NaN without labels), or the weighted sum.
__global__ void chunkedMeanKernel(const double *terms, const double *count,
                                  int64_t tokens, bool weighted, void *loss,
                                  ivl_dtype tl) {
  __shared__ double sharedSum[32];
  double sum = 0.0;
  for (int64_t t = threadIdx.x; t < tokens; t += blockDim.x)
    sum += terms[t];
  sum = blockSum(sum, sharedSum);
  if (threadIdx.x == 0)
    store(loss, tl, 0,
          weighted    ? static_cast<float>(sum)
          : *count > 0 ? static_cast<float>(sum / *count)
                       : NAN);
}

/// The logits' gradient of one chunk, in place.
__global__ void chunkGradKernel(const void *dloss, ivl_dtype td, void *logits,
                                ivl_dtype tz, int64_t first,
                                const int64_t *labels, const float *lse,
                                const float *weights, int64_t seq,
                                int64_t ignore, int64_t vocab,
                                const double *count, DeviceStatus *status) {
  int64_t t = first + blockIdx.x, base = blockIdx.x * vocab;
  float upstream = load(dloss, td, 0), scale;
  if (weights) {
    scale = (t + 1) % seq ? upstream * weights[t + 1] : 0.0f;
  } else {
    float valid = static_cast<float>(*count);
    scale = upstream / (valid > 0.0f ? valid : 1.0f);
  }
  int64_t y = shiftedTarget(labels, t, seq, ignore);
  bool labelled = labelOk(y, ignore, vocab, kLinearCrossEntropyGrad, t + 1,
                          threadIdx.x == 0 ? status : nullptr);
  gradientRow(logits, tz, base, vocab, y, labelled, lse[t], scale, logits, tz);
}

/// An f32 sum rounded into `out`.
__global__ void roundKernel(const float *in, void *out, ivl_dtype t,
                            int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store(out, t, i, in[i]);
}

/// The chunked loss's views: `rows` rows of `src` [.., width] from `first`.
ivl_tensor rowsOf(const ivl_tensor &src, int64_t first, int64_t rows,
                  int64_t width) {
  ivl_tensor v{};
  v.dtype = src.dtype;
  v.rank = 2;
  v.shape[0] = rows;
  v.shape[1] = width;
  v.data = static_cast<char *>(src.data) +
           first * width * static_cast<int64_t>(ivl_dtype_size(src.dtype));
  return v;
}

ivl_status needScratch(ivl_context *ctx, const char *kernel, int64_t need) {
  if (ctx->scratch && ctx->scratchBytes >= need)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: needs %lld bytes of scratch for its chunk of logits, the "
              "step set %lld (tg.workspace of the memory plan)",
              kernel, static_cast<long long>(need),
              static_cast<long long>(ctx->scratchBytes));
}

/// The logits of rows [first, first + rows) into `z` (the chunk at the start
/// of the scratch), as tg.linear computes them.
ivl_status chunkLogits(ivl_context *ctx, const ivl_tensor &hidden,
                       const ivl_tensor &weight, int64_t first, int64_t rows,
                       ivl_tensor &z);

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

// The chunked loss: per chunk, the lm_head GEMM into the scratch, then the
// row kernels above. The loss sums the per-token terms in one fixed-order
// pass as cross_entropy does, so it does not depend on the chunk size.
ivl_status linear_cross_entropy(ivl_context *ctx, const ivl_tensor *hidden,
                                const ivl_tensor *weight,
                                const ivl_tensor *labels,
                                const ivl_tensor *weights, int64_t ignore,
                                int64_t chunk, ivl_tensor *loss,
                                ivl_tensor *lse) {
  int64_t seq = hidden->shape[1], width = hidden->shape[2];
  int64_t tokens = hidden->shape[0] * seq, vocab = weight->shape[0];
  int64_t elementBytes = ivl_dtype_size(hidden->dtype);
  if (ivl_status s = needScratch(ctx, "linear_cross_entropy",
                                 ivl::chunkedLossWorkspaceBytes(
                                     tokens, vocab, width, elementBytes, chunk,
                                     false)))
    return s;
  if (tokens * static_cast<int64_t>(sizeof(double)) > ctx->tokenScratchBytes)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "linear_cross_entropy: %lld tokens exceed the runtime's "
                "per-token scratch",
                static_cast<long long>(tokens));
  auto *terms = static_cast<double *>(ctx->tokenScratch);
  const auto *y = static_cast<const int64_t *>(labels->data);
  const auto *w =
      weights ? static_cast<const float *>(weights->data) : nullptr;
  ivl_tensor z{};
  for (int64_t first = 0; first < tokens; first += chunk) {
    int64_t rows = std::min(chunk, tokens - first);
    if (ivl_status s = chunkLogits(ctx, *hidden, *weight, first, rows, z))
      return s;
    chunkRowKernel<<<static_cast<unsigned>(rows), kRowBlock, 0,
                     ctx->stream>>>(z.data, z.dtype, first, y, w, seq, ignore,
                                    vocab, static_cast<float *>(lse->data),
                                    terms, ctx->status);
    if (ivl_status s = launched(ctx, "linear_cross_entropy"))
      return s;
  }
  countShiftedKernel<<<1, 1024, 0, ctx->stream>>>(y, seq, ignore, tokens,
                                                  ctx->accumulator);
  if (ivl_status s = launched(ctx, "linear_cross_entropy (count)"))
    return s;
  chunkedMeanKernel<<<1, 1024, 0, ctx->stream>>>(
      terms, ctx->accumulator, tokens, w != nullptr, loss->data, loss->dtype);
  return launched(ctx, "linear_cross_entropy (mean)");
}

// Per chunk: the logits again, their gradient in place, dX rows = dlogits·W
// and dW (+)= dlogitsᵀ·X, summed in f32 (in the scratch after the chunk when
// the weight is narrower) and rounded once.
ivl_status linear_cross_entropy_grad(
    ivl_context *ctx, const ivl_tensor *dloss, const ivl_tensor *hidden,
    const ivl_tensor *weight, const ivl_tensor *labels, const ivl_tensor *lse,
    const ivl_tensor *weights, int64_t ignore, int64_t chunk,
    ivl_tensor *dhidden, ivl_tensor *dweight) {
  int64_t seq = hidden->shape[1], width = hidden->shape[2];
  int64_t tokens = hidden->shape[0] * seq, vocab = weight->shape[0];
  int64_t elementBytes = ivl_dtype_size(hidden->dtype);
  if (ivl_status s = needScratch(
          ctx, "linear_cross_entropy_grad",
          ivl::chunkedLossWorkspaceBytes(tokens, vocab, width, elementBytes,
                                         chunk, dweight != nullptr)))
    return s;
  if (tokens == 0) {
    if (dweight)
      return zero(ctx, *dweight, "linear_cross_entropy_grad");
    return IVL_OK;
  }
  const auto *y = static_cast<const int64_t *>(labels->data);
  const auto *w =
      weights ? static_cast<const float *>(weights->data) : nullptr;
  if (!w) {
    countShiftedKernel<<<1, 1024, 0, ctx->stream>>>(y, seq, ignore, tokens,
                                                    ctx->accumulator);
    if (ivl_status s = launched(ctx, "linear_cross_entropy_grad (count)"))
      return s;
  }
  int64_t rowsMax = std::min(chunk, tokens);
  bool sums = ivl::chunkedLossSumsWeightGrad(tokens, elementBytes, chunk,
                                             dweight != nullptr);
  float *sum = sums ? reinterpret_cast<float *>(
                          static_cast<char *>(ctx->scratch) +
                          rowsMax * vocab * elementBytes)
                    : nullptr;
  ivl_tensor z{};
  for (int64_t first = 0; first < tokens; first += chunk) {
    int64_t rows = std::min(chunk, tokens - first);
    if (ivl_status s = chunkLogits(ctx, *hidden, *weight, first, rows, z))
      return s;
    ivl_tensor h = rowsOf(*hidden, first, rows, width);
    chunkGradKernel<<<static_cast<unsigned>(rows), kRowBlock, 0,
                      ctx->stream>>>(
        dloss->data, dloss->dtype, z.data, z.dtype, first, y,
        static_cast<const float *>(lse->data), w, seq, ignore, vocab,
        ctx->accumulator, ctx->status);
    if (ivl_status s = launched(ctx, "linear_cross_entropy_grad"))
      return s;
    if (dhidden) {
      ivl_tensor dh = rowsOf(*dhidden, first, rows, width);
      if (ivl_status s = matmul(ctx, &z, weight, 0, 0, &dh))
        return s;
    }
    if (dweight) {
      bool accumulate = first > 0;
      if (ivl_status s = gemmTransposedLhs(
              ctx, z.data, h.data, z.dtype, vocab, width, rows,
              sums ? static_cast<void *>(sum) : dweight->data,
              sums ? IVL_F32 : dweight->dtype, accumulate))
        return s;
    }
  }
  if (sums) {
    int64_t n = vocab * width;
    roundKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(sum, dweight->data,
                                                       dweight->dtype, n);
    return launched(ctx, "linear_cross_entropy_grad (round)");
  }
  return IVL_OK;
}

} // namespace ivl::cuda

namespace {
ivl_status chunkLogits(ivl_context *ctx, const ivl_tensor &hidden,
                       const ivl_tensor &weight, int64_t first, int64_t rows,
                       ivl_tensor &z) {
  ivl_tensor h = rowsOf(hidden, first, rows, hidden.shape[2]);
  z = ivl_tensor{};
  z.dtype = hidden.dtype;
  z.rank = 2;
  z.shape[0] = rows;
  z.shape[1] = weight.shape[0];
  z.data = ctx->scratch;
  return ivl::cuda::linear(ctx, &h, &weight, nullptr, &z);
}
} // namespace
