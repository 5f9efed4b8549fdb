//===- Linalg.cpp - linear and matmul
//---------------------------------------===//
//
// f32 accumulation over K in increasing order: one deterministic order that
// the compiled CPU step reproduces bit for bit.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"

using namespace ivl;
using namespace ivl::cpu;

extern "C" {

ivl_status ivl_linear(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *w, const ivl_tensor *b, ivl_tensor *y) {
  if (w->rank != 2 || x->rank < 1 || x->shape[x->rank - 1] != w->shape[1])
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "linear: input %s and weight %s do not match",
                describe(*x).c_str(), describe(*w).c_str());
  int64_t k = w->shape[1], n = w->shape[0];
  int64_t rows = numel(*x) / k;
  if (ivl_status s = expectNumel(ctx, "linear", "output", *y, rows * n))
    return s;
  std::vector<float> xs = toFloat(*x), ws = toFloat(*w), out(rows * n);
  std::vector<float> bs = b ? toFloat(*b) : std::vector<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = xs.data() + r * k;
    for (int64_t j = 0; j < n; ++j) {
      const float *wr = ws.data() + j * k;
      float acc = 0.0f;
      for (int64_t i = 0; i < k; ++i)
        acc += xr[i] * wr[i];
      out[r * n + j] = b ? acc + bs[j] : acc;
    }
  }
  fromFloat(*y, out.data());
  return IVL_OK;
}

ivl_status ivl_matmul(ivl_context *ctx, const ivl_tensor *lhs,
                      const ivl_tensor *rhs, int transposeLhs, int transposeRhs,
                      ivl_tensor *out) {
  if (lhs->rank < 2 || rhs->rank < 2)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "matmul: operands %s and %s need rank >= 2",
                describe(*lhs).c_str(), describe(*rhs).c_str());
  bool shared = rhs->rank == 2 && lhs->rank > 2;
  int64_t la = lhs->shape[lhs->rank - 2], lb = lhs->shape[lhs->rank - 1];
  int64_t ra = rhs->shape[rhs->rank - 2], rb = rhs->shape[rhs->rank - 1];
  int64_t m = transposeLhs ? lb : la, k = transposeLhs ? la : lb;
  int64_t n = transposeRhs ? ra : rb;
  int64_t batch = numel(*lhs) / (la * lb);
  if (shared) {
    // Every leading dimension of lhs acts as a row.
    m = numel(*lhs) / lb;
    batch = 1;
  }
  if (ivl_status s = expectNumel(ctx, "matmul", "output", *out, batch * m * n))
    return s;
  std::vector<float> a = toFloat(*lhs), bm = toFloat(*rhs), c(batch * m * n);
  int64_t aStride = shared ? 0 : la * lb, bStride = shared ? 0 : ra * rb;
  for (int64_t p = 0; p < batch; ++p) {
    const float *ap = a.data() + p * aStride;
    const float *bp = bm.data() + p * bStride;
    float *cp = c.data() + p * m * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0.0f;
        for (int64_t q = 0; q < k; ++q) {
          float av = transposeLhs ? ap[q * m + i] : ap[i * k + q];
          float bv = transposeRhs ? bp[j * k + q] : bp[q * n + j];
          acc += av * bv;
        }
        cp[i * n + j] = acc;
      }
  }
  fromFloat(*out, c.data());
  return IVL_OK;
}

} // extern "C"
