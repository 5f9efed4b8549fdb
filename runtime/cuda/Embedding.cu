//===- Embedding.cu - token embeddings and the IMG_CONTEXT scatter --------===//
//
// The embedding gradient is deterministic: each token links to the next
// token with the same id, and the first token of each id sums its chain's
// rows in position order (f64, as on the CPU). The image scatter and gather
// number the IMG_CONTEXT positions with a prefix count. Both use the
// context's per-token scratch; bad ids are reported at the next
// ivl_synchronize.
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

/// prefix[i] = IMG_CONTEXT positions before i (flattened over the batch);
/// one block of 1024 threads, each counting a contiguous chunk.
__global__ void imagePrefixKernel(const int64_t *ids, int64_t n, int64_t token,
                                  int64_t expected, int kernel,
                                  int64_t *prefix, DeviceStatus *status) {
  __shared__ int64_t counts[1024];
  int64_t chunk = (n + blockDim.x - 1) / blockDim.x;
  int64_t begin = threadIdx.x * chunk, end = min(n, begin + chunk);
  int64_t count = 0;
  for (int64_t i = begin; i < end; ++i)
    count += ids[i] == token;
  counts[threadIdx.x] = count;
  __syncthreads();
  if (threadIdx.x == 0) {
    int64_t running = 0;
    for (unsigned k = 0; k < blockDim.x; ++k) {
      int64_t c = counts[k];
      counts[k] = running;
      running += c;
    }
    if (running != expected)
      reportError(status, DataError::ImageTokenCount, kernel, running,
                  expected, token);
  }
  __syncthreads();
  int64_t running = counts[threadIdx.x];
  for (int64_t i = begin; i < end; ++i) {
    prefix[i] = running;
    running += ids[i] == token;
  }
}

__global__ void scatterImageKernel(const void *embeds, const int64_t *ids,
                                   const void *image, int64_t rows,
                                   const int64_t *prefix, int64_t token,
                                   int64_t width, void *out, int64_t size,
                                   int64_t n) {
  GRID_STRIDE(e, n) {
    int64_t pos = e / width;
    int64_t row = prefix[pos];
    if (ids[pos] == token && row < rows)
      copyElement(out, e, image, row * width + e % width, size);
    else
      copyElement(out, e, embeds, e, size);
  }
}

__global__ void gatherImageKernel(const void *grad, const int64_t *ids,
                                  int64_t rows, const int64_t *prefix,
                                  int64_t token, int64_t width, void *out,
                                  int64_t size, int64_t n) {
  GRID_STRIDE(e, n) {
    int64_t pos = e / width;
    int64_t row = prefix[pos];
    if (ids[pos] == token && row < rows)
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

ivl_status imagePrefix(ivl_context *ctx, const char *kernel, int kernelId,
                       const ivl_tensor &ids, int64_t token, int64_t rows) {
  int64_t n = numel(ids);
  if (ivl_status s = tokenScratch(ctx, kernel, n, sizeof(int64_t)))
    return s;
  imagePrefixKernel<<<1, 1024, 0, ctx->stream>>>(
      static_cast<const int64_t *>(ids.data), n, token, rows, kernelId,
      static_cast<int64_t *>(ctx->tokenScratch), ctx->status);
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
                                    const ivl_tensor *ids,
                                    const ivl_tensor *image, int64_t token,
                                    ivl_tensor *out) {
  int64_t rows = image->shape[0], width = embeds->shape[2];
  if (ivl_status s = imagePrefix(ctx, "scatter_image_embeds",
                                 kScatterImageEmbeds, *ids, token, rows))
    return s;
  int64_t n = numel(*embeds);
  if (n == 0)
    return IVL_OK;
  scatterImageKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      embeds->data, static_cast<const int64_t *>(ids->data), image->data, rows,
      static_cast<const int64_t *>(ctx->tokenScratch), token, width, out->data,
      ivl_dtype_size(embeds->dtype), n);
  return launched(ctx, "scatter_image_embeds");
}

ivl_status gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                                   const ivl_tensor *ids, int64_t token,
                                   ivl_tensor *out) {
  int64_t rows = out->shape[0], width = grad->shape[2];
  if (ivl_status s = imagePrefix(ctx, "gather_image_embeds",
                                 kGatherImageEmbeds, *ids, token, rows))
    return s;
  int64_t n = numel(*grad);
  if (n == 0)
    return IVL_OK;
  gatherImageKernel<<<gridFor(n), kBlock, 0, ctx->stream>>>(
      grad->data, static_cast<const int64_t *>(ids->data), rows,
      static_cast<const int64_t *>(ctx->tokenScratch), token, width, out->data,
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
