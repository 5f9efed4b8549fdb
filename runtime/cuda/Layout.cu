//===- Layout.cu - data movement and sums ---------------------------------===//
//
// Every layout kernel is an index map: output element i reads source
// element map(i) (gather), or input element i goes to map(i) (scatter).
// Bytes move unchanged. reduce_sum accumulates in f64 as the CPU does.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

using namespace ivl;
using namespace ivl::cuda;

namespace {

__global__ void gatherKernel(const void *in, IndexMap map, void *out,
                             int64_t size, int64_t n) {
  GRID_STRIDE(i, n) { copyElement(out, i, in, map(i), size); }
}

__global__ void scatterKernel(const void *in, IndexMap map, void *out,
                              int64_t size, int64_t n) {
  GRID_STRIDE(i, n) { copyElement(out, map(i), in, i, size); }
}

__global__ void reduceSumKernel(const void *in, ivl_dtype ti, IndexMap kept,
                                IndexMap reduced, int64_t count, void *out,
                                ivl_dtype to, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t base = kept(o);
    double sum = 0.0;
    for (int64_t r = 0; r < count; ++r)
      sum += load(in, ti, base + reduced(r));
    store(out, to, o, static_cast<float>(sum));
  }
}

/// InternVL's pixel_shuffle as one gather: view [n, w, h*s, c/s], swap
/// dims 1 and 2, view [n, h*s, w*s, c/s^2], and for v2 swap dims 1 and 2
/// again.
struct PixelShuffleDims {
  int64_t n, w, hs, cs, ws, c2;
  int32_t version;
};

__global__ void pixelShuffleKernel(const void *in, PixelShuffleDims d,
                                   void *out, int64_t size, int64_t total) {
  GRID_STRIDE(i, total) {
    // Index into the first permuted tensor [n, hs, w, cs].
    int64_t permutedIndex = i;
    if (d.version == 2) {
      // out [n, ws, hs, c2] is viewC [n, hs, ws, c2] with dims 1, 2 swapped.
      int64_t c = i % d.c2, rest = i / d.c2;
      int64_t q = rest % d.hs;
      rest /= d.hs;
      int64_t p = rest % d.ws, b = rest / d.ws;
      permutedIndex = ((b * d.hs + q) * d.ws + p) * d.c2 + c;
    }
    int64_t c = permutedIndex % d.cs, rest = permutedIndex / d.cs;
    int64_t col = rest % d.w;
    rest /= d.w;
    int64_t row = rest % d.hs, b = rest / d.hs;
    copyElement(out, i, in, ((b * d.w + col) * d.hs + row) * d.cs + c, size);
  }
}

ivl_status sameType(ivl_context *ctx, const char *kernel, const ivl_tensor &a,
                    const ivl_tensor &b) {
  if (a.dtype == b.dtype)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: element types differ (%s vs %s)", kernel,
              describe(a).c_str(), describe(b).c_str());
}

ivl_status gather(ivl_context *ctx, const char *kernel, const ivl_tensor &in,
                  const IndexMap &map, ivl_tensor &out) {
  int64_t n = numel(out);
  if (n == 0)
    return IVL_OK;
  gatherKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      in.data, map, out.data, ivl_dtype_size(in.dtype), n);
  return launched(ctx, kernel);
}

ivl_status scatter(ivl_context *ctx, const char *kernel, const ivl_tensor &in,
                   const IndexMap &map, ivl_tensor &out) {
  int64_t n = numel(in);
  if (n == 0)
    return IVL_OK;
  scatterKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      in.data, map, out.data, ivl_dtype_size(in.dtype), n);
  return launched(ctx, kernel);
}

/// The map from coordinates of `shape` to offsets with `strides`.
IndexMap shapeMap(const ivl_tensor &shape, const int64_t *strides,
                  int64_t base) {
  IndexMap map;
  map.rank = shape.rank;
  map.base = base;
  for (int32_t d = 0; d < shape.rank; ++d) {
    map.dims[d] = shape.shape[d];
    map.strides[d] = strides[d];
  }
  return map;
}

} // namespace

extern "C" {

ivl_status ivl_copy(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out) {
  if (ivl_status s = sameType(ctx, "copy", *in, *out))
    return s;
  if (ivl_status s = expectNumel(ctx, "copy", "output", *out, numel(*in)))
    return s;
  if (in->data == out->data)
    return IVL_OK;
  return check(ctx,
               cudaMemcpyAsync(out->data, in->data,
                               numel(*in) * ivl_dtype_size(in->dtype),
                               cudaMemcpyDeviceToDevice, ctx->stream),
               "copy");
}

} // extern "C"

namespace ivl::cuda {

ivl_status transpose(ivl_context *ctx, const ivl_tensor *in,
                         const int64_t *permutation, ivl_tensor *out) {
  int64_t inStrides[IVL_MAX_RANK], strides[IVL_MAX_RANK];
  rowMajorStrides(*in, inStrides);
  for (int32_t d = 0; d < out->rank; ++d)
    strides[d] = inStrides[permutation[d]];
  return gather(ctx, "transpose", *in, shapeMap(*out, strides, 0), *out);
}

ivl_status broadcast(ivl_context *ctx, const ivl_tensor *in,
                         ivl_tensor *out) {
  return gather(ctx, "broadcast", *in, broadcastMap(*in, *out), *out);
}

ivl_status concat(ivl_context *ctx, const ivl_tensor *inputs,
                      int32_t count, int32_t dim, ivl_tensor *out) {
  int64_t outStrides[IVL_MAX_RANK];
  rowMajorStrides(*out, outStrides);
  int64_t column = 0;
  for (int32_t k = 0; k < count; ++k) {
    if (ivl_status s =
            scatter(ctx, "concat", inputs[k],
                    shapeMap(inputs[k], outStrides, column * outStrides[dim]),
                    *out))
      return s;
    column += inputs[k].shape[dim];
  }
  return IVL_OK;
}

ivl_status slice(ivl_context *ctx, const ivl_tensor *in,
                     const int64_t *offsets, ivl_tensor *out) {
  int64_t inStrides[IVL_MAX_RANK];
  rowMajorStrides(*in, inStrides);
  int64_t base = 0;
  for (int32_t d = 0; d < in->rank; ++d)
    base += offsets[d] * inStrides[d];
  return gather(ctx, "slice", *in, shapeMap(*out, inStrides, base), *out);
}

ivl_status pad(ivl_context *ctx, const ivl_tensor *in, const int64_t *low,
                   ivl_tensor *out) {
  if (ivl_status s = check(ctx,
                           cudaMemsetAsync(out->data, 0,
                                           numel(*out) *
                                               ivl_dtype_size(out->dtype),
                                           ctx->stream),
                           "pad"))
    return s;
  int64_t outStrides[IVL_MAX_RANK];
  rowMajorStrides(*out, outStrides);
  int64_t base = 0;
  for (int32_t d = 0; d < out->rank; ++d)
    base += low[d] * outStrides[d];
  return scatter(ctx, "pad", *in, shapeMap(*in, outStrides, base), *out);
}

ivl_status reduce_sum(ivl_context *ctx, const ivl_tensor *in,
                          const int64_t *dims, int32_t numDims,
                          ivl_tensor *out) {
  bool reduced[IVL_MAX_RANK] = {};
  for (int32_t i = 0; i < numDims; ++i) {
    reduced[dims[i]] = true;
  }
  int64_t inStrides[IVL_MAX_RANK];
  rowMajorStrides(*in, inStrides);
  IndexMap kept, red;
  int64_t outputs = 1, count = 1;
  for (int32_t d = 0; d < in->rank; ++d) {
    IndexMap &m = reduced[d] ? red : kept;
    m.dims[m.rank] = in->shape[d];
    m.strides[m.rank] = inStrides[d];
    ++m.rank;
    (reduced[d] ? count : outputs) *= in->shape[d];
  }
  reduceSumKernel<<<gridFor(outputs), kBlock, 0, ctx->stream>>>(
      in->data, in->dtype, kept, red, count, out->data, out->dtype, outputs);
  return launched(ctx, "reduce_sum");
}

ivl_status pixel_shuffle(ivl_context *ctx, const ivl_tensor *in,
                             double scale, int32_t version, ivl_tensor *out) {
  PixelShuffleDims d;
  d.n = in->shape[0];
  d.w = in->shape[1];
  int64_t h = in->shape[2], c = in->shape[3];
  d.hs = static_cast<int64_t>(h * scale + 0.5);
  d.ws = static_cast<int64_t>(d.w * scale + 0.5);
  d.cs = static_cast<int64_t>(c / scale + 0.5);
  d.c2 = static_cast<int64_t>(c / (scale * scale) + 0.5);
  d.version = version;
  int64_t n = numel(*in);
  pixelShuffleKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      in->data, d, out->data, ivl_dtype_size(in->dtype), n);
  return launched(ctx, "pixel_shuffle");
}

} // namespace ivl::cuda
