//===- Linalg.cu - linear and matmul on cuBLASLt --------------------------===//
//
// Row-major products as column-major cuBLASLt calls: a row-major [r, c]
// matrix is the column-major [c, r] one, so C = A.B is computed as
// C^T = B^T.A^T with the operands swapped. bf16 (or f16, f32) in, f32
// accumulation (CUBLAS_COMPUTE_32F), the bias of tg.linear as the BIAS
// epilogue. One plan (descriptors and the heuristic's algorithm) per
// distinct product, cached on the context: the step's shapes are static.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"
#include "internvl/runtime/KernelShapes.h"

#include <cstdint>

using namespace ivl;
using namespace ivl::cuda;

namespace {

bool cudaType(ivl_dtype t, cudaDataType_t &out) {
  switch (t) {
  case IVL_F32:
    out = CUDA_R_32F;
    return true;
  case IVL_BF16:
    out = CUDA_R_16BF;
    return true;
  case IVL_F16:
    out = CUDA_R_16F;
    return true;
  default:
    return false;
  }
}

/// The largest power of two up to 256 dividing every value.
uint64_t alignmentOf(std::initializer_list<uint64_t> values) {
  uint64_t a = 256;
  for (uint64_t v : values)
    while (a > 1 && v % a)
      a >>= 1;
  return a;
}

/// One column-major product D[m, n] = op(A)[m, k] . op(B)[k, n] (+ bias[m]),
/// `batch` times with the given element strides.
struct Gemm {
  cublasOperation_t opA, opB;
  int64_t m, n, k;
  const void *a, *b, *bias;
  void *d;
  int64_t lda, ldb, ldd;
  int64_t strideA, strideB, strideD;
  int64_t batch;
  ivl_dtype type;
  /// D's type when it differs from the operands' (an f32 sum).
  ivl_dtype outType = type;
  /// D = A·B + beta·D.
  float beta = 0.0f;
};

ivl_status checkLt(ivl_context *ctx, cublasStatus_t status, const char *what) {
  if (status == CUBLAS_STATUS_SUCCESS)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_RUNTIME, "%s: cuBLASLt error %d (%s)", what,
              static_cast<int>(status), cublasGetStatusString(status));
}

ivl_status layout(ivl_context *ctx, cublasLtMatrixLayout_t &out,
                  cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                  int64_t batch, int64_t stride) {
  if (ivl_status s = checkLt(ctx,
                             cublasLtMatrixLayoutCreate(&out, type, rows, cols,
                                                        ld),
                             "matrix layout"))
    return s;
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    if (ivl_status s = checkLt(
            ctx,
            cublasLtMatrixLayoutSetAttribute(
                out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
            "batch count"))
      return s;
    if (ivl_status s = checkLt(ctx,
                               cublasLtMatrixLayoutSetAttribute(
                                   out,
                                   CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                   &stride, sizeof stride),
                               "batch stride"))
      return s;
  }
  return IVL_OK;
}

ivl_status plan(ivl_context *ctx, const Gemm &g, cudaDataType_t type,
                cudaDataType_t outType, GemmPlan &p) {
  int64_t size = ivl_dtype_size(g.type);
  if (ivl_status s = checkLt(ctx,
                             cublasLtMatmulDescCreate(&p.desc,
                                                      CUBLAS_COMPUTE_32F,
                                                      CUDA_R_32F),
                             "matmul descriptor"))
    return s;
  cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &g.opA,
                                 sizeof g.opA);
  cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &g.opB,
                                 sizeof g.opB);
  if (g.bias) {
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                   &epilogue, sizeof epilogue);
    cublasLtMatmulDescSetAttribute(p.desc,
                                   CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type,
                                   sizeof type);
  }
  int64_t aRows = g.opA == CUBLAS_OP_N ? g.m : g.k;
  int64_t aCols = g.opA == CUBLAS_OP_N ? g.k : g.m;
  int64_t bRows = g.opB == CUBLAS_OP_N ? g.k : g.n;
  int64_t bCols = g.opB == CUBLAS_OP_N ? g.n : g.k;
  if (ivl_status s =
          layout(ctx, p.a, type, aRows, aCols, g.lda, g.batch, g.strideA))
    return s;
  if (ivl_status s =
          layout(ctx, p.b, type, bRows, bCols, g.ldb, g.batch, g.strideB))
    return s;
  if (ivl_status s =
          layout(ctx, p.d, outType, g.m, g.n, g.ldd, g.batch, g.strideD))
    return s;

  cublasLtMatmulPreference_t pref;
  if (ivl_status s =
          checkLt(ctx, cublasLtMatmulPreferenceCreate(&pref), "preference"))
    return s;
  uint64_t workspace = static_cast<uint64_t>(ctx->workspaceBytes);
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
      sizeof workspace);
  // Views inside the arena are 256-byte aligned, but batched operands and
  // reshaped views may be less: tell the heuristic what holds.
  auto align = [&](cublasLtMatmulPreferenceAttributes_t attr, const void *ptr,
                   int64_t stride) {
    uint32_t a = static_cast<uint32_t>(alignmentOf(
        {reinterpret_cast<uintptr_t>(ptr),
         static_cast<uint64_t>(g.batch > 1 ? stride * size : 256)}));
    cublasLtMatmulPreferenceSetAttribute(pref, attr, &a, sizeof a);
  };
  align(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g.a, g.strideA);
  align(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g.b, g.strideB);
  align(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.d, g.strideD);
  align(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.d, g.strideD);

  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      ctx->lt, p.desc, p.a, p.b, p.d, p.d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0)
    return fail(ctx, IVL_ERROR_RUNTIME,
                "cuBLASLt has no algorithm for [%lld x %lld] . [%lld x %lld] "
                "(batch %lld) with a %lld-byte workspace",
                static_cast<long long>(g.m), static_cast<long long>(g.k),
                static_cast<long long>(g.k), static_cast<long long>(g.n),
                static_cast<long long>(g.batch),
                static_cast<long long>(ctx->workspaceBytes));
  p.algo = result.algo;
  return IVL_OK;
}

ivl_status run(ivl_context *ctx, const Gemm &g, const char *kernel) {
  cudaDataType_t type, outType;
  if (!cudaType(g.type, type) || !cudaType(g.outType, outType))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "%s: operands must be f32, bf16 or f16", kernel);
  if (g.m == 0 || g.n == 0 || g.batch == 0)
    return IVL_OK;
  char key[512];
  std::snprintf(
      key, sizeof key, "%d %d %lld %lld %lld %lld %lld %lld %lld %lld %lld "
                       "%lld %d %d %d %lld %llu %llu %llu",
      g.opA, g.opB, (long long)g.m, (long long)g.n, (long long)g.k,
      (long long)g.lda, (long long)g.ldb, (long long)g.ldd,
      (long long)g.strideA, (long long)g.strideB, (long long)g.strideD,
      (long long)g.batch, static_cast<int>(g.type),
      static_cast<int>(g.outType), g.bias != nullptr,
      (long long)ctx->workspaceBytes,
      (unsigned long long)alignmentOf({reinterpret_cast<uintptr_t>(g.a)}),
      (unsigned long long)alignmentOf({reinterpret_cast<uintptr_t>(g.b)}),
      (unsigned long long)alignmentOf({reinterpret_cast<uintptr_t>(g.d)}));
  auto it = ctx->gemmPlans.find(key);
  if (it == ctx->gemmPlans.end()) {
    GemmPlan p;
    if (ivl_status s = plan(ctx, g, type, outType, p))
      return s;
    it = ctx->gemmPlans.emplace(key, p).first;
  }
  GemmPlan &p = it->second;
  if (g.bias)
    cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                   &g.bias, sizeof g.bias);
  float alpha = 1.0f, beta = g.beta;
  return checkLt(ctx,
                 cublasLtMatmul(ctx->lt, p.desc, &alpha, g.a, p.a, g.b, p.b,
                                &beta, g.d, p.d, g.d, p.d, &p.algo,
                                ctx->workspace, ctx->workspaceBytes,
                                ctx->stream),
                 kernel);
}

} // namespace

namespace ivl::cuda {

ivl_status linear(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *w, const ivl_tensor *b, ivl_tensor *y) {
  int64_t k = w->shape[1], n = w->shape[0];
  int64_t rows = k ? numel(*x) / k : 0;
  // y^T [n, rows] = w [n, k] . x^T [k, rows] in column-major terms.
  Gemm g{CUBLAS_OP_T, CUBLAS_OP_N, n,       rows,    k, w->data,
         x->data,     b ? b->data : nullptr, y->data, k, k,
         n,           0,                     0,       0, 1,
         w->dtype};
  return run(ctx, g, "linear");
}

ivl_status matmul(ivl_context *ctx, const ivl_tensor *lhs,
                      const ivl_tensor *rhs, int transposeLhs, int transposeRhs,
                      ivl_tensor *out) {
  MatmulShape shape{};
  // The API checked that the operands have a matrix shape.
  (void)matmulShape(*lhs, *rhs, transposeLhs, transposeRhs, shape);
  bool shared = shape.shared;
  int64_t m = shape.m, n = shape.n, k = shape.k, batch = shape.batch;
  int64_t la = shape.la, lb = shape.lb, ra = shape.ra, rb = shape.rb;
  // out^T [n, m] = op(rhs)^T . op(lhs)^T: rhs is cuBLAS's A, lhs its B.
  Gemm g{transposeRhs ? CUBLAS_OP_T : CUBLAS_OP_N,
         transposeLhs ? CUBLAS_OP_T : CUBLAS_OP_N,
         n,
         m,
         k,
         rhs->data,
         lhs->data,
         nullptr,
         out->data,
         rb,
         lb,
         n,
         shared ? 0 : ra * rb,
         shared ? 0 : la * lb,
         m * n,
         batch,
         lhs->dtype};
  return run(ctx, g, "matmul");
}

ivl_status gemmTransposedLhs(ivl_context *ctx, const void *lhs,
                             const void *rhs, ivl_dtype type, int64_t m,
                             int64_t n, int64_t k, void *out,
                             ivl_dtype outType, bool accumulate) {
  // out^T [n, m] = rhs^T [n, k] . lhs [k, m] in column-major terms.
  Gemm g{CUBLAS_OP_N, CUBLAS_OP_T, n,  m, k, rhs, lhs, nullptr, out,
         n,           m,           n,  0, 0, 0, 1,   type};
  g.outType = outType;
  g.beta = accumulate ? 1.0f : 0.0f;
  return run(ctx, g, "gemm (transposed lhs)");
}

} // namespace ivl::cuda
