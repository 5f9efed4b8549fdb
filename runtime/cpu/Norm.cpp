//===- Norm.cpp - layer_norm and rms_norm, forward and backward -----------===//
//
// Row statistics accumulate in f64 and are stored as f32; the normalised
// values are computed in f32 from the stored statistics, so backward sees
// exactly what forward used.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"

#include <cmath>

using namespace ivl;
using namespace ivl::cpu;

namespace ivl::cpu {

ivl_status layer_norm(ivl_context *ctx, const ivl_tensor *x,
                          const ivl_tensor *weight, const ivl_tensor *bias,
                          double epsilon, ivl_tensor *y, ivl_tensor *mean,
                          ivl_tensor *rstd) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  std::vector<float> xs = toFloat(*x), ws = toFloat(*weight),
                     bs = toFloat(*bias), out(rows * d), mu(rows), rs(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = xs.data() + r * d;
    double sum = 0.0;
    for (int64_t i = 0; i < d; ++i)
      sum += xr[i];
    double m = sum / d, var = 0.0;
    for (int64_t i = 0; i < d; ++i)
      var += (xr[i] - m) * (xr[i] - m);
    var /= d;
    mu[r] = static_cast<float>(m);
    rs[r] = static_cast<float>(1.0 / std::sqrt(var + epsilon));
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = (xr[i] - mu[r]) * rs[r] * ws[i] + bs[i];
  }
  fromFloat(*y, out.data());
  fromFloat(*mean, mu.data());
  fromFloat(*rstd, rs.data());
  return IVL_OK;
}

ivl_status layer_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                               const ivl_tensor *x, const ivl_tensor *weight,
                               const ivl_tensor *mean, const ivl_tensor *rstd,
                               ivl_tensor *dx, ivl_tensor *dweight,
                               ivl_tensor *dbias) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  std::vector<float> g = toFloat(*dy), xs = toFloat(*x), ws = toFloat(*weight),
                     mu = toFloat(*mean), rs = toFloat(*rstd), out(rows * d);
  std::vector<double> dw(d, 0.0), db(d, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *gr = g.data() + r * d, *xr = xs.data() + r * d;
    // dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat))
    double sumGw = 0.0, sumGwX = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      float xhat = (xr[i] - mu[r]) * rs[r];
      float gw = gr[i] * ws[i];
      sumGw += gw;
      sumGwX += gw * xhat;
      dw[i] += gr[i] * xhat;
      db[i] += gr[i];
    }
    float meanGw = static_cast<float>(sumGw / d);
    float meanGwX = static_cast<float>(sumGwX / d);
    for (int64_t i = 0; i < d; ++i) {
      float xhat = (xr[i] - mu[r]) * rs[r];
      out[r * d + i] = rs[r] * (gr[i] * ws[i] - meanGw - xhat * meanGwX);
    }
  }
  fromFloat(*dx, out.data());
  std::vector<float> dwf(dw.begin(), dw.end()), dbf(db.begin(), db.end());
  fromFloat(*dweight, dwf.data());
  fromFloat(*dbias, dbf.data());
  return IVL_OK;
}

ivl_status rms_norm(ivl_context *ctx, const ivl_tensor *x,
                        const ivl_tensor *weight, double epsilon, ivl_tensor *y,
                        ivl_tensor *rstd) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  std::vector<float> xs = toFloat(*x), ws = toFloat(*weight), out(rows * d),
                     rs(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = xs.data() + r * d;
    double sq = 0.0;
    for (int64_t i = 0; i < d; ++i)
      sq += static_cast<double>(xr[i]) * xr[i];
    rs[r] = static_cast<float>(1.0 / std::sqrt(sq / d + epsilon));
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = xr[i] * rs[r] * ws[i];
  }
  fromFloat(*y, out.data());
  fromFloat(*rstd, rs.data());
  return IVL_OK;
}

ivl_status rms_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                             const ivl_tensor *x, const ivl_tensor *weight,
                             const ivl_tensor *rstd, ivl_tensor *dx,
                             ivl_tensor *dweight) {
  int64_t d = x->shape[x->rank - 1], rows = d ? numel(*x) / d : 0;
  std::vector<float> g = toFloat(*dy), xs = toFloat(*x), ws = toFloat(*weight),
                     rs = toFloat(*rstd), out(rows * d);
  std::vector<double> dw(d, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *gr = g.data() + r * d, *xr = xs.data() + r * d;
    // dx = rstd * (g*w - xhat * mean(g*w*xhat)), xhat = x * rstd
    double sumGwX = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      float xhat = xr[i] * rs[r];
      sumGwX += gr[i] * ws[i] * xhat;
      dw[i] += gr[i] * xhat;
    }
    float meanGwX = static_cast<float>(sumGwX / d);
    for (int64_t i = 0; i < d; ++i)
      out[r * d + i] = rs[r] * (gr[i] * ws[i] - xr[i] * rs[r] * meanGwX);
  }
  fromFloat(*dx, out.data());
  std::vector<float> dwf(dw.begin(), dw.end());
  fromFloat(*dweight, dwf.data());
  return IVL_OK;
}

} // namespace ivl::cpu
