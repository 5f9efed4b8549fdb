//===- Norm.cpp - conformance of layer_norm and rms_norm ------------------===//
//
// x is [..., D]: every leading dimension is a row; mean and rstd are f32 of
// the leading shape. The gradient cases hand the kernels mean and rstd
// computed here (f64, rounded to f32), and the reference differentiates
// with those same stored statistics, as the kernels do.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <algorithm>
#include <cmath>

using namespace conformance;

namespace {

Shape leading(const Shape &shape) {
  return Shape(shape.begin(), shape.end() - 1);
}

double maxAbsOf(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

/// Exact row statistics: mean and 1/sqrt(var + eps) (layer norm), or
/// 1/sqrt(mean(x^2) + eps) (rms norm, mean left at 0).
void rowStats(const Tensor &x, int64_t d, double eps, bool rms,
              std::vector<double> &mean, std::vector<double> &rstd) {
  int64_t rows = x.size() / d;
  mean.assign(rows, 0.0);
  rstd.assign(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < d; ++i)
      sum += x[r * d + i];
    double m = rms ? 0.0 : sum / d;
    for (int64_t i = 0; i < d; ++i)
      sq += (x[r * d + i] - m) * (x[r * d + i] - m);
    mean[r] = m;
    rstd[r] = 1.0 / std::sqrt(sq / d + eps);
  }
}

//===--- layer_norm -------------------------------------------------------===//

void layerNormCase(Case &c, ivl_dtype dtype, Shape shape, double eps,
                   double lo = -1, double hi = 1) {
  int64_t d = shape.back();
  Tensor x = c.random(dtype, shape, lo, hi), w = c.random(dtype, {d}, 0.5, 1.5),
         b = c.random(dtype, {d});
  ivl_tensor xd = c.device(x), wd = c.device(w), bd = c.device(b),
             y = c.output(dtype, shape),
             mean = c.output(IVL_F32, leading(shape)),
             rstd = c.output(IVL_F32, leading(shape));
  if (!c.call(ivl_layer_norm(c.context(), &xd, &wd, &bd, eps, &y, &mean,
                             &rstd)))
    return;
  std::vector<double> mu, rs;
  rowStats(x, d, eps, false, mu, rs);
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < x.size() / d; ++r)
    for (int64_t i = 0; i < d; ++i)
      want[r * d + i] = (x[r * d + i] - mu[r]) * rs[r] * w[i] + b[i];
  // y is about |w| + |b| <= 2.5; the statistics are f32 whatever x is.
  c.expect("y", y, want, toleranceFor(dtype, 2.5));
  c.expect("mean", mean, mu, toleranceFor(IVL_F32, std::max(1.0, hi)));
  c.expect("rstd", rstd, rs, toleranceFor(IVL_F32, maxAbsOf(rs)));
}

CONFORMANCE_CASE(layer_norm, f32_odd_rows) {
  layerNormCase(c, IVL_F32, {3, 5, 13}, 1e-5);
}

CONFORMANCE_CASE(layer_norm, bf16_hidden_33) {
  layerNormCase(c, IVL_BF16, {7, 33}, 1e-6);
}

CONFORMANCE_CASE(layer_norm, one_row) {
  layerNormCase(c, IVL_F32, {1, 64}, 1e-5);
}

// A large common offset: the variance must be taken about the mean.
CONFORMANCE_CASE(layer_norm, offset_mean) {
  layerNormCase(c, IVL_F32, {4, 33}, 1e-5, 3.0, 5.0);
}

CONFORMANCE_CASE(layer_norm, zero_rows) {
  layerNormCase(c, IVL_F32, {0, 33}, 1e-5);
}

//===--- layer_norm_grad --------------------------------------------------===//

void layerNormGradCase(Case &c, ivl_dtype dtype, Shape shape, double eps) {
  int64_t d = shape.back(), rows = numel(shape) / d;
  Tensor x = c.random(dtype, shape), w = c.random(dtype, {d}, 0.5, 1.5),
         g = c.random(dtype, shape);
  std::vector<double> mu, rs;
  rowStats(x, d, eps, false, mu, rs);
  Tensor meanT{IVL_F32, leading(shape), mu}, rstdT{IVL_F32, leading(shape), rs};
  for (double &v : meanT.values)
    v = roundTo(IVL_F32, v);
  for (double &v : rstdT.values)
    v = roundTo(IVL_F32, v);
  ivl_tensor xd = c.device(x), wd = c.device(w), gd = c.device(g),
             md = c.device(meanT), rd = c.device(rstdT),
             dx = c.output(dtype, shape), dw = c.output(dtype, {d}),
             db = c.output(dtype, {d});
  if (!c.call(ivl_layer_norm_grad(c.context(), &gd, &xd, &wd, &md, &rd, &dx,
                                  &dw, &db)))
    return;
  std::vector<double> wantDx(x.size()), wantDw(d, 0.0), wantDb(d, 0.0);
  double maxRstd = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double m = meanT[r], s = rstdT[r], sumGw = 0, sumGwX = 0;
    maxRstd = std::max(maxRstd, s);
    for (int64_t i = 0; i < d; ++i) {
      double xhat = (x[r * d + i] - m) * s, gi = g[r * d + i];
      sumGw += gi * w[i];
      sumGwX += gi * w[i] * xhat;
      wantDw[i] += gi * xhat;
      wantDb[i] += gi;
    }
    for (int64_t i = 0; i < d; ++i) {
      double xhat = (x[r * d + i] - m) * s;
      wantDx[r * d + i] =
          s * (g[r * d + i] * w[i] - sumGw / d - xhat * sumGwX / d);
    }
  }
  // dx: terms rstd * g * w (|g| <= 1, |w| < 1.5); dw, db: sums over the
  // rows of terms about 1, growing like sqrt(rows).
  double colScale = std::sqrt(static_cast<double>(std::max<int64_t>(rows, 1)));
  c.expect("dx", dx, wantDx, toleranceFor(dtype, 1.5 * maxRstd));
  c.expect("dweight", dw, wantDw, toleranceFor(dtype, 1.7 * colScale));
  c.expect("dbias", db, wantDb, toleranceFor(dtype, colScale));
}

CONFORMANCE_CASE(layer_norm_grad, f32_hidden_13) {
  layerNormGradCase(c, IVL_F32, {2, 9, 13}, 1e-5);
}

CONFORMANCE_CASE(layer_norm_grad, f32_many_rows) {
  layerNormGradCase(c, IVL_F32, {257, 33}, 1e-5);
}

CONFORMANCE_CASE(layer_norm_grad, bf16_hidden_33) {
  layerNormGradCase(c, IVL_BF16, {19, 33}, 1e-6);
}

CONFORMANCE_CASE(layer_norm_grad, one_row) {
  layerNormGradCase(c, IVL_F32, {1, 64}, 1e-5);
}

// No rows: dx is empty, dweight and dbias are sums of nothing, zeros.
CONFORMANCE_CASE(layer_norm_grad, zero_rows) {
  layerNormGradCase(c, IVL_F32, {0, 33}, 1e-5);
}

//===--- rms_norm ---------------------------------------------------------===//

void rmsNormCase(Case &c, ivl_dtype dtype, Shape shape, double eps,
                 double range = 1) {
  int64_t d = shape.back();
  Tensor x = c.random(dtype, shape, -range, range),
         w = c.random(dtype, {d}, 0.5, 1.5);
  ivl_tensor xd = c.device(x), wd = c.device(w), y = c.output(dtype, shape),
             rstd = c.output(IVL_F32, leading(shape));
  if (!c.call(ivl_rms_norm(c.context(), &xd, &wd, eps, &y, &rstd)))
    return;
  std::vector<double> mu, rs;
  rowStats(x, d, eps, true, mu, rs);
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < x.size() / d; ++r)
    for (int64_t i = 0; i < d; ++i)
      want[r * d + i] = x[r * d + i] * rs[r] * w[i];
  // |x * rstd| <= about sqrt(3), |w| < 1.5.
  c.expect("y", y, want, toleranceFor(dtype, 2.5));
  c.expect("rstd", rstd, rs, toleranceFor(IVL_F32, maxAbsOf(rs)));
}

CONFORMANCE_CASE(rms_norm, f32_hidden_13) {
  rmsNormCase(c, IVL_F32, {2, 7, 13}, 1e-6);
}

CONFORMANCE_CASE(rms_norm, bf16_hidden_33) {
  rmsNormCase(c, IVL_BF16, {11, 33}, 1e-6);
}

CONFORMANCE_CASE(rms_norm, one_row) {
  rmsNormCase(c, IVL_BF16, {1, 64}, 1e-5);
}

// mean(x^2) ~ 3e-7 next to epsilon 1e-6: epsilon must be inside the sqrt.
CONFORMANCE_CASE(rms_norm, epsilon_matters) {
  rmsNormCase(c, IVL_F32, {5, 33}, 1e-6, 1e-3);
}

CONFORMANCE_CASE(rms_norm, zero_rows) {
  rmsNormCase(c, IVL_F32, {2, 0, 33}, 1e-6);
}

//===--- rms_norm_grad ----------------------------------------------------===//

void rmsNormGradCase(Case &c, ivl_dtype dtype, Shape shape, double eps) {
  int64_t d = shape.back(), rows = numel(shape) / d;
  Tensor x = c.random(dtype, shape), w = c.random(dtype, {d}, 0.5, 1.5),
         g = c.random(dtype, shape);
  std::vector<double> mu, rs;
  rowStats(x, d, eps, true, mu, rs);
  Tensor rstdT{IVL_F32, leading(shape), rs};
  for (double &v : rstdT.values)
    v = roundTo(IVL_F32, v);
  ivl_tensor xd = c.device(x), wd = c.device(w), gd = c.device(g),
             rd = c.device(rstdT), dx = c.output(dtype, shape),
             dw = c.output(dtype, {d});
  if (!c.call(
          ivl_rms_norm_grad(c.context(), &gd, &xd, &wd, &rd, &dx, &dw)))
    return;
  std::vector<double> wantDx(x.size()), wantDw(d, 0.0);
  double maxRstd = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double s = rstdT[r], sumGwX = 0;
    maxRstd = std::max(maxRstd, s);
    for (int64_t i = 0; i < d; ++i) {
      double xhat = x[r * d + i] * s, gi = g[r * d + i];
      sumGwX += gi * w[i] * xhat;
      wantDw[i] += gi * xhat;
    }
    for (int64_t i = 0; i < d; ++i) {
      double xhat = x[r * d + i] * s;
      wantDx[r * d + i] = s * (g[r * d + i] * w[i] - xhat * sumGwX / d);
    }
  }
  double colScale = std::sqrt(static_cast<double>(std::max<int64_t>(rows, 1)));
  c.expect("dx", dx, wantDx, toleranceFor(dtype, 1.5 * maxRstd));
  c.expect("dweight", dw, wantDw, toleranceFor(dtype, 1.7 * colScale));
}

CONFORMANCE_CASE(rms_norm_grad, f32_hidden_13) {
  rmsNormGradCase(c, IVL_F32, {3, 4, 13}, 1e-6);
}

CONFORMANCE_CASE(rms_norm_grad, f32_many_rows) {
  rmsNormGradCase(c, IVL_F32, {300, 33}, 1e-6);
}

CONFORMANCE_CASE(rms_norm_grad, bf16_hidden_33) {
  rmsNormGradCase(c, IVL_BF16, {17, 33}, 1e-6);
}

CONFORMANCE_CASE(rms_norm_grad, one_row) {
  rmsNormGradCase(c, IVL_F32, {1, 64}, 1e-6);
}

// No rows: dweight is a sum of nothing, zeros.
CONFORMANCE_CASE(rms_norm_grad, zero_rows) {
  rmsNormGradCase(c, IVL_F32, {0, 33}, 1e-6);
}

} // namespace

// Rows of width zero have no statistics: the call is refused (the CPU
// runtime once read past its buffers here).
CONFORMANCE_CASE(rms_norm, zero_width) {
  Tensor x = c.random(IVL_BF16, {3, 0}), w = c.random(IVL_BF16, {0});
  ivl_tensor dx = c.device(x), dw = c.device(w),
             y = c.output(IVL_BF16, {3, 0}), r = c.output(IVL_F32, {3});
  c.check(ivl_rms_norm(c.context(), &dx, &dw, 1e-6, &y, &r) ==
              IVL_ERROR_INVALID_ARGUMENT,
          "a width of 0 is not refused");
}

CONFORMANCE_CASE(layer_norm, zero_width) {
  Tensor x = c.random(IVL_F32, {2, 0}), w = c.random(IVL_F32, {0});
  ivl_tensor dx = c.device(x), dw = c.device(w), db = c.device(w),
             y = c.output(IVL_F32, {2, 0}), m = c.output(IVL_F32, {2}),
             r = c.output(IVL_F32, {2});
  c.check(ivl_layer_norm(c.context(), &dx, &dw, &db, 1e-5, &y, &m, &r) ==
              IVL_ERROR_INVALID_ARGUMENT,
          "a width of 0 is not refused");
}
