//===- Embedding.cpp - token embeddings and the IMG_CONTEXT scatter -------===//

#include "Tensor.h"

#include <cstring>

using namespace ivl;
using namespace ivl::cpu;

namespace {

/// Counts the positions holding `token` and checks it against the number of
/// image rows.
ivl_status countImageTokens(ivl_context *ctx, const char *kernel,
                            const ivl_tensor &ids, int64_t token,
                            int64_t expected) {
  int64_t count = 0, n = numel(ids);
  for (int64_t i = 0; i < n; ++i)
    count += cpu::ids(ids)[i] == token;
  if (count == expected)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_INPUT,
              "%s: input_ids hold %lld IMG_CONTEXT tokens (id %lld) but there "
              "are %lld image embeddings in use (all, or those of tiles whose "
              "image_flags is 1)",
              kernel, static_cast<long long>(count),
              static_cast<long long>(token), static_cast<long long>(expected));
}

/// Which rows of the [rows, width] image embeddings are used: all, or
/// those of the tiles whose image_flags entry is 1 (rows / tiles each).
std::vector<bool> usedImageRows(const ivl_tensor *flags, int64_t rows,
                                int64_t &used) {
  std::vector<bool> rowUsed(rows, true);
  used = rows;
  if (!flags)
    return rowUsed;
  int64_t tiles = flags->shape[0], perTile = rows / tiles;
  used = 0;
  for (int64_t r = 0; r < rows; ++r) {
    // Used only where the flag is 1, as InternVL's image_flags == 1.
    rowUsed[r] = cpu::ids(*flags)[r / perTile] == 1;
    used += rowUsed[r];
  }
  return rowUsed;
}

} // namespace

namespace ivl::cpu {

ivl_status embedding(ivl_context *ctx, const ivl_tensor *table,
                         const ivl_tensor *ids, ivl_tensor *out) {
  int64_t vocab = table->shape[0], width = table->shape[1], n = numel(*ids);
  int64_t size = ivl_dtype_size(table->dtype);
  const char *src = static_cast<const char *>(table->data);
  char *dst = static_cast<char *>(out->data);
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = cpu::ids(*ids)[i];
    if (id < 0 || id >= vocab)
      return fail(ctx, IVL_ERROR_INVALID_INPUT,
                  "embedding: token id %lld at position %lld is outside the "
                  "vocabulary [0, %lld)",
                  static_cast<long long>(id), static_cast<long long>(i),
                  static_cast<long long>(vocab));
    std::memcpy(dst + i * width * size, src + id * width * size, width * size);
  }
  return IVL_OK;
}

ivl_status embedding_grad(ivl_context *ctx, const ivl_tensor *grad,
                              const ivl_tensor *ids, ivl_tensor *out) {
  int64_t vocab = out->shape[0], width = out->shape[1], n = numel(*ids);
  std::vector<float> g = toFloat(*grad);
  std::vector<double> acc(vocab * width, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = cpu::ids(*ids)[i];
    if (id < 0 || id >= vocab)
      return fail(ctx, IVL_ERROR_INVALID_INPUT,
                  "embedding_grad: token id %lld is outside [0, %lld)",
                  static_cast<long long>(id), static_cast<long long>(vocab));
    for (int64_t j = 0; j < width; ++j)
      acc[id * width + j] += g[i * width + j];
  }
  std::vector<float> result(acc.begin(), acc.end());
  fromFloat(*out, result.data());
  return IVL_OK;
}

ivl_status scatter_image_embeds(ivl_context *ctx, const ivl_tensor *embeds,
                                const ivl_tensor *ids, const ivl_tensor *image,
                                const ivl_tensor *flags, int64_t token,
                                ivl_tensor *out) {
  int64_t used;
  std::vector<bool> rowUsed = usedImageRows(flags, image->shape[0], used);
  if (ivl_status s =
          countImageTokens(ctx, "scatter_image_embeds", *ids, token, used))
    return s;
  int64_t width = embeds->shape[2], n = numel(*ids);
  int64_t size = ivl_dtype_size(embeds->dtype);
  if (out->data != embeds->data)
    std::memcpy(out->data, embeds->data, numel(*embeds) * size);
  char *dst = static_cast<char *>(out->data);
  const char *src = static_cast<const char *>(image->data);
  int64_t row = 0;
  for (int64_t i = 0; i < n; ++i)
    if (cpu::ids(*ids)[i] == token) {
      while (!rowUsed[row])
        ++row;
      std::memcpy(dst + i * width * size, src + (row++) * width * size,
                  width * size);
    }
  return IVL_OK;
}

ivl_status gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                               const ivl_tensor *ids, const ivl_tensor *flags,
                               int64_t token, ivl_tensor *out) {
  int64_t used;
  std::vector<bool> rowUsed = usedImageRows(flags, out->shape[0], used);
  if (ivl_status s =
          countImageTokens(ctx, "gather_image_embeds", *ids, token, used))
    return s;
  int64_t width = grad->shape[2], n = numel(*ids);
  int64_t size = ivl_dtype_size(grad->dtype);
  const char *src = static_cast<const char *>(grad->data);
  char *dst = static_cast<char *>(out->data);
  // Unused rows (padding tiles) get a zero gradient.
  if (numel(*out) > 0)
    std::memset(dst, 0, numel(*out) * size);
  int64_t row = 0;
  for (int64_t i = 0; i < n; ++i)
    if (cpu::ids(*ids)[i] == token) {
      while (!rowUsed[row])
        ++row;
      std::memcpy(dst + (row++) * width * size, src + i * width * size,
                  width * size);
    }
  return IVL_OK;
}

ivl_status mask_image_positions(ivl_context *, const ivl_tensor *grad,
                                    const ivl_tensor *ids, int64_t token,
                                    ivl_tensor *out) {
  int64_t width = grad->shape[2], n = numel(*ids);
  int64_t size = ivl_dtype_size(grad->dtype);
  if (out->data != grad->data)
    std::memcpy(out->data, grad->data, numel(*grad) * size);
  char *dst = static_cast<char *>(out->data);
  for (int64_t i = 0; i < n; ++i)
    if (cpu::ids(*ids)[i] == token)
      std::memset(dst + i * width * size, 0, width * size);
  return IVL_OK;
}

} // namespace ivl::cpu
