//===- Elementwise.cpp - conformance of fill, binary, unary, activations --===//

#include "Conformance.h"

#include <cmath>

using namespace conformance;

namespace {

/// The element of `in` that numpy broadcasting reads for element `flat` of
/// `out` (shapes aligned on the right, size-1 dimensions stretched).
int64_t broadcastIndex(const Shape &out, const Shape &in, int64_t flat) {
  int64_t index = 0, stride = 1;
  for (int64_t i = static_cast<int64_t>(out.size()) - 1, j =
                                                           static_cast<int64_t>(
                                                               in.size()) - 1;
       i >= 0; --i, --j) {
    int64_t coord = flat % out[i];
    flat /= out[i];
    if (j < 0)
      continue;
    if (in[j] != 1)
      index += coord * stride;
    stride *= in[j];
  }
  return index;
}

double gelu(double x, bool tanhForm) {
  if (tanhForm)
    return 0.5 * x *
           (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

double geluDerivative(double x, bool tanhForm) {
  if (tanhForm) {
    double k = std::sqrt(2 / M_PI), t = std::tanh(k * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
  }
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
         x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

void binaryCase(Case &c, ivl_binary_kind kind, ivl_dtype dtype, Shape a,
                Shape b, Shape out) {
  Tensor x = c.random(dtype, a), y = c.random(dtype, b);
  if (kind == IVL_DIV)
    for (double &v : y.values)
      v = roundTo(dtype, v < 0 ? v - 0.5 : v + 0.5); // away from zero
  ivl_tensor dx = c.device(x), dy = c.device(y), o = c.output(dtype, out);
  if (!c.call(ivl_binary(c.context(), kind, &dx, &dy, &o)))
    return;
  std::vector<double> want(numel(out));
  for (int64_t i = 0; i < numel(out); ++i) {
    double p = x[broadcastIndex(out, a, i)], q = y[broadcastIndex(out, b, i)];
    want[i] = kind == IVL_ADD   ? p + q
              : kind == IVL_SUB ? p - q
              : kind == IVL_MUL ? p * q
                                : p / q;
  }
  c.expect("out", o, want, toleranceFor(dtype, 0));
}

void unaryCase(Case &c, ivl_unary_kind kind, double param, ivl_dtype dtype,
               Shape shape, double range = 3) {
  Tensor x = c.random(dtype, shape, -range, range);
  ivl_tensor dx = c.device(x), o = c.output(dtype, shape);
  if (!c.call(ivl_unary(c.context(), kind, &dx, param, &o)))
    return;
  std::vector<double> want(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    switch (kind) {
    case IVL_NEG:
      want[i] = -v;
      break;
    case IVL_SCALE:
      want[i] = v * param;
      break;
    case IVL_GELU:
      want[i] = gelu(v, param != 0);
      break;
    case IVL_SILU:
      want[i] = v * sigmoid(v);
      break;
    case IVL_CAST:
      want[i] = v;
      break;
    }
  }
  // Activations are evaluated in f32, where 1 + erf(x) cancels in GELU's
  // negative tail: an absolute error of a few f32 ulps of the operand's size.
  Tolerance tol = toleranceFor(dtype, 0);
  tol.atol = 1e-6 * range;
  c.expect("out", o, want, tol);
}

void activationGradCase(Case &c, ivl_unary_kind kind, double param,
                        ivl_dtype dtype, Shape shape) {
  Tensor g = c.random(dtype, shape), x = c.random(dtype, shape, -4, 4);
  ivl_tensor dg = c.device(g), dx = c.device(x), o = c.output(dtype, shape);
  if (!c.call(ivl_activation_grad(c.context(), kind, &dg, &dx, param, &o)))
    return;
  std::vector<double> want(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    double v = x[i], s = sigmoid(v);
    double d = kind == IVL_GELU ? geluDerivative(v, param != 0)
                                : s * (1 + v * (1 - s));
    want[i] = g[i] * d;
  }
  c.expect("out", o, want, toleranceFor(dtype, dtype == IVL_F32 ? 1 : 0));
}

} // namespace

CONFORMANCE_CASE(fill, f32_and_bf16) {
  ivl_tensor a = c.output(IVL_F32, {3, 5}), b = c.output(IVL_BF16, {7});
  if (!c.call(ivl_fill(c.context(), &a, 0.1)) ||
      !c.call(ivl_fill(c.context(), &b, 0.1)))
    return;
  c.expect("f32", a, std::vector<double>(15, roundTo(IVL_F32, 0.1)), {0, 0});
  c.expect("bf16", b, std::vector<double>(7, roundTo(IVL_BF16, 0.1)), {0, 0});
}

CONFORMANCE_CASE(fill, scalar_and_empty) {
  ivl_tensor a = c.output(IVL_F32, {}), e = c.output(IVL_BF16, {0, 4});
  if (!c.call(ivl_fill(c.context(), &a, -2.5)) ||
      !c.call(ivl_fill(c.context(), &e, 1.0)))
    return;
  c.expect("scalar", a, {-2.5}, {0, 0});
}

CONFORMANCE_CASE(binary, same_shape_f32) {
  for (ivl_binary_kind k : {IVL_ADD, IVL_SUB, IVL_MUL, IVL_DIV})
    binaryCase(c, k, IVL_F32, {3, 17}, {3, 17}, {3, 17});
}

CONFORMANCE_CASE(binary, bias_broadcast_bf16) {
  for (ivl_binary_kind k : {IVL_ADD, IVL_SUB, IVL_MUL, IVL_DIV})
    binaryCase(c, k, IVL_BF16, {2, 5, 33}, {33}, {2, 5, 33});
}

CONFORMANCE_CASE(binary, both_sides_broadcast) {
  binaryCase(c, IVL_MUL, IVL_F32, {4, 1, 3}, {1, 5, 1}, {4, 5, 3});
  binaryCase(c, IVL_ADD, IVL_BF16, {}, {2, 3}, {2, 3});
}

CONFORMANCE_CASE(binary, one_row_and_empty) {
  binaryCase(c, IVL_ADD, IVL_BF16, {1, 13}, {1, 13}, {1, 13});
  binaryCase(c, IVL_MUL, IVL_F32, {0, 8}, {8}, {0, 8});
}

CONFORMANCE_CASE(unary, neg_scale) {
  unaryCase(c, IVL_NEG, 0, IVL_BF16, {3, 11});
  unaryCase(c, IVL_SCALE, 0.125, IVL_F32, {2, 9});
  unaryCase(c, IVL_SCALE, 1.0 / 3.0, IVL_BF16, {2, 9});
}

CONFORMANCE_CASE(unary, gelu_silu) {
  for (ivl_dtype t : {IVL_F32, IVL_BF16}) {
    unaryCase(c, IVL_GELU, 0, t, {5, 13}, 6);
    unaryCase(c, IVL_GELU, 1, t, {5, 13}, 6);
    unaryCase(c, IVL_SILU, 0, t, {5, 13}, 6);
  }
}

CONFORMANCE_CASE(unary, empty) { unaryCase(c, IVL_SILU, 0, IVL_BF16, {0}); }

// f32 -> bf16 rounds to nearest, ties to even; bf16 -> f32 is exact.
CONFORMANCE_CASE(unary, cast_rounding_boundaries) {
  const double ulp = std::ldexp(1.0, -7); // bf16 spacing in [1, 2)
  Tensor x{IVL_F32, {8}, {1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 1e-6,
                          -(1 + ulp / 2), 3.0e38, 1e-40, -0.0, 65504.0}};
  for (double &v : x.values)
    v = roundTo(IVL_F32, v);
  ivl_tensor dx = c.device(x), o = c.output(IVL_BF16, {8});
  if (!c.call(ivl_unary(c.context(), IVL_CAST, &dx, 0, &o)))
    return;
  std::vector<double> want;
  for (double v : x.values)
    want.push_back(roundTo(IVL_BF16, v));
  c.check(want[0] == 1 && want[1] == 1 + 2 * ulp, "reference ties");
  c.expect("to bf16", o, want, {0, 0});

  Tensor b = c.random(IVL_BF16, {3, 7}, -100, 100);
  ivl_tensor db = c.device(b), of = c.output(IVL_F32, {3, 7});
  if (!c.call(ivl_unary(c.context(), IVL_CAST, &db, 0, &of)))
    return;
  c.expect("to f32", of, b.values, {0, 0});
}

CONFORMANCE_CASE(activation_grad, gelu_both_forms) {
  for (ivl_dtype t : {IVL_F32, IVL_BF16}) {
    activationGradCase(c, IVL_GELU, 0, t, {4, 19});
    activationGradCase(c, IVL_GELU, 1, t, {4, 19});
  }
}

CONFORMANCE_CASE(activation_grad, silu) {
  activationGradCase(c, IVL_SILU, 0, IVL_F32, {3, 33});
  activationGradCase(c, IVL_SILU, 0, IVL_BF16, {1, 7});
  activationGradCase(c, IVL_SILU, 0, IVL_BF16, {0, 7});
}
