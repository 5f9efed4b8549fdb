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

using namespace ivl;
using namespace ivl::cuda;

namespace {

constexpr int kPartials = 256; // blocks (and partial sums) per gradient

__global__ void sumSquaresKernel(const void *x, ivl_dtype tx, int64_t n,
                                 double *partials) {
  __shared__ double shared[32];
  double sum = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    double v = load(x, tx, i);
    sum += v * v;
  }
  sum = blockSum(sum, shared);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = sum;
}

__global__ void normKernel(const double *partials, int64_t count, void *norm,
                           ivl_dtype tn) {
  __shared__ double shared[32];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    sum += partials[i];
  sum = blockSum(sum, shared);
  if (threadIdx.x == 0)
    store(norm, tn, 0, static_cast<float>(sqrt(sum)));
}

__global__ void clipScaleKernel(const void *norm, ivl_dtype tn, float maxNorm,
                                void *scale, ivl_dtype ts) {
  float n = load(norm, tn, 0);
  float coef = maxNorm / (n + 1e-6f);
  store(scale, ts, 0, coef < 1.0f ? coef : 1.0f);
}

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
  int64_t n;
  DeviceStatus *status;
};

__global__ void adamwKernel(AdamWArgs a) {
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
  float decay = static_cast<float>(1.0 - a.lr * a.weightDecay);
  float oneMinusBeta1 = static_cast<float>(1.0 - a.beta1);
  float b2 = static_cast<float>(a.beta2);
  float oneMinusBeta2 = static_cast<float>(1.0 - a.beta2);
  float eps = static_cast<float>(a.epsilon);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < a.n; i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
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

} // namespace

extern "C" {

ivl_status ivl_global_norm(ivl_context *ctx, const ivl_tensor *grads,
                           int32_t count, ivl_tensor *norm) {
  int64_t partials = static_cast<int64_t>(count) * kPartials;
  if (partials * static_cast<int64_t>(sizeof(double)) > ctx->tokenScratchBytes)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "global_norm: %d gradients exceed the runtime's scratch",
                count);
  auto *sums = static_cast<double *>(ctx->tokenScratch);
  for (int32_t k = 0; k < count; ++k) {
    sumSquaresKernel<<<kPartials, kBlock, 0, ctx->stream>>>(
        grads[k].data, grads[k].dtype, numel(grads[k]), sums + k * kPartials);
    if (ivl_status s = launched(ctx, "global_norm"))
      return s;
  }
  normKernel<<<1, 1024, 0, ctx->stream>>>(sums, partials, norm->data,
                                          norm->dtype);
  return launched(ctx, "global_norm");
}

ivl_status ivl_clip_scale(ivl_context *ctx, const ivl_tensor *norm,
                          double maxNorm, ivl_tensor *scale) {
  clipScaleKernel<<<1, 1, 0, ctx->stream>>>(norm->data, norm->dtype,
                                            static_cast<float>(maxNorm),
                                            scale->data, scale->dtype);
  return launched(ctx, "clip_scale");
}

ivl_status ivl_adamw(ivl_context *ctx, const ivl_tensor *master,
                     const ivl_tensor *expAvg, const ivl_tensor *expAvgSq,
                     const ivl_tensor *grad, const ivl_tensor *gradScale,
                     const ivl_tensor *step, double lr, double beta1,
                     double beta2, double epsilon, double weightDecay,
                     ivl_tensor *newMaster, ivl_tensor *newExpAvg,
                     ivl_tensor *newExpAvgSq, ivl_tensor *newParam) {
  const ivl_tensor *state[] = {master,    expAvg,    expAvgSq,
                               newMaster, newExpAvg, newExpAvgSq};
  for (const ivl_tensor *t : state)
    if (t->dtype != IVL_F32)
      return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                  "adamw: optimizer state %s must be f32",
                  describe(*t).c_str());
  int64_t n = numel(*master);
  if (ivl_status s = expectNumel(ctx, "adamw", "gradient", *grad, n))
    return s;
  if (n == 0)
    return IVL_OK;
  AdamWArgs a{static_cast<const float *>(master->data),
              static_cast<const float *>(expAvg->data),
              static_cast<const float *>(expAvgSq->data),
              grad->data,
              grad->dtype,
              gradScale->data,
              gradScale->dtype,
              static_cast<const int64_t *>(step->data),
              lr,
              beta1,
              beta2,
              epsilon,
              weightDecay,
              static_cast<float *>(newMaster->data),
              static_cast<float *>(newExpAvg->data),
              static_cast<float *>(newExpAvgSq->data),
              newParam->data,
              newParam->dtype,
              n,
              ctx->status};
  adamwKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(a);
  return launched(ctx, "adamw");
}

} // extern "C"
