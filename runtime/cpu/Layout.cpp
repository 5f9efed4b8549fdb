//===- Layout.cpp - data movement kernels ---------------------------------===//

#include "Tensor.h"

#include <algorithm>
#include <cstring>

using namespace ivl;
using namespace ivl::cpu;

namespace {

/// Copies `in` into `out` element by element through index maps; the element
/// types match, so bytes move unchanged.
void gatherBytes(const ivl_tensor &in, ivl_tensor &out,
                 const std::vector<int64_t> &sourceIndex) {
  int64_t size = ivl_dtype_size(in.dtype);
  const char *src = static_cast<const char *>(in.data);
  char *dst = static_cast<char *>(out.data);
  for (size_t i = 0; i < sourceIndex.size(); ++i)
    std::memcpy(dst + i * size, src + sourceIndex[i] * size, size);
}

/// Walks the coordinates of `shape` in row-major order, calling f(coord, i).
template <typename F>
void forEachCoord(const int64_t *shape, int32_t rank, F f) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    n *= shape[d];
  std::vector<int64_t> coord(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    f(coord, i);
    for (int32_t d = rank - 1; d >= 0; --d) {
      if (++coord[d] < shape[d])
        break;
      coord[d] = 0;
    }
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

} // namespace

extern "C" {

ivl_status ivl_copy(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out) {
  if (ivl_status s = sameType(ctx, "copy", *in, *out))
    return s;
  if (ivl_status s = expectNumel(ctx, "copy", "output", *out, numel(*in)))
    return s;
  if (in->data != out->data)
    std::memmove(out->data, in->data, numel(*in) * ivl_dtype_size(in->dtype));
  return IVL_OK;
}

} // extern "C"

namespace ivl::cpu {

ivl_status transpose(ivl_context *ctx, const ivl_tensor *in,
                         const int64_t *permutation, ivl_tensor *out) {
  std::vector<int64_t> inStrides = strides(*in);
  std::vector<int64_t> index(numel(*out));
  forEachCoord(out->shape, out->rank,
               [&](const std::vector<int64_t> &c, int64_t i) {
                 int64_t offset = 0;
                 for (int32_t d = 0; d < out->rank; ++d)
                   offset += c[d] * inStrides[permutation[d]];
                 index[i] = offset;
               });
  gatherBytes(*in, *out, index);
  return IVL_OK;
}

ivl_status broadcast(ivl_context *ctx, const ivl_tensor *in,
                         ivl_tensor *out) {
  std::vector<int64_t> inStrides = strides(*in);
  int32_t lead = out->rank - in->rank;
  std::vector<int64_t> index(numel(*out));
  forEachCoord(out->shape, out->rank,
               [&](const std::vector<int64_t> &c, int64_t i) {
                 int64_t offset = 0;
                 for (int32_t d = 0; d < in->rank; ++d)
                   if (in->shape[d] != 1)
                     offset += c[d + lead] * inStrides[d];
                 index[i] = offset;
               });
  gatherBytes(*in, *out, index);
  return IVL_OK;
}

ivl_status concat(ivl_context *ctx, const ivl_tensor *inputs,
                      int32_t count, int32_t dim, ivl_tensor *out) {
  int64_t size = ivl_dtype_size(out->dtype);
  // Rows = product of dims before `dim`; each input contributes a contiguous
  // chunk of shape[dim] * inner elements per row.
  int64_t rows = 1, inner = 1;
  for (int32_t d = 0; d < dim; ++d)
    rows *= out->shape[d];
  for (int32_t d = dim + 1; d < out->rank; ++d)
    inner *= out->shape[d];
  char *dst = static_cast<char *>(out->data);
  int64_t outRow = out->shape[dim] * inner * size;
  int64_t column = 0;
  for (int32_t k = 0; k < count; ++k) {
    int64_t chunk = inputs[k].shape[dim] * inner * size;
    const char *src = static_cast<const char *>(inputs[k].data);
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * outRow + column, src + r * chunk, chunk);
    column += chunk;
  }
  return IVL_OK;
}

ivl_status slice(ivl_context *ctx, const ivl_tensor *in,
                     const int64_t *offsets, ivl_tensor *out) {
  std::vector<int64_t> inStrides = strides(*in);
  std::vector<int64_t> index(numel(*out));
  forEachCoord(out->shape, out->rank,
               [&](const std::vector<int64_t> &c, int64_t i) {
                 int64_t offset = 0;
                 for (int32_t d = 0; d < out->rank; ++d)
                   offset += (c[d] + offsets[d]) * inStrides[d];
                 index[i] = offset;
               });
  gatherBytes(*in, *out, index);
  return IVL_OK;
}

ivl_status pad(ivl_context *ctx, const ivl_tensor *in, const int64_t *low,
                   ivl_tensor *out) {
  int64_t size = ivl_dtype_size(out->dtype);
  std::memset(out->data, 0, numel(*out) * size);
  std::vector<int64_t> outStrides = strides(*out);
  const char *src = static_cast<const char *>(in->data);
  char *dst = static_cast<char *>(out->data);
  forEachCoord(in->shape, in->rank,
               [&](const std::vector<int64_t> &c, int64_t i) {
                 int64_t offset = 0;
                 for (int32_t d = 0; d < in->rank; ++d)
                   offset += (c[d] + low[d]) * outStrides[d];
                 std::memcpy(dst + offset * size, src + i * size, size);
               });
  return IVL_OK;
}

ivl_status reduce_sum(ivl_context *ctx, const ivl_tensor *in,
                          const int64_t *dims, int32_t numDims,
                          ivl_tensor *out) {
  std::vector<bool> reduced(in->rank, false);
  for (int32_t i = 0; i < numDims; ++i)
    reduced[dims[i]] = true;
  // Output coordinates keep the non-reduced dimensions in order.
  std::vector<int64_t> keptStrides(in->rank, 0);
  int64_t stride = 1;
  for (int32_t d = in->rank - 1; d >= 0; --d)
    if (!reduced[d]) {
      keptStrides[d] = stride;
      stride *= in->shape[d];
    }
  std::vector<float> x = toFloat(*in);
  std::vector<double> sums(stride, 0.0);
  forEachCoord(in->shape, in->rank,
               [&](const std::vector<int64_t> &c, int64_t i) {
                 int64_t o = 0;
                 for (int32_t d = 0; d < in->rank; ++d)
                   o += c[d] * keptStrides[d];
                 sums[o] += x[i];
               });
  std::vector<float> result(sums.begin(), sums.end());
  fromFloat(*out, result.data());
  return IVL_OK;
}

ivl_status pixel_shuffle(ivl_context *ctx, const ivl_tensor *in,
                             double scale, int32_t version, ivl_tensor *out) {
  // InternVL's pixel_shuffle: view [n, w, h*s, c/s], permute(0, 2, 1, 3),
  // view [n, h*s, w*s, c/s^2], and for v2 permute(0, 2, 1, 3) again.
  int64_t n = in->shape[0], w = in->shape[1], h = in->shape[2],
          c = in->shape[3];
  int64_t hs = static_cast<int64_t>(h * scale + 0.5);
  int64_t ws = static_cast<int64_t>(w * scale + 0.5);
  int64_t cs = static_cast<int64_t>(c / scale + 0.5);
  int64_t c2 = static_cast<int64_t>(c / (scale * scale) + 0.5);
  ivl_tensor viewA = *in;
  viewA.rank = 4;
  int64_t shapeA[4] = {n, w, hs, cs};
  std::copy(shapeA, shapeA + 4, viewA.shape);
  std::vector<char> tmp(numel(*in) * ivl_dtype_size(in->dtype));
  ivl_tensor permuted = viewA;
  permuted.data = tmp.data();
  int64_t shapeB[4] = {n, hs, w, cs};
  std::copy(shapeB, shapeB + 4, permuted.shape);
  const int64_t swap[4] = {0, 2, 1, 3};
  if (ivl_status s = ivl_transpose(ctx, &viewA, swap, &permuted))
    return s;
  if (version == 1)
    return ivl_copy(ctx, &permuted, out);
  ivl_tensor viewC = permuted;
  int64_t shapeC[4] = {n, hs, ws, c2};
  std::copy(shapeC, shapeC + 4, viewC.shape);
  return ivl_transpose(ctx, &viewC, swap, out);
}

} // namespace ivl::cpu
