//===- Norm.cu - layer_norm and rms_norm, forward and backward ------------===//
//
// One block per row; row statistics accumulate in f64 (as on the CPU) and
// are stored as f32, and the outputs are computed in f32 from the stored
// statistics with the CPU's formulas. The weight and bias gradients are
// column sums: one thread per column walks the rows (coalesced across the
// warp), recomputing x-hat, so no partial-sum buffer is needed.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

using namespace ivl;
using namespace ivl::cuda;

namespace {

constexpr int kRowBlock = 256;

__global__ void layerNormKernel(const void *x, ivl_dtype tx, const void *w,
                                ivl_dtype tw, const void *b, ivl_dtype tb,
                                double eps, int64_t d, void *y, ivl_dtype ty,
                                float *mean, float *rstd) {
  __shared__ double shared[32];
  int64_t row = blockIdx.x;
  int64_t base = row * d;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    sum += load(x, tx, base + i);
  sum = blockSum(sum, shared);
  double m = sum / d;
  double var = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    double v = load(x, tx, base + i) - m;
    var += v * v;
  }
  var = blockSum(var, shared) / d;
  float mu = static_cast<float>(m);
  float rs = static_cast<float>(1.0 / sqrt(var + eps));
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    store(y, ty, base + i,
          (load(x, tx, base + i) - mu) * rs * load(w, tw, i) + load(b, tb, i));
}

__global__ void layerNormGradRowKernel(const void *dy, ivl_dtype tg,
                                       const void *x, ivl_dtype tx,
                                       const void *w, ivl_dtype tw,
                                       const float *mean, const float *rstd,
                                       int64_t d, void *dx, ivl_dtype tdx) {
  __shared__ double shared[32];
  int64_t row = blockIdx.x, base = row * d;
  float mu = mean[row], rs = rstd[row];
  double sumGw = 0.0, sumGwX = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float xhat = (load(x, tx, base + i) - mu) * rs;
    float gw = load(dy, tg, base + i) * load(w, tw, i);
    sumGw += gw;
    sumGwX += gw * xhat;
  }
  sumGw = blockSum(sumGw, shared);
  sumGwX = blockSum(sumGwX, shared);
  float meanGw = static_cast<float>(sumGw / d);
  float meanGwX = static_cast<float>(sumGwX / d);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float xhat = (load(x, tx, base + i) - mu) * rs;
    float gw = load(dy, tg, base + i) * load(w, tw, i);
    store(dx, tdx, base + i, rs * (gw - meanGw - xhat * meanGwX));
  }
}

/// dweight[i] = sum_r dy * xhat (and dbias[i] = sum_r dy when asked); for
/// rms_norm the mean is null (xhat = x * rstd).
__global__ void normColumnGradKernel(const void *dy, ivl_dtype tg,
                                     const void *x, ivl_dtype tx,
                                     const float *mean, const float *rstd,
                                     int64_t rows, int64_t d, void *dw,
                                     ivl_dtype tdw, void *db, ivl_dtype tdb) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < d; i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    double sumW = 0.0, sumB = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      float g = load(dy, tg, r * d + i);
      float xhat = mean ? (load(x, tx, r * d + i) - mean[r]) * rstd[r]
                        : load(x, tx, r * d + i) * rstd[r];
      sumW += g * xhat;
      sumB += g;
    }
    store(dw, tdw, i, static_cast<float>(sumW));
    if (db)
      store(db, tdb, i, static_cast<float>(sumB));
  }
}

__global__ void rmsNormKernel(const void *x, ivl_dtype tx, const void *w,
                              ivl_dtype tw, double eps, int64_t d, void *y,
                              ivl_dtype ty, float *rstd) {
  __shared__ double shared[32];
  int64_t row = blockIdx.x, base = row * d;
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    double v = load(x, tx, base + i);
    sq += v * v;
  }
  sq = blockSum(sq, shared);
  float rs = static_cast<float>(1.0 / sqrt(sq / d + eps));
  if (threadIdx.x == 0)
    rstd[row] = rs;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    store(y, ty, base + i, load(x, tx, base + i) * rs * load(w, tw, i));
}

__global__ void rmsNormGradRowKernel(const void *dy, ivl_dtype tg,
                                     const void *x, ivl_dtype tx,
                                     const void *w, ivl_dtype tw,
                                     const float *rstd, int64_t d, void *dx,
                                     ivl_dtype tdx) {
  __shared__ double shared[32];
  int64_t row = blockIdx.x, base = row * d;
  float rs = rstd[row];
  double sumGwX = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float xhat = load(x, tx, base + i) * rs;
    sumGwX += load(dy, tg, base + i) * load(w, tw, i) * xhat;
  }
  sumGwX = blockSum(sumGwX, shared);
  float meanGwX = static_cast<float>(sumGwX / d);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float xv = load(x, tx, base + i);
    store(dx, tdx, base + i,
          rs * (load(dy, tg, base + i) * load(w, tw, i) -
                xv * rs * meanGwX));
  }
}

unsigned rowGrid(int64_t rows) { return static_cast<unsigned>(rows); }

} // namespace

namespace ivl::cuda {

ivl_status layer_norm(ivl_context *ctx, const ivl_tensor *x,
                          const ivl_tensor *weight, const ivl_tensor *bias,
                          double epsilon, ivl_tensor *y, ivl_tensor *mean,
                          ivl_tensor *rstd) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  if (rows == 0)
    return IVL_OK;
  layerNormKernel<<<rowGrid(rows), kRowBlock, 0, ctx->stream>>>(
      x->data, x->dtype, weight->data, weight->dtype, bias->data, bias->dtype,
      epsilon, d, y->data, y->dtype, static_cast<float *>(mean->data),
      static_cast<float *>(rstd->data));
  return launched(ctx, "layer_norm");
}

ivl_status layer_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                               const ivl_tensor *x, const ivl_tensor *weight,
                               const ivl_tensor *mean, const ivl_tensor *rstd,
                               ivl_tensor *dx, ivl_tensor *dweight,
                               ivl_tensor *dbias) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  // No rows: the weight and bias gradients are sums of nothing.
  if (rows == 0) {
    if (ivl_status s = zero(ctx, *dweight, "layer_norm_grad"))
      return s;
    return zero(ctx, *dbias, "layer_norm_grad");
  }
  // Column sums first: dx may be written over dy in place.
  normColumnGradKernel<<<gridFor(d), kBlock, 0, ctx->stream>>>(
      dy->data, dy->dtype, x->data, x->dtype,
      static_cast<const float *>(mean->data),
      static_cast<const float *>(rstd->data), rows, d, dweight->data,
      dweight->dtype, dbias->data, dbias->dtype);
  if (ivl_status s = launched(ctx, "layer_norm_grad"))
    return s;
  layerNormGradRowKernel<<<rowGrid(rows), kRowBlock, 0, ctx->stream>>>(
      dy->data, dy->dtype, x->data, x->dtype, weight->data, weight->dtype,
      static_cast<const float *>(mean->data),
      static_cast<const float *>(rstd->data), d, dx->data, dx->dtype);
  return launched(ctx, "layer_norm_grad");
}

ivl_status rms_norm(ivl_context *ctx, const ivl_tensor *x,
                        const ivl_tensor *weight, double epsilon, ivl_tensor *y,
                        ivl_tensor *rstd) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  if (rows == 0)
    return IVL_OK;
  rmsNormKernel<<<rowGrid(rows), kRowBlock, 0, ctx->stream>>>(
      x->data, x->dtype, weight->data, weight->dtype, epsilon, d, y->data,
      y->dtype, static_cast<float *>(rstd->data));
  return launched(ctx, "rms_norm");
}

ivl_status rms_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                             const ivl_tensor *x, const ivl_tensor *weight,
                             const ivl_tensor *rstd, ivl_tensor *dx,
                             ivl_tensor *dweight) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  if (rows == 0)
    return zero(ctx, *dweight, "rms_norm_grad");
  normColumnGradKernel<<<gridFor(d), kBlock, 0, ctx->stream>>>(
      dy->data, dy->dtype, x->data, x->dtype, nullptr,
      static_cast<const float *>(rstd->data), rows, d, dweight->data,
      dweight->dtype, nullptr, IVL_F32);
  if (ivl_status s = launched(ctx, "rms_norm_grad"))
    return s;
  rmsNormGradRowKernel<<<rowGrid(rows), kRowBlock, 0, ctx->stream>>>(
      dy->data, dy->dtype, x->data, x->dtype, weight->data, weight->dtype,
      static_cast<const float *>(rstd->data), d, dx->data, dx->dtype);
  return launched(ctx, "rms_norm_grad");
}

} // namespace ivl::cuda
