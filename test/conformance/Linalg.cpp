//===- Linalg.cpp - conformance of linear and matmul ----------------------===//

#include "Conformance.h"

#include <cmath>

using namespace conformance;

namespace {

/// Tolerance of a product summed over k terms of size about 1: f32
/// accumulation grows like sqrt(k).
Tolerance productTolerance(ivl_dtype dtype, int64_t k) {
  return toleranceFor(dtype, std::sqrt(static_cast<double>(k) + 1));
}

void linearCase(Case &c, ivl_dtype dtype, Shape lead, int64_t k, int64_t n,
                bool bias) {
  Shape xs = lead, ys = lead;
  xs.push_back(k);
  ys.push_back(n);
  Tensor x = c.random(dtype, xs), w = c.random(dtype, {n, k}),
         b = c.random(dtype, {n});
  ivl_tensor dx = c.device(x), dw = c.device(w), db = c.device(b),
             y = c.output(dtype, ys);
  if (!c.call(ivl_linear(c.context(), &dx, &dw, bias ? &db : nullptr, &y)))
    return;
  int64_t rows = numel(lead);
  std::vector<double> want(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? b[j] : 0;
      for (int64_t i = 0; i < k; ++i)
        acc += x[r * k + i] * w[j * k + i];
      want[r * n + j] = acc;
    }
  c.expect("y", y, want, productTolerance(dtype, k));
}

/// out[p] = op(a[p]) . op(b[p]) with [m, k] x [k, n] after the transposes;
/// `shared`: b is one [.., ..] matrix for every row of a.
void matmulCase(Case &c, ivl_dtype dtype, int64_t batch, int64_t m, int64_t k,
                int64_t n, bool ta, bool tb, bool shared = false) {
  Shape as = {batch, ta ? k : m, ta ? m : k};
  Shape bs = {tb ? n : k, tb ? k : n};
  if (!shared)
    bs.insert(bs.begin(), batch);
  Tensor a = c.random(dtype, as), b = c.random(dtype, bs);
  ivl_tensor da = c.device(a), db = c.device(b),
             o = c.output(dtype, {batch, m, n});
  if (!c.call(ivl_matmul(c.context(), &da, &db, ta, tb, &o)))
    return;
  std::vector<double> want(batch * m * n);
  for (int64_t p = 0; p < batch; ++p) {
    const double *ap = a.values.data() + p * m * k;
    const double *bp = b.values.data() + (shared ? 0 : p * k * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q)
          acc += (ta ? ap[q * m + i] : ap[i * k + q]) *
                 (tb ? bp[j * k + q] : bp[q * n + j]);
        want[(p * m + i) * n + j] = acc;
      }
  }
  c.expect("out", o, want, productTolerance(dtype, k));
}

} // namespace

CONFORMANCE_CASE(linear, odd_sizes_bias) {
  linearCase(c, IVL_BF16, {2, 7}, 33, 13, true);
  linearCase(c, IVL_F32, {5}, 17, 9, true);
}

CONFORMANCE_CASE(linear, no_bias) {
  linearCase(c, IVL_BF16, {3, 5}, 64, 48, false);
  linearCase(c, IVL_F32, {1}, 128, 3, false);
}

CONFORMANCE_CASE(linear, one_and_zero_rows) {
  linearCase(c, IVL_BF16, {1, 1}, 16, 8, true);
  linearCase(c, IVL_BF16, {0, 4}, 16, 8, true);
}

CONFORMANCE_CASE(linear, long_reduction) {
  linearCase(c, IVL_BF16, {4}, 4096, 5, false);
}

CONFORMANCE_CASE(matmul, transposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      matmulCase(c, IVL_BF16, 3, 7, 13, 5, ta, tb);
      matmulCase(c, IVL_F32, 2, 4, 9, 11, ta, tb);
    }
}

CONFORMANCE_CASE(matmul, shared_rhs) {
  matmulCase(c, IVL_BF16, 4, 3, 16, 8, false, false, true);
  matmulCase(c, IVL_BF16, 2, 5, 8, 6, false, true, true);
}

CONFORMANCE_CASE(matmul, degenerate) {
  matmulCase(c, IVL_F32, 1, 1, 1, 1, false, false);
  matmulCase(c, IVL_BF16, 1, 1, 256, 1, true, false);
  matmulCase(c, IVL_BF16, 0, 3, 4, 5, false, false);
}
