//===- Elementwise.cpp - fill, arithmetic, activations, masks -------------===//

#include "Tensor.h"
#include "internvl/runtime/Scalar.h"

#include <cmath>

using namespace ivl;
using namespace ivl::cpu;

namespace {

/// For each element of `out`, the element of `in` a numpy broadcast reads.
std::vector<int64_t> broadcastIndex(const ivl_tensor &in,
                                    const ivl_tensor &out) {
  int64_t n = numel(out);
  std::vector<int64_t> index(n);
  std::vector<int64_t> inStrides = strides(in);
  int32_t lead = out.rank - in.rank;
  std::vector<int64_t> coord(out.rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t offset = 0;
    for (int32_t d = 0; d < in.rank; ++d)
      if (in.shape[d] != 1)
        offset += coord[d + lead] * inStrides[d];
    index[i] = offset;
    for (int32_t d = out.rank - 1; d >= 0; --d) {
      if (++coord[d] < out.shape[d])
        break;
      coord[d] = 0;
    }
  }
  return index;
}

bool sameShape(const ivl_tensor &a, const ivl_tensor &b) {
  if (a.rank != b.rank)
    return false;
  for (int32_t i = 0; i < a.rank; ++i)
    if (a.shape[i] != b.shape[i])
      return false;
  return true;
}

} // namespace

namespace ivl::cpu {

ivl_status fill(ivl_context *, ivl_tensor *out, double value) {
  int64_t n = numel(*out);
  if (out->dtype == IVL_I64) {
    for (int64_t i = 0; i < n; ++i)
      static_cast<int64_t *>(out->data)[i] = static_cast<int64_t>(value);
    return IVL_OK;
  }
  for (int64_t i = 0; i < n; ++i)
    store(*out, i, static_cast<float>(value));
  return IVL_OK;
}

ivl_status binary(ivl_context *ctx, ivl_binary_kind kind,
                      const ivl_tensor *lhs, const ivl_tensor *rhs,
                      ivl_tensor *out) {
  std::vector<float> a = toFloat(*lhs), b = toFloat(*rhs);
  int64_t n = numel(*out);
  std::vector<int64_t> ia, ib;
  bool directA = sameShape(*lhs, *out), directB = sameShape(*rhs, *out);
  if (!directA)
    ia = broadcastIndex(*lhs, *out);
  if (!directB)
    ib = broadcastIndex(*rhs, *out);
  std::vector<float> result(n);
  for (int64_t i = 0; i < n; ++i) {
    float x = a[directA ? i : ia[i]], y = b[directB ? i : ib[i]];
    switch (kind) {
    case IVL_ADD:
      result[i] = x + y;
      break;
    case IVL_SUB:
      result[i] = x - y;
      break;
    case IVL_MUL:
      result[i] = x * y;
      break;
    case IVL_DIV:
      result[i] = x / y;
      break;
    }
  }
  fromFloat(*out, result.data());
  return IVL_OK;
}

ivl_status unary(ivl_context *ctx, ivl_unary_kind kind,
                     const ivl_tensor *in, double param, ivl_tensor *out) {
  std::vector<float> x = toFloat(*in);
  float p = static_cast<float>(param);
  for (float &v : x) {
    switch (kind) {
    case IVL_NEG:
      v = -v;
      break;
    case IVL_SCALE:
      v = v * p;
      break;
    case IVL_CAST:
      break;
    case IVL_GELU:
      v = param != 0.0 ? scalar::geluTanh(v) : scalar::geluErf(v);
      break;
    case IVL_SILU:
      v = scalar::silu(v);
      break;
    }
  }
  fromFloat(*out, x.data());
  return IVL_OK;
}

ivl_status activation_grad(ivl_context *ctx, ivl_unary_kind kind,
                               const ivl_tensor *grad, const ivl_tensor *x,
                               double param, ivl_tensor *out) {
  std::vector<float> g = toFloat(*grad), v = toFloat(*x);
  for (size_t i = 0; i < g.size(); ++i) {
    float derivative = kind == IVL_SILU ? scalar::siluDerivative(v[i])
                       : param != 0.0      ? scalar::geluTanhDerivative(v[i])
                                           : scalar::geluErfDerivative(v[i]);
    g[i] = g[i] * derivative;
  }
  fromFloat(*out, g.data());
  return IVL_OK;
}

ivl_status drop_path(ivl_context *ctx, const ivl_tensor *in,
                         const ivl_tensor *step, double rate, int64_t seed,
                         int64_t offset, ivl_tensor *out) {
  int64_t samples = in->shape[0];
  int64_t per = samples ? numel(*in) / samples : 0;
  int64_t t = ids(*step)[0];
  float keepScale = static_cast<float>(1.0 / (1.0 - rate));
  std::vector<float> x = toFloat(*in);
  for (int64_t b = 0; b < samples; ++b) {
    float factor = dropPathKeeps(seed, offset, t, b, rate) ? keepScale : 0.0f;
    for (int64_t i = 0; i < per; ++i)
      x[b * per + i] *= factor;
  }
  fromFloat(*out, x.data());
  return IVL_OK;
}

ivl_status dropout(ivl_context *ctx, const ivl_tensor *in,
                   const ivl_tensor *step, double rate, int64_t seed,
                   int64_t offset, ivl_tensor *out) {
  int64_t t = ids(*step)[0];
  float keepScale = static_cast<float>(1.0 / (1.0 - rate));
  std::vector<float> x = toFloat(*in);
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i)
    x[i] *= dropoutKeeps(seed, offset, t, i, rate) ? keepScale : 0.0f;
  fromFloat(*out, x.data());
  return IVL_OK;
}

} // namespace ivl::cpu
