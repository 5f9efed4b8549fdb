//===- Linalg.cpp - linear and matmul -------------------------------------===//
//
// f32 accumulation over K in increasing order: one deterministic order that
// the compiled CPU step reproduces bit for bit.
//
//===----------------------------------------------------------------------===//

#include "Tensor.h"
#include "internvl/runtime/KernelShapes.h"

using namespace ivl;
using namespace ivl::cpu;

namespace ivl::cpu {

ivl_status linear(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *w, const ivl_tensor *b, ivl_tensor *y) {
  int64_t k = w->shape[1], n = w->shape[0];
  int64_t rows = numel(*x) / k;
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

ivl_status matmul(ivl_context *ctx, const ivl_tensor *lhs,
                      const ivl_tensor *rhs, int transposeLhs, int transposeRhs,
                      ivl_tensor *out) {
  MatmulShape shape{};
  // The API checked that the operands have a matrix shape.
  (void)matmulShape(*lhs, *rhs, transposeLhs, transposeRhs, shape);
  int64_t m = shape.m, n = shape.n, k = shape.k, batch = shape.batch;
  bool shared = shape.shared;
  std::vector<float> a = toFloat(*lhs), bm = toFloat(*rhs), c(batch * m * n);
  int64_t aStride = shared ? 0 : shape.la * shape.lb;
  int64_t bStride = shared ? 0 : shape.ra * shape.rb;
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

} // namespace ivl::cpu
