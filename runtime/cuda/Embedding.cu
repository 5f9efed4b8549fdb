//===- Embedding.cu - token embeddings and the IMG_CONTEXT scatter --------===//
//
// The embedding gradient is deterministic: each token links to the next
// token with the same id, and the first token of each id sums its chain's
// rows in position order (f64, as on the CPU). The image scatter and gather
// number the IMG_CONTEXT positions with a prefix count; with image_flags a
// second prefix count lists the used tiles, so that the k-th position finds
// the k-th used row. Both use the context's per-token scratch; bad ids are
// reported at the next ivl_synchronize.
//
//===----------------------------------------------------------------------===//

#include "Common.cuh"

using namespace ivl;
using namespace ivl::cuda;

namespace {

__global__ void embeddingKernel(const void *table, int64_t vocab,
                                const int64_t *ids, int64_t width, void *out,
                                int64_t size, int64_t n, DeviceStatus *status) {
  GRID_STRIDE(e, n) {
    int64_t pos = e / width, col = e % width;
    int64_t id = ids[pos];
    if (id < 0 || id >= vocab) {
      if (col == 0)
        reportError(status, DataError::TokenOutOfRange, kEmbedding, id, pos,
                    vocab);
      continue;
    }
    copyElement(out, e, table, id * width + col, size);
  }
}

/// next[t]: the next position with ids[t]'s id, or -1; first[t]: whether t
/// is the first position of its id.
__global__ void tokenChainKernel(const int64_t *ids, int64_t n, int64_t vocab,
                                 int32_t *next, uint8_t *first,
                                 DeviceStatus *status) {
  GRID_STRIDE(t, n) {
    int64_t id = ids[t];
    if (id < 0 || id >= vocab)
      reportError(status, DataError::TokenOutOfRange, kEmbeddingGrad, id, t,
                  vocab);
    int32_t after = -1;
    for (int64_t u = t + 1; u < n; ++u)
      if (ids[u] == id) {
        after = static_cast<int32_t>(u);
        break;
      }
    bool isFirst = true;
    for (int64_t u = 0; u < t && isFirst; ++u)
      isFirst = ids[u] != id;
    next[t] = after;
    first[t] = isFirst;
  }
}

/// One block per position; the first position of each id writes its row.
__global__ void embeddingGradKernel(const void *grad, ivl_dtype tg,
                                    const int64_t *ids, int64_t vocab,
                                    const int32_t *next, const uint8_t *first,
                                    int64_t width, void *out, ivl_dtype to,
                                    int64_t n) {
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    int64_t id = ids[t];
    if (!first[t] || id < 0 || id >= vocab)
      continue;
    for (int64_t col = threadIdx.x; col < width; col += blockDim.x) {
      double sum = 0.0;
      for (int64_t u = t; u >= 0; u = next[u])
        sum += load(grad, tg, u * width + col);
      store(out, to, id * width + col, static_cast<float>(sum));
    }
  }
}

/// Exclusive prefix sums of the per-thread counts (one block); returns the
/// total to every thread.
__device__ int64_t blockExclusiveScan(int64_t *counts) {
  __shared__ int64_t total;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t running = 0;
    for (unsigned k = 0; k < blockDim.x; ++k) {
      int64_t c = counts[k];
      counts[k] = running;
      running += c;
    }
    total = running;
  }
  __syncthreads();
  return total;
}

/// tileOf[m] = the m-th tile whose flag is set, -1 past the last one; the
/// number of used rows (`perTile` per used tile) is returned to every
/// thread. One block, each thread a contiguous chunk of tiles.
__device__ int64_t usedTilesOf(const int64_t *flags, int64_t tiles,
                               int64_t perTile, int64_t *counts,
                               int64_t *tileOf) {
  int64_t chunk = (tiles + blockDim.x - 1) / blockDim.x;
  int64_t begin = threadIdx.x * chunk, end = min(tiles, begin + chunk);
  int64_t count = 0;
  for (int64_t t = begin; t < end; ++t)
    count += flags[t] == 1;
  counts[threadIdx.x] = count;
  int64_t used = blockExclusiveScan(counts);
  int64_t rank = counts[threadIdx.x];
  for (int64_t t = begin; t < end; ++t)
    if (flags[t] == 1)
      tileOf[rank++] = t;
  for (int64_t m = used + threadIdx.x; m < tiles; m += blockDim.x)
    tileOf[m] = -1;
  return used * perTile;
}

/// prefix[i] = IMG_CONTEXT positions before i (flattened over the batch);
/// one block of 1024 threads, each counting a contiguous chunk. With flags,
/// tileOf lists the used tiles and `rows` counts only their rows.
__global__ void imagePrefixKernel(const int64_t *ids, int64_t n, int64_t token,
                                  int64_t rows, const int64_t *flags,
                                  int64_t tiles, int kernel, int64_t *prefix,
                                  int64_t *tileOf, DeviceStatus *status) {
  __shared__ int64_t counts[1024];
  int64_t expected =
      flags ? usedTilesOf(flags, tiles, rows / tiles, counts, tileOf) : rows;
  int64_t chunk = (n + blockDim.x - 1) / blockDim.x;
  int64_t begin = threadIdx.x * chunk, end = min(n, begin + chunk);
  int64_t count = 0;
  for (int64_t i = begin; i < end; ++i)
    count += ids[i] == token;
  counts[threadIdx.x] = count;
  int64_t total = blockExclusiveScan(counts);
  if (threadIdx.x == 0 && total != expected)
    reportError(status, DataError::ImageTokenCount, kernel, total, expected,
                token);
  int64_t running = counts[threadIdx.x];
  for (int64_t i = begin; i < end; ++i) {
    prefix[i] = running;
    running += ids[i] == token;
  }
}

/// The image row of the k-th used row: k, or with image_flags its place in
/// the k / perTile-th used tile; -1 when there is none (a count the prefix
/// kernel reported).
__device__ __forceinline__ int64_t imageRow(int64_t k, int64_t rows,
                                            const int64_t *tileOf,
                                            int64_t perTile) {
  if (k >= rows)
    return -1;
  if (!tileOf)
    return k;
  int64_t tile = tileOf[k / perTile];
  return tile < 0 ? -1 : tile * perTile + k % perTile;
}

__global__ void scatterImageKernel(const void *embeds, const int64_t *ids,
                                   const void *image, int64_t rows,
                                   const int64_t *prefix,
                                   const int64_t *tileOf, int64_t perTile,
                                   int64_t token, int64_t width, void *out,
                                   int64_t size, int64_t n) {
  GRID_STRIDE(e, n) {
    int64_t pos = e / width;
    int64_t row = ids[pos] == token
                      ? imageRow(prefix[pos], rows, tileOf, perTile)
                      : -1;
    if (row >= 0)
      copyElement(out, e, image, row * width + e % width, size);
    else
      copyElement(out, e, embeds, e, size);
  }
}

__global__ void gatherImageKernel(const void *grad, const int64_t *ids,
                                  int64_t rows, const int64_t *prefix,
                                  const int64_t *tileOf, int64_t perTile,
                                  int64_t token, int64_t width, void *out,
                                  int64_t size, int64_t n) {
  GRID_STRIDE(e, n) {
    int64_t pos = e / width;
    int64_t row = ids[pos] == token
                      ? imageRow(prefix[pos], rows, tileOf, perTile)
                      : -1;
    if (row >= 0)
      copyElement(out, row * width + e % width, grad, e, size);
  }
}

__global__ void maskImageKernel(const void *grad, const int64_t *ids,
                                int64_t token, int64_t width, void *out,
                                int64_t size, int64_t n) {
  GRID_STRIDE(e, n) {
    if (ids[e / width] == token)
      zeroElement(out, e, size);
    else
      copyElement(out, e, grad, e, size);
  }
}

ivl_status tokenScratch(ivl_context *ctx, const char *kernel, int64_t tokens,
                        int64_t bytesPerToken) {
  if (tokens * bytesPerToken <= ctx->tokenScratchBytes)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: %lld tokens exceed the runtime's per-token scratch (%lld "
              "bytes)",
              kernel, static_cast<long long>(tokens),
              static_cast<long long>(ctx->tokenScratchBytes));
}

/// Where imagePrefix leaves its results in the per-token scratch.
struct ImagePrefix {
  const int64_t *prefix; // [tokens]
  const int64_t *tileOf; // [tiles], null without image_flags
  int64_t perTile;
};

ivl_status imagePrefix(ivl_context *ctx, const char *kernel, int kernelId,
                       const ivl_tensor &ids, int64_t token, int64_t rows,
                       const ivl_tensor *flags, ImagePrefix &result) {
  int64_t n = numel(ids), tiles = flags ? flags->shape[0] : 0;
  // The used-tile list follows the token prefix.
  if (ivl_status s = tokenScratch(ctx, kernel, n + tiles, sizeof(int64_t)))
    return s;
  auto *prefix = static_cast<int64_t *>(ctx->tokenScratch);
  int64_t *tileOf = flags ? prefix + n : nullptr;
  imagePrefixKernel<<<1, 1024, 0, ctx->stream>>>(
      static_cast<const int64_t *>(ids.data), n, token, rows,
      flags ? static_cast<const int64_t *>(flags->data) : nullptr, tiles,
      kernelId, prefix, tileOf, ctx->status);
  result = ImagePrefix{prefix, tileOf, flags ? rows / tiles : 1};
  return launched(ctx, kernel);
}

} // namespace

namespace ivl::cuda {

ivl_status embedding(ivl_context *ctx, const ivl_tensor *table,
                         const ivl_tensor *ids, ivl_tensor *out) {
  int64_t vocab = table->shape[0], width = table->shape[1];
  int64_t n = numel(*ids) * width;
  if (n == 0)
    return IVL_OK;
  embeddingKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      table->data, vocab, static_cast<const int64_t *>(ids->data), width,
      out->data, ivl_dtype_size(table->dtype), n, ctx->status);
  return launched(ctx, "embedding");
}

ivl_status embedding_grad(ivl_context *ctx, const ivl_tensor *grad,
                              const ivl_tensor *ids, ivl_tensor *out) {
  int64_t vocab = out->shape[0], width = out->shape[1], n = numel(*ids);
  if (ivl_status s = tokenScratch(ctx, "embedding_grad", n, 5))
    return s;
  // Rows no token uses stay zero.
  if (ivl_status s = check(ctx,
                           cudaMemsetAsync(out->data, 0,
                                           numel(*out) *
                                               ivl_dtype_size(out->dtype),
                                           ctx->stream),
                           "embedding_grad"))
    return s;
  if (n == 0)
    return IVL_OK;
  auto *next = static_cast<int32_t *>(ctx->tokenScratch);
  auto *first = reinterpret_cast<uint8_t *>(next + n);
  const auto *tokenIds = static_cast<const int64_t *>(ids->data);
  tokenChainKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      tokenIds, n, vocab, next, first, ctx->status);
  if (ivl_status s = launched(ctx, "embedding_grad (chains)"))
    return s;
  unsigned blocks = static_cast<unsigned>(n < 65536 ? n : 65536);
  embeddingGradKernel<<<blocks, kBlock, 0, ctx->stream>>>(
      grad->data, grad->dtype, tokenIds, vocab, next, first, width, out->data,
      out->dtype, n);
  return launched(ctx, "embedding_grad");
}

ivl_status scatter_image_embeds(ivl_context *ctx, const ivl_tensor *embeds,
                                const ivl_tensor *ids, const ivl_tensor *image,
                                const ivl_tensor *flags, int64_t token,
                                ivl_tensor *out) {
  int64_t rows = image->shape[0], width = embeds->shape[2];
  ImagePrefix p;
  if (ivl_status s = imagePrefix(ctx, "scatter_image_embeds",
                                 kScatterImageEmbeds, *ids, token, rows, flags,
                                 p))
    return s;
  int64_t n = numel(*embeds);
  if (n == 0)
    return IVL_OK;
  scatterImageKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      embeds->data, static_cast<const int64_t *>(ids->data), image->data, rows,
      p.prefix, p.tileOf, p.perTile, token, width, out->data,
      ivl_dtype_size(embeds->dtype), n);
  return launched(ctx, "scatter_image_embeds");
}

ivl_status gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                               const ivl_tensor *ids, const ivl_tensor *flags,
                               int64_t token, ivl_tensor *out) {
  int64_t rows = out->shape[0], width = grad->shape[2];
  ImagePrefix p;
  if (ivl_status s = imagePrefix(ctx, "gather_image_embeds",
                                 kGatherImageEmbeds, *ids, token, rows, flags,
                                 p))
    return s;
  // Unused rows (padding tiles) get a zero gradient; without flags every
  // row is written.
  if (flags)
    if (ivl_status s = zero(ctx, *out, "gather_image_embeds"))
      return s;
  int64_t n = numel(*grad);
  if (n == 0)
    return IVL_OK;
  gatherImageKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      grad->data, static_cast<const int64_t *>(ids->data), rows, p.prefix,
      p.tileOf, p.perTile, token, width, out->data,
      ivl_dtype_size(grad->dtype), n);
  return launched(ctx, "gather_image_embeds");
}

ivl_status mask_image_positions(ivl_context *ctx, const ivl_tensor *grad,
                                    const ivl_tensor *ids, int64_t token,
                                    ivl_tensor *out) {
  int64_t width = grad->shape[2], n = numel(*grad);
  if (n == 0)
    return IVL_OK;
  maskImageKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      grad->data, static_cast<const int64_t *>(ids->data), token, width,
      out->data, ivl_dtype_size(grad->dtype), n);
  return launched(ctx, "mask_image_positions");
}

} // namespace ivl::cuda
