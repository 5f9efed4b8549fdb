//===- Optimizer.cu - global norm, clipping, AdamW ------------------------===//
//
// The global norm sums squares in f64: a fixed grid per gradient writes
// partial sums to the context's scratch and one block adds them in order,
// so the norm is the same on every run. AdamW follows the CPU kernel (and
// torch.optim.AdamW's single-tensor path) operation by operation; its bias
// corrections depend on the step, which lives on the device, so each block
// computes them once.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

#include <algorithm>

using namespace ivl;
using namespace ivl::cuda;

namespace {

constexpr int kPartials = 256; // blocks (and partial sums) per gradient

__global__ void sumSquaresKernel(const void *x, ivl_dtype tx, int64_t n,
                                 double *partials) {
  __shared__ double shared[32];
  double sum = 0.0;
  GRID_STRIDE(i, n) {
    double v = load(x, tx, i);
    sum += v * v;
  }
  sum = blockSum(sum, shared);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = sum;
}

__global__ void sumPartialsKernel(const double *partials, int64_t count,
                                  double *total) {
  __shared__ double shared[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    sum += partials[i];
  sum = blockSum(sum, shared);
  if (threadIdx.x == 0)
    *total = sum;
}

__global__ void sqrtKernel(const double *total, void *norm, ivl_dtype tn) {
  store(norm, tn, 0, static_cast<float>(sqrt(*total)));
}

__global__ void clipScaleKernel(const void *norm, ivl_dtype tn, float maxNorm,
                                void *scale, ivl_dtype ts) {
  float n = load(norm, tn, 0);
  float coef = maxNorm / (n + 1e-6f);
  store(scale, ts, 0, coef < 1.0f ? coef : 1.0f);
}

/// Weight decay by bucket position: element positions below ends[k] (and
/// at or above ends[k-1]) take decay[k]. A plain AdamW is one segment.
constexpr int kSegments = 128;
struct SegmentTable {
  int64_t ends[kSegments];
  unsigned char decay[kSegments];
  int32_t count;
};

struct AdamWArgs {
  const float *master, *expAvg, *expAvgSq;
  const void *grad;
  ivl_dtype tgrad;
  const void *gradScale;
  ivl_dtype tscale;
  const int64_t *step;
  double lr, beta1, beta2, epsilon, weightDecay;
  float *newMaster, *newExpAvg, *newExpAvgSq;
  void *newParam;
  ivl_dtype tparam;
  /// Elements [begin, end); element i is at bucket position first + i.
  int64_t first, begin, end;
  DeviceStatus *status;
};

/// torch.optim.AdamW's step on elements [begin, end), as the CPU kernel.
__global__ void adamwKernel(AdamWArgs a, SegmentTable table) {
  __shared__ float stepSize, bc2Sqrt;
  __shared__ bool ok;
  if (threadIdx.x == 0) {
    int64_t t = *a.step;
    ok = t >= 1;
    if (!ok && blockIdx.x == 0)
      reportError(a.status, DataError::StepNotPositive, kAdamW, t, 0, 0);
    double bc1 = 1.0 - pow(a.beta1, static_cast<double>(t));
    double bc2 = 1.0 - pow(a.beta2, static_cast<double>(t));
    stepSize = static_cast<float>(a.lr / bc1);
    bc2Sqrt = static_cast<float>(sqrt(bc2));
  }
  __syncthreads();
  if (!ok)
    return;
  float gs = load(a.gradScale, a.tscale, 0);
  float oneMinusBeta1 = static_cast<float>(1.0 - a.beta1);
  float b2 = static_cast<float>(a.beta2);
  float oneMinusBeta2 = static_cast<float>(1.0 - a.beta2);
  float eps = static_cast<float>(a.epsilon);
  for (int64_t i = a.begin + static_cast<int64_t>(blockIdx.x) * blockDim.x +
                   threadIdx.x;
       i < a.end; i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t position = a.first + i;
    int k = 0;
    while (k + 1 < table.count && position >= table.ends[k])
      ++k;
    double wd = table.decay[k] ? a.weightDecay : 0.0;
    float decay = static_cast<float>(1.0 - a.lr * wd);
    float gi = load(a.grad, a.tgrad, i) * gs;
    float p = a.master[i] * decay;
    float m = a.expAvg[i];
    m = m + oneMinusBeta1 * (gi - m);
    float v = a.expAvgSq[i] * b2 + oneMinusBeta2 * gi * gi;
    float denom = sqrtf(v) / bc2Sqrt + eps;
    p = p - stepSize * (m / denom);
    a.newMaster[i] = p;
    a.newExpAvg[i] = m;
    a.newExpAvgSq[i] = v;
    store(a.newParam, a.tparam, i, p);
  }
}

AdamWArgs adamwArgs(ivl_context *ctx, const ivl_tensor &master,
                    const ivl_tensor &expAvg, const ivl_tensor &expAvgSq,
                    const ivl_tensor &grad, const ivl_tensor &gradScale,
                    const ivl_tensor &step, double lr, double beta1,
                    double beta2, double epsilon, double weightDecay,
                    ivl_tensor &newMaster, ivl_tensor &newExpAvg,
                    ivl_tensor &newExpAvgSq, ivl_tensor &newParam) {
  return AdamWArgs{static_cast<const float *>(master.data),
                   static_cast<const float *>(expAvg.data),
                   static_cast<const float *>(expAvgSq.data),
                   grad.data,
                   grad.dtype,
                   gradScale.data,
                   gradScale.dtype,
                   static_cast<const int64_t *>(step.data),
                   lr,
                   beta1,
                   beta2,
                   epsilon,
                   weightDecay,
                   static_cast<float *>(newMaster.data),
                   static_cast<float *>(newExpAvg.data),
                   static_cast<float *>(newExpAvgSq.data),
                   newParam.data,
                   newParam.dtype,
                   0,
                   0,
                   numel(master),
                   ctx->status};
}

/// Squares of every gradient summed into `total` (f64) on the compute
/// stream, deterministically.
ivl_status sumOfSquares(ivl_context *ctx, const char *kernel,
                        const ivl_tensor *grads, int32_t count,
                        double *&total) {
  int64_t partials = static_cast<int64_t>(count) * kPartials;
  if ((partials + 1) * static_cast<int64_t>(sizeof(double)) >
      ctx->tokenScratchBytes)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "%s: %d gradients exceed the runtime's scratch", kernel,
                count);
  auto *sums = static_cast<double *>(ctx->tokenScratch);
  for (int32_t k = 0; k < count; ++k)
    sumSquaresKernel<<<kPartials, kBlock, 0, ctx->stream>>>(
        grads[k].data, grads[k].dtype, numel(grads[k]), sums + k * kPartials);
  total = sums + partials;
  sumPartialsKernel<<<1, 1024, 0, ctx->stream>>>(sums, partials, total);
  return launched(ctx, kernel);
}

} // namespace

namespace ivl::cuda {

ivl_status global_norm(ivl_context *ctx, const ivl_tensor *grads,
                           int32_t count, ivl_tensor *norm) {
  double *total = nullptr;
  if (ivl_status s = sumOfSquares(ctx, "global_norm", grads, count, total))
    return s;
  sqrtKernel<<<1, 1, 0, ctx->stream>>>(total, norm->data, norm->dtype);
  return launched(ctx, "global_norm");
}

ivl_status global_norm_across_ranks(ivl_context *ctx,
                                        const ivl_tensor *grads, int32_t count,
                                        ivl_tensor *norm) {
  double *total = nullptr;
  if (ivl_status s = sumOfSquares(ctx, "global_norm", grads, count, total))
    return s;
  // Summed over the ranks in the compute stream's order (Comm.cu).
  if (ivl_status s = allReduceSumOnCompute(ctx, total, 1, "global_norm"))
    return s;
  sqrtKernel<<<1, 1, 0, ctx->stream>>>(total, norm->data, norm->dtype);
  return launched(ctx, "global_norm");
}

ivl_status clip_scale(ivl_context *ctx, const ivl_tensor *norm,
                          double maxNorm, ivl_tensor *scale) {
  clipScaleKernel<<<1, 1, 0, ctx->stream>>>(norm->data, norm->dtype,
                                            static_cast<float>(maxNorm),
                                            scale->data, scale->dtype);
  return launched(ctx, "clip_scale");
}

ivl_status adamw(ivl_context *ctx, const ivl_tensor *master,
                     const ivl_tensor *expAvg, const ivl_tensor *expAvgSq,
                     const ivl_tensor *grad, const ivl_tensor *gradScale,
                     const ivl_tensor *step, double lr, double beta1,
                     double beta2, double epsilon, double weightDecay,
                     ivl_tensor *newMaster, ivl_tensor *newExpAvg,
                     ivl_tensor *newExpAvgSq, ivl_tensor *newParam) {
  int64_t n = numel(*master);
  if (n == 0)
    return IVL_OK;
  AdamWArgs a = adamwArgs(ctx, *master, *expAvg, *expAvgSq, *grad, *gradScale,
                          *step, lr, beta1, beta2, epsilon, weightDecay,
                          *newMaster, *newExpAvg, *newExpAvgSq, *newParam);
  SegmentTable table{};
  table.ends[0] = n;
  table.decay[0] = 1;
  table.count = 1;
  adamwKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(a, table);
  return launched(ctx, "adamw");
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
  int64_t c = numel(*master);
  AdamWArgs a = adamwArgs(ctx, *master, *expAvg, *expAvgSq, *grad, *gradScale,
                          *step, lr, beta1, beta2, epsilon, weightDecay,
                          *newMaster, *newExpAvg, *newExpAvgSq, *newParam);
  // Element i of the shard is bucket position rank * c + i. One launch per
  // kSegments segments, over the shard elements they cover (the last launch
  // also the padding).
  a.first = static_cast<int64_t>(ivl_comm_rank(ctx)) * c;
  int64_t segmentStart = 0;
  for (int32_t g = 0; g < numSegments; g += kSegments) {
    SegmentTable table{};
    table.count = std::min(kSegments, numSegments - g);
    int64_t end = segmentStart;
    for (int32_t k = 0; k < table.count; ++k) {
      end += segments[g + k];
      table.ends[k] = end;
      table.decay[k] = decay[g + k];
    }
    bool last = g + table.count >= numSegments;
    a.begin = std::clamp<int64_t>(segmentStart - a.first, 0, c);
    a.end = last ? c : std::clamp<int64_t>(end - a.first, 0, c);
    if (a.begin < a.end) {
      adamwKernel<<<gridFor(a.end - a.begin), kBlock, 0, ctx->stream>>>(
          a, table);
      if (ivl_status s = launched(ctx, "shard_adamw"))
        return s;
    }
    segmentStart = end;
  }
  return IVL_OK;
}

} // namespace ivl::cuda
