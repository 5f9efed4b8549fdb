//===- Attention.cu - flash-style attention, forward and backward; rope ---===//
//
// Forward: one warp per query row, keys in shared-memory tiles of 32 (one
// key per lane), online softmax (running max and sum), the output row in
// registers; the row's logsumexp is saved. No S x Skv buffer exists.
//
// Backward recomputes the probabilities from the logsumexp, as
// FlashAttention-2 does, in two passes that need no atomics: dQ with one
// warp per query row over key tiles, dK and dV with one warp per key row over
// query tiles (and over the query heads sharing the key head). The
// softmax correction rowsum(dO * O) goes to the scratch the memory plan
// gives the op.
//
// Packed sequences (cu_seqlens) narrow each row's range to its sample,
// found by a binary search over the row's boundaries; a block's tiles cover
// the union of its rows' ranges. The boundaries are checked on the device
// first and bad ones are reported at the next ivl_synchronize; the kernels
// clamp what they read, so bad boundaries give wrong numbers, never a stray
// access.
//
// The scores run on CUDA cores in f32 (head dims up to 128); a tensor-core
// version is future work (docs/compile.md, "The runtime").
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"
#include "internvl/runtime/KernelShapes.h"

#include <cmath>
#include <vector>

using namespace ivl;
using namespace ivl::cuda;

namespace {

constexpr int kTile = 32;   // keys (forward, dQ) or queries (dK/dV) per tile
constexpr int kWarps = 8;   // rows per block
constexpr int kMaxHead = 128;
constexpr int kPerLane = kMaxHead / 32;
constexpr unsigned kFull = 0xffffffffu;

/// The sample [begin, end) holding position i of a row of `bounds`
/// boundaries over `length` positions: the largest k with c[k] <= i, which
/// skips empty samples (upper_bound of i, minus one). Clamped so that it
/// holds i and stays in [0, length) even for boundaries that break the rules.
__device__ __forceinline__ void sampleOf(const int64_t *c, int64_t bounds,
                                         int64_t i, int64_t length,
                                         int64_t &begin, int64_t &end) {
  int64_t lo = 0, hi = bounds;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (c[mid] <= i)
      lo = mid + 1;
    else
      hi = mid;
  }
  int64_t k = min(max(lo, int64_t(1)), bounds - 1) - 1;
  begin = min(max(c[k], int64_t(0)), i);
  end = max(min(c[k + 1], length), i + 1);
}

struct AttentionArgs {
  const void *q, *k, *v;
  ivl_dtype tq, tk, tv;
  int64_t b, s, hq, d, skv, hkv, dv, group;
  bool causal;
  float scale;
  const int64_t *cu; // [b, bounds] sample boundaries, or null (S == Skv)
  int64_t bounds;

  /// Keys query i attends to: [first, limit).
  __device__ void keyRange(int64_t bi, int64_t i, int64_t &first,
                           int64_t &limit) const {
    int64_t begin = 0, end = skv;
    if (cu)
      sampleOf(cu + bi * bounds, bounds, i, skv, begin, end);
    first = begin;
    limit = causal ? i + 1 : end;
  }
  /// Queries that attend to key j: [first, limit).
  __device__ void queryRange(int64_t bi, int64_t j, int64_t &first,
                             int64_t &limit) const {
    int64_t begin = 0, end = s;
    if (cu)
      sampleOf(cu + bi * bounds, bounds, j, s, begin, end);
    first = causal ? j : begin;
    limit = end;
  }

  __device__ int64_t qAt(int64_t bi, int64_t i, int64_t h) const {
    return ((bi * s + i) * hq + h) * d;
  }
  __device__ int64_t oAt(int64_t bi, int64_t i, int64_t h) const {
    return ((bi * s + i) * hq + h) * dv;
  }
  __device__ int64_t kAt(int64_t bi, int64_t j, int64_t kh) const {
    return ((bi * skv + j) * hkv + kh) * d;
  }
  __device__ int64_t vAt(int64_t bi, int64_t j, int64_t kh) const {
    return ((bi * skv + j) * hkv + kh) * dv;
  }
  __device__ int64_t rowAt(int64_t bi, int64_t h, int64_t i) const {
    return (bi * hq + h) * s + i;
  }
};

/// Loads rows [first, first + kTile) of a [*, rows, heads, width] tensor
/// at head `head` into tile[r][t] (zeros past the end).
__device__ void loadTile(float (*tile)[kMaxHead + 1], const void *src,
                         ivl_dtype type, int64_t bi, int64_t first,
                         int64_t rows, int64_t heads, int64_t head,
                         int64_t width) {
  for (int idx = threadIdx.x; idx < kTile * width; idx += blockDim.x) {
    int r = idx / width, t = idx % width;
    int64_t row = first + r;
    tile[r][t] = row < rows
                     ? load(src, type, ((bi * rows + row) * heads + head) * width + t)
                     : 0.0f;
  }
}

/// The keys of query i ([first, limit)) and the key tiles of its block
/// ([keyBegin, keyEnd)): the ranges grow with i, so the block's first and
/// last rows bound them.
__device__ void blockKeys(const AttentionArgs &a, int64_t bi, int64_t i,
                          int64_t &keyBegin, int64_t &keyEnd, int64_t &first,
                          int64_t &limit) {
  int64_t firstRow = static_cast<int64_t>(blockIdx.x) * kWarps;
  int64_t lastRow = min(a.s - 1, firstRow + kWarps - 1), unused;
  a.keyRange(bi, firstRow, keyBegin, unused);
  a.keyRange(bi, lastRow, unused, keyEnd);
  keyEnd = min(a.skv, keyEnd);
  a.keyRange(bi, min(i, lastRow), first, limit);
}

__global__ void attentionForwardKernel(AttentionArgs a, void *o, ivl_dtype to,
                                       float *lse) {
  __shared__ float ks[kTile][kMaxHead + 1];
  __shared__ float vs[kTile][kMaxHead + 1];
  __shared__ float qs[kWarps][kMaxHead];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int64_t bi = blockIdx.z, h = blockIdx.y, kh = h / a.group;
  int64_t i = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  bool active = i < a.s;
  if (active)
    for (int t = lane; t < a.d; t += 32)
      qs[warp][t] = load(a.q, a.tq, a.qAt(bi, i, h) + t);

  float acc[kPerLane] = {};
  float m = -INFINITY, l = 0.0f;
  int64_t keyBegin, keyEnd, first, limit;
  blockKeys(a, bi, i, keyBegin, keyEnd, first, limit);
  for (int64_t j0 = keyBegin; j0 < keyEnd; j0 += kTile) {
    __syncthreads();
    loadTile(ks, a.k, a.tk, bi, j0, a.skv, a.hkv, kh, a.d);
    loadTile(vs, a.v, a.tv, bi, j0, a.skv, a.hkv, kh, a.dv);
    __syncthreads();
    if (!active)
      continue;
    int64_t j = j0 + lane;
    float score = -INFINITY;
    if (j >= first && j < limit) {
      float dot = 0.0f;
      for (int t = 0; t < a.d; ++t)
        dot += qs[warp][t] * ks[lane][t];
      score = dot * a.scale;
    }
    float newMax = fmaxf(m, warpMax(score));
    if (newMax == -INFINITY)
      continue;
    float alpha = m == -INFINITY ? 0.0f : expf(m - newMax);
    float p = score == -INFINITY ? 0.0f : expf(score - newMax);
    l = l * alpha + warpSum(p);
    for (int r = 0; r < kPerLane; ++r)
      acc[r] *= alpha;
    for (int jj = 0; jj < kTile; ++jj) {
      float pj = __shfl_sync(kFull, p, jj);
      if (pj == 0.0f)
        continue;
      for (int r = 0; r < kPerLane; ++r) {
        int t = lane + 32 * r;
        if (t < a.dv)
          acc[r] += pj * vs[jj][t];
      }
    }
    m = newMax;
  }
  if (!active)
    return;
  float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int r = 0; r < kPerLane; ++r) {
    int t = lane + 32 * r;
    if (t < a.dv)
      store(o, to, a.oAt(bi, i, h) + t, acc[r] * inv);
  }
  if (lane == 0)
    lse[a.rowAt(bi, h, i)] = m + logf(l);
}

/// delta = rowsum(dO * O), one warp per (b, h, i).
__global__ void attentionDeltaKernel(AttentionArgs a, const void *dout,
                                     ivl_dtype tg, const void *o, ivl_dtype to,
                                     float *delta) {
  int lane = threadIdx.x % 32;
  int64_t rows = a.b * a.hq * a.s;
  for (int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x +
                    threadIdx.x) / 32;
       w < rows; w += static_cast<int64_t>(blockDim.x) * gridDim.x / 32) {
    int64_t i = w % a.s, h = (w / a.s) % a.hq, bi = w / (a.s * a.hq);
    float sum = 0.0f;
    for (int t = lane; t < a.dv; t += 32)
      sum += load(dout, tg, a.oAt(bi, i, h) + t) *
             load(o, to, a.oAt(bi, i, h) + t);
    sum = warpSum(sum);
    if (lane == 0)
      delta[a.rowAt(bi, h, i)] = sum;
  }
}

__global__ void attentionGradQueryKernel(AttentionArgs a, const void *dout,
                                         ivl_dtype tg, const float *lse,
                                         const float *delta, void *dq,
                                         ivl_dtype tdq) {
  __shared__ float ks[kTile][kMaxHead + 1];
  __shared__ float vs[kTile][kMaxHead + 1];
  __shared__ float qs[kWarps][kMaxHead];
  __shared__ float gs[kWarps][kMaxHead];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int64_t bi = blockIdx.z, h = blockIdx.y, kh = h / a.group;
  int64_t i = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  bool active = i < a.s;
  float rowLse = 0.0f, rowDelta = 0.0f;
  if (active) {
    for (int t = lane; t < a.d; t += 32)
      qs[warp][t] = load(a.q, a.tq, a.qAt(bi, i, h) + t);
    for (int t = lane; t < a.dv; t += 32)
      gs[warp][t] = load(dout, tg, a.oAt(bi, i, h) + t);
    rowLse = lse[a.rowAt(bi, h, i)];
    rowDelta = delta[a.rowAt(bi, h, i)];
  }
  float acc[kPerLane] = {};
  int64_t keyBegin, keyEnd, first, limit;
  blockKeys(a, bi, i, keyBegin, keyEnd, first, limit);
  for (int64_t j0 = keyBegin; j0 < keyEnd; j0 += kTile) {
    __syncthreads();
    loadTile(ks, a.k, a.tk, bi, j0, a.skv, a.hkv, kh, a.d);
    loadTile(vs, a.v, a.tv, bi, j0, a.skv, a.hkv, kh, a.dv);
    __syncthreads();
    if (!active)
      continue;
    int64_t j = j0 + lane;
    float ds = 0.0f;
    if (j >= first && j < limit) {
      float dot = 0.0f, dp = 0.0f;
      for (int t = 0; t < a.d; ++t)
        dot += qs[warp][t] * ks[lane][t];
      for (int t = 0; t < a.dv; ++t)
        dp += gs[warp][t] * vs[lane][t];
      float p = expf(dot * a.scale - rowLse);
      ds = p * (dp - rowDelta) * a.scale;
    }
    for (int jj = 0; jj < kTile; ++jj) {
      float dsj = __shfl_sync(kFull, ds, jj);
      if (dsj == 0.0f)
        continue;
      for (int r = 0; r < kPerLane; ++r) {
        int t = lane + 32 * r;
        if (t < a.d)
          acc[r] += dsj * ks[jj][t];
      }
    }
  }
  if (!active)
    return;
  for (int r = 0; r < kPerLane; ++r) {
    int t = lane + 32 * r;
    if (t < a.d)
      store(dq, tdq, a.qAt(bi, i, h) + t, acc[r]);
  }
}

__global__ void attentionGradKeyKernel(AttentionArgs a, const void *dout,
                                       ivl_dtype tg, const float *lse,
                                       const float *delta, void *dk,
                                       ivl_dtype tdk, void *dv, ivl_dtype tdv) {
  __shared__ float qt[kTile][kMaxHead + 1];
  __shared__ float gt[kTile][kMaxHead + 1];
  __shared__ float kw[kWarps][kMaxHead];
  __shared__ float vw[kWarps][kMaxHead];
  __shared__ float lseT[kTile], deltaT[kTile];
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int64_t bi = blockIdx.z, kh = blockIdx.y;
  int64_t firstKey = static_cast<int64_t>(blockIdx.x) * kWarps;
  int64_t j = firstKey + warp;
  bool active = j < a.skv;
  if (active) {
    for (int t = lane; t < a.d; t += 32)
      kw[warp][t] = load(a.k, a.tk, a.kAt(bi, j, kh) + t);
    for (int t = lane; t < a.dv; t += 32)
      vw[warp][t] = load(a.v, a.tv, a.vAt(bi, j, kh) + t);
  }
  float accK[kPerLane] = {}, accV[kPerLane] = {};
  // The queries of key j, and those of the block's keys (growing with j).
  int64_t lastKey = min(a.skv - 1, firstKey + kWarps - 1), unused;
  int64_t queryStart, queryEnd, first, limit;
  a.queryRange(bi, firstKey, queryStart, unused);
  a.queryRange(bi, lastKey, unused, queryEnd);
  queryEnd = min(a.s, queryEnd);
  a.queryRange(bi, min(j, lastKey), first, limit);
  for (int64_t g = 0; g < a.group; ++g) {
    int64_t h = kh * a.group + g;
    for (int64_t i0 = queryStart; i0 < queryEnd; i0 += kTile) {
      __syncthreads();
      loadTile(qt, a.q, a.tq, bi, i0, a.s, a.hq, h, a.d);
      loadTile(gt, dout, tg, bi, i0, a.s, a.hq, h, a.dv);
      if (threadIdx.x < kTile) {
        int64_t i = i0 + threadIdx.x;
        lseT[threadIdx.x] = i < a.s ? lse[a.rowAt(bi, h, i)] : 0.0f;
        deltaT[threadIdx.x] = i < a.s ? delta[a.rowAt(bi, h, i)] : 0.0f;
      }
      __syncthreads();
      if (!active)
        continue;
      int64_t i = i0 + lane;
      float p = 0.0f, ds = 0.0f;
      if (i >= first && i < limit) {
        float dot = 0.0f, dp = 0.0f;
        for (int t = 0; t < a.d; ++t)
          dot += qt[lane][t] * kw[warp][t];
        for (int t = 0; t < a.dv; ++t)
          dp += gt[lane][t] * vw[warp][t];
        p = expf(dot * a.scale - lseT[lane]);
        ds = p * (dp - deltaT[lane]) * a.scale;
      }
      for (int ii = 0; ii < kTile; ++ii) {
        float pi = __shfl_sync(kFull, p, ii);
        float dsi = __shfl_sync(kFull, ds, ii);
        if (pi == 0.0f && dsi == 0.0f)
          continue;
        for (int r = 0; r < kPerLane; ++r) {
          int t = lane + 32 * r;
          if (t < a.dv)
            accV[r] += pi * gt[ii][t];
          if (t < a.d)
            accK[r] += dsi * qt[ii][t];
        }
      }
    }
  }
  if (!active)
    return;
  for (int r = 0; r < kPerLane; ++r) {
    int t = lane + 32 * r;
    if (t < a.d)
      store(dk, tdk, a.kAt(bi, j, kh) + t, accK[r]);
    if (t < a.dv)
      store(dv, tdv, a.vAt(bi, j, kh) + t, accV[r]);
  }
}

ivl_status readArgs(ivl_context *ctx, const char *kernel, const ivl_tensor &q,
                    const ivl_tensor &k, const ivl_tensor &v,
                    const ivl_tensor *cu, int32_t causal, double scale,
                    AttentionArgs &a) {
  AttentionShape d;
  if (!attentionShape(q, k, v, d))
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "%s: expected rank-4 q, k, v whose query heads group onto the "
                "key heads, got %s, %s, %s",
                kernel, describe(q).c_str(), describe(k).c_str(),
                describe(v).c_str());
  a = AttentionArgs{q.data,  k.data, v.data, q.dtype,     k.dtype,
                    v.dtype, d.b,    d.s,    d.hq,        d.d,
                    d.skv,   d.hkv,  d.dv,   d.group,     causal != 0,
                    static_cast<float>(scale),
                    cu ? static_cast<const int64_t *>(cu->data) : nullptr,
                    cu ? cu->shape[1] : 0};
  if (a.d > kMaxHead || a.dv > kMaxHead)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "%s: head dimensions %lld/%lld exceed the kernel's %d", kernel,
                static_cast<long long>(a.d), static_cast<long long>(a.dv),
                kMaxHead);
  return IVL_OK;
}

/// Checks the sample boundaries, one thread per row; the first bad element
/// (the CPU's) is reported.
__global__ void sampleBoundsKernel(const int64_t *c, int64_t rows,
                                   int64_t bounds, int64_t length, int kernel,
                                   DeviceStatus *status) {
  __shared__ unsigned long long firstBad;
  if (threadIdx.x == 0)
    firstBad = ~0ull;
  __syncthreads();
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    long long bad = firstBadSampleBound(c + r * bounds, 1, bounds, length);
    if (bad >= 0)
      atomicMin(&firstBad, static_cast<unsigned long long>(r * bounds + bad));
  }
  __syncthreads();
  if (threadIdx.x == 0 && firstBad != ~0ull) {
    auto at = static_cast<long long>(firstBad);
    reportError(status, DataError::SampleBounds, kernel, at, c[at], length);
  }
}

ivl_status checkSampleBounds(ivl_context *ctx, const char *kernel,
                             int kernelId, const ivl_tensor *cu,
                             int64_t length) {
  if (!cu || cu->shape[0] == 0)
    return IVL_OK;
  sampleBoundsKernel<<<1, kBlock, 0, ctx->stream>>>(
      static_cast<const int64_t *>(cu->data), cu->shape[0], cu->shape[1],
      length, kernelId, ctx->status);
  return launched(ctx, kernel);
}

dim3 rowGrid(int64_t rows, int64_t heads, int64_t batch) {
  return dim3(static_cast<unsigned>((rows + kWarps - 1) / kWarps),
              static_cast<unsigned>(heads), static_cast<unsigned>(batch));
}

/// Inverse frequencies of rotary pair i, as transformers computes them.
struct RopeFrequencies {
  float inv[kMaxHead * 2];
};

__global__ void ropeKernel(const void *in, ivl_dtype ti, RopeFrequencies f,
                           float attentionFactor, float sign, int64_t s,
                           int64_t heads, int64_t d, const int64_t *cu,
                           int64_t bounds, void *out, ivl_dtype to,
                           int64_t pairs) {
  int64_t half = d / 2;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       p < pairs; p += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t i = p % half, row = p / half; // row = (b * s + pos) * heads + h
    int64_t pos = (row / heads) % s;
    // Packed samples restart their positions (InternVL's position_ids).
    if (cu) {
      int64_t begin, end;
      sampleOf(cu + (row / heads) / s * bounds, bounds, pos, s, begin, end);
      pos -= begin;
    }
    float angle = static_cast<float>(pos) * f.inv[i];
    float c = cosf(angle) * attentionFactor;
    float sn = sinf(angle) * attentionFactor * sign;
    int64_t base = row * d;
    float x1 = load(in, ti, base + i), x2 = load(in, ti, base + half + i);
    store(out, to, base + i, x1 * c - x2 * sn);
    store(out, to, base + half + i, x2 * c + x1 * sn);
  }
}

} // namespace

namespace ivl::cuda {

ivl_status attention(ivl_context *ctx, const ivl_tensor *q,
                     const ivl_tensor *k, const ivl_tensor *v,
                     const ivl_tensor *cu, int32_t causal, double scale,
                     ivl_tensor *o, ivl_tensor *lse) {
  AttentionArgs a;
  if (ivl_status s =
          readArgs(ctx, "attention", *q, *k, *v, cu, causal, scale, a))
    return s;
  if (ivl_status s = checkSampleBounds(ctx, "attention (cu_seqlens)",
                                       kAttention, cu, a.skv))
    return s;
  if (a.s == 0 || a.b == 0)
    return IVL_OK;
  attentionForwardKernel<<<rowGrid(a.s, a.hq, a.b), kWarps * 32, 0,
                           ctx->stream>>>(a, o->data, o->dtype,
                                          static_cast<float *>(lse->data));
  return launched(ctx, "attention");
}

ivl_status attention_grad(ivl_context *ctx, const ivl_tensor *dout,
                          const ivl_tensor *q, const ivl_tensor *k,
                          const ivl_tensor *v, const ivl_tensor *o,
                          const ivl_tensor *lse, const ivl_tensor *cu,
                          int32_t causal, double scale, ivl_tensor *dq,
                          ivl_tensor *dk, ivl_tensor *dv) {
  AttentionArgs a;
  if (ivl_status s =
          readArgs(ctx, "attention_grad", *q, *k, *v, cu, causal, scale, a))
    return s;
  int64_t rows = a.b * a.hq * a.s;
  int64_t need = rows * static_cast<int64_t>(sizeof(float));
  if (!ctx->scratch || ctx->scratchBytes < need)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "attention_grad: needs %lld bytes of scratch for rowsum(dO*O), "
                "the step set %lld (tg.workspace of the memory plan)",
                static_cast<long long>(need),
                static_cast<long long>(ctx->scratchBytes));
  if (ivl_status s = checkSampleBounds(ctx, "attention_grad (cu_seqlens)",
                                       kAttentionGrad, cu, a.skv))
    return s;
  // No queries: the key and value gradients are sums of nothing.
  if (rows == 0) {
    if (ivl_status s = zero(ctx, *dk, "attention_grad"))
      return s;
    return zero(ctx, *dv, "attention_grad");
  }
  float *delta = static_cast<float *>(ctx->scratch);
  const float *l = static_cast<const float *>(lse->data);
  attentionDeltaKernel<<<gridFor(rows * 32), kBlock, 0, ctx->stream>>>(
      a, dout->data, dout->dtype, o->data, o->dtype, delta);
  if (ivl_status s = launched(ctx, "attention_grad (delta)"))
    return s;
  attentionGradQueryKernel<<<rowGrid(a.s, a.hq, a.b), kWarps * 32, 0,
                             ctx->stream>>>(a, dout->data, dout->dtype, l,
                                            delta, dq->data, dq->dtype);
  if (ivl_status s = launched(ctx, "attention_grad (dq)"))
    return s;
  attentionGradKeyKernel<<<rowGrid(a.skv, a.hkv, a.b), kWarps * 32, 0,
                           ctx->stream>>>(a, dout->data, dout->dtype, l, delta,
                                          dk->data, dk->dtype, dv->data,
                                          dv->dtype);
  return launched(ctx, "attention_grad (dk, dv)");
}

ivl_status rope(ivl_context *ctx, const ivl_tensor *in, const ivl_tensor *cu,
                double theta, const double *freqFactors,
                double attentionFactor, int32_t inverse, ivl_tensor *out) {
  // The frequency table is a kernel argument of fixed size.
  if (in->shape[3] > 4 * kMaxHead)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "rope: head width %lld exceeds the kernel's %d",
                static_cast<long long>(in->shape[3]), 4 * kMaxHead);
  int64_t d = in->shape[3], half = d / 2;
  RopeFrequencies f;
  for (int64_t i = 0; i < half; ++i) {
    float base = std::pow(static_cast<float>(theta),
                          static_cast<float>(2 * i) / static_cast<float>(d));
    float factor = freqFactors ? static_cast<float>(freqFactors[i]) : 1.0f;
    f.inv[i] = 1.0f / (factor * base);
  }
  if (ivl_status s =
          checkSampleBounds(ctx, "rope (cu_seqlens)", kRope, cu, in->shape[1]))
    return s;
  int64_t pairs = numel(*in) / 2;
  if (pairs == 0)
    return IVL_OK;
  ropeKernel<<<gridFor(pairs), kBlock, 0, ctx->stream>>>(
      in->data, in->dtype, f, static_cast<float>(attentionFactor),
      inverse ? -1.0f : 1.0f, in->shape[1], in->shape[2], d,
      cu ? static_cast<const int64_t *>(cu->data) : nullptr,
      cu ? cu->shape[1] : 0, out->data, out->dtype, pairs);
  return launched(ctx, "rope");
}

} // namespace ivl::cuda
