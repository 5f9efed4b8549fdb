//===- Elementwise.cu - fill, arithmetic, activations, masks --------------===//
//
// Grid-stride loops over the output; operands are read as f32 and results
// rounded to the output's element type, as on the CPU. The activations use
// the formulas of Scalar.h that the CPU kernels and fused kernels share.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"
#include "internvl/runtime/Scalar.h"

using namespace ivl;
using namespace ivl::cuda;

namespace {

__global__ void fillKernel(void *out, ivl_dtype dtype, int64_t n, double value) {
  GRID_STRIDE(i, n) {
    if (dtype == IVL_I64)
      static_cast<int64_t *>(out)[i] = static_cast<int64_t>(value);
    else
      store(out, dtype, i, static_cast<float>(value));
  }
}

__global__ void binaryKernel(ivl_binary_kind kind, const void *a, ivl_dtype ta,
                             IndexMap ia, const void *b, ivl_dtype tb,
                             IndexMap ib, void *out, ivl_dtype to, int64_t n) {
  GRID_STRIDE(i, n) {
    float x = load(a, ta, ia(i)), y = load(b, tb, ib(i));
    float r = 0.0f;
    switch (kind) {
    case IVL_ADD:
      r = x + y;
      break;
    case IVL_SUB:
      r = x - y;
      break;
    case IVL_MUL:
      r = x * y;
      break;
    case IVL_DIV:
      r = x / y;
      break;
    }
    store(out, to, i, r);
  }
}

__global__ void unaryKernel(ivl_unary_kind kind, const void *in, ivl_dtype ti,
                            float param, bool tanhApprox, void *out,
                            ivl_dtype to, int64_t n) {
  GRID_STRIDE(i, n) {
    float v = load(in, ti, i);
    switch (kind) {
    case IVL_NEG:
      v = -v;
      break;
    case IVL_SCALE:
      v = v * param;
      break;
    case IVL_CAST:
      break;
    case IVL_GELU:
      v = tanhApprox ? scalar::geluTanh(v) : scalar::geluErf(v);
      break;
    case IVL_SILU:
      v = scalar::silu(v);
      break;
    }
    store(out, to, i, v);
  }
}

__global__ void activationGradKernel(ivl_unary_kind kind, const void *grad,
                                     ivl_dtype tg, const void *x, ivl_dtype tx,
                                     bool tanhApprox, void *out, ivl_dtype to,
                                     int64_t n) {
  GRID_STRIDE(i, n) {
    float g = load(grad, tg, i), v = load(x, tx, i);
    float d = kind == IVL_SILU ? scalar::siluDerivative(v)
              : tanhApprox     ? scalar::geluTanhDerivative(v)
                               : scalar::geluErfDerivative(v);
    store(out, to, i, g * d);
  }
}

__global__ void dropPathKernel(const void *in, ivl_dtype ti,
                               const int64_t *step, double rate, int64_t seed,
                               int64_t offset, float keepScale, int64_t per,
                               void *out, ivl_dtype to, int64_t n) {
  int64_t t = *step;
  GRID_STRIDE(i, n) {
    int64_t sample = i / per;
    float factor =
        dropPathKeeps(seed, offset, t, sample, rate) ? keepScale : 0.0f;
    store(out, to, i, load(in, ti, i) * factor);
  }
}

__global__ void dropoutKernel(const void *in, ivl_dtype ti, const int64_t *step,
                              double rate, int64_t seed, int64_t offset,
                              float keepScale, void *out, ivl_dtype to,
                              int64_t n) {
  int64_t t = *step;
  GRID_STRIDE(i, n) {
    float factor = dropoutKeeps(seed, offset, t, i, rate) ? keepScale : 0.0f;
    store(out, to, i, load(in, ti, i) * factor);
  }
}

} // namespace

namespace ivl::cuda {

ivl_status fill(ivl_context *ctx, ivl_tensor *out, double value) {
  int64_t n = numel(*out);
  fillKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(out->data, out->dtype, n,
                                                     value);
  return launched(ctx, "fill");
}

ivl_status binary(ivl_context *ctx, ivl_binary_kind kind,
                      const ivl_tensor *lhs, const ivl_tensor *rhs,
                      ivl_tensor *out) {
  int64_t n = numel(*out);
  binaryKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      kind, lhs->data, lhs->dtype, broadcastMap(*lhs, *out), rhs->data,
      rhs->dtype, broadcastMap(*rhs, *out), out->data, out->dtype, n);
  return launched(ctx, "binary");
}

ivl_status unary(ivl_context *ctx, ivl_unary_kind kind,
                     const ivl_tensor *in, double param, ivl_tensor *out) {
  int64_t n = numel(*in);
  unaryKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      kind, in->data, in->dtype, static_cast<float>(param), param != 0.0,
      out->data, out->dtype, n);
  return launched(ctx, "unary");
}

ivl_status activation_grad(ivl_context *ctx, ivl_unary_kind kind,
                               const ivl_tensor *grad, const ivl_tensor *x,
                               double param, ivl_tensor *out) {
  int64_t n = numel(*grad);
  activationGradKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      kind, grad->data, grad->dtype, x->data, x->dtype, param != 0.0,
      out->data, out->dtype, n);
  return launched(ctx, "activation_grad");
}

ivl_status drop_path(ivl_context *ctx, const ivl_tensor *in,
                         const ivl_tensor *step, double rate, int64_t seed,
                         int64_t offset, ivl_tensor *out) {
  int64_t n = numel(*in);
  if (n == 0)
    return IVL_OK;
  int64_t per = n / in->shape[0];
  float keepScale = static_cast<float>(1.0 / (1.0 - rate));
  dropPathKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      in->data, in->dtype, static_cast<const int64_t *>(step->data), rate,
      seed, offset, keepScale, per ? per : 1, out->data, out->dtype, n);
  return launched(ctx, "drop_path");
}

ivl_status dropout(ivl_context *ctx, const ivl_tensor *in,
                   const ivl_tensor *step, double rate, int64_t seed,
                   int64_t offset, ivl_tensor *out) {
  int64_t n = numel(*in);
  if (n == 0)
    return IVL_OK;
  float keepScale = static_cast<float>(1.0 / (1.0 - rate));
  dropoutKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      in->data, in->dtype, static_cast<const int64_t *>(step->data), rate,
      seed, offset, keepScale, out->data, out->dtype, n);
  return launched(ctx, "dropout");
}

} // namespace ivl::cuda
