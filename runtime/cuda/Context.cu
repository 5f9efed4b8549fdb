//===- Context.cu - context, device memory, errors of the CUDA runtime ----===//

#include "Common.cuh"
#include "internvl/runtime/CheckedMath.h"

#include <nccl.h>

#include <algorithm>
#include <cstdio>

using namespace ivl::cuda;

namespace ivl::cuda {

ivl_status fail(ivl_context *ctx, ivl_status status, const char *format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (ctx)
    ctx->error = buffer;
  return status;
}

ivl_status check(ivl_context *ctx, cudaError_t err, const char *what) {
  if (err == cudaSuccess)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_RUNTIME, "%s: CUDA error %s: %s", what,
              cudaGetErrorName(err), cudaGetErrorString(err));
}

std::string describe(const ivl_tensor &t) {
  static const char *names[] = {"f32", "bf16", "f16", "i64", "i1"};
  std::string s;
  for (int32_t i = 0; i < t.rank; ++i)
    s += std::to_string(t.shape[i]) + "x";
  int d = static_cast<int>(t.dtype);
  return s + (d >= 0 && d < 5 ? names[d] : "?");
}

ivl_status expectNumel(ivl_context *ctx, const char *kernel, const char *what,
                       const ivl_tensor &t, int64_t expected) {
  if (numel(t) == expected)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: %s %s should have %lld elements", kernel, what,
              describe(t).c_str(), static_cast<long long>(expected));
}

ivl_status expectFloat(ivl_context *ctx, const char *kernel,
                       const ivl_tensor &t) {
  if (t.dtype == IVL_F32 || t.dtype == IVL_BF16 || t.dtype == IVL_F16)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: %s is not a float tensor", kernel, describe(t).c_str());
}

void rowMajorStrides(const ivl_tensor &t, int64_t *strides) {
  int64_t s = 1;
  for (int32_t d = t.rank - 1; d >= 0; --d) {
    strides[d] = s;
    s *= t.shape[d];
  }
}

IndexMap broadcastMap(const ivl_tensor &in, const ivl_tensor &out) {
  IndexMap map;
  map.rank = out.rank;
  int64_t inStrides[IVL_MAX_RANK];
  rowMajorStrides(in, inStrides);
  int32_t lead = out.rank - in.rank;
  for (int32_t d = 0; d < out.rank; ++d) {
    map.dims[d] = out.shape[d];
    int32_t id = d - lead;
    map.strides[d] =
        id >= 0 && in.shape[id] != 1 ? inStrides[id] : 0;
  }
  return map;
}

ivl_status createSideStream(ivl_context *ctx, SideStream &side,
                            const char *what) {
  if (side.stream)
    return IVL_OK;
  if (ivl_status s = check(
          ctx, cudaStreamCreateWithFlags(&side.stream, cudaStreamNonBlocking),
          what))
    return s;
  if (ivl_status s = check(
          ctx, cudaEventCreateWithFlags(&side.ready, cudaEventDisableTiming),
          what))
    return s;
  for (cudaEvent_t &done : side.done)
    if (ivl_status s = check(
            ctx, cudaEventCreateWithFlags(&done, cudaEventDisableTiming), what))
      return s;
  return IVL_OK;
}

void destroySideStream(SideStream &side) {
  if (side.stream)
    cudaStreamDestroy(side.stream);
  if (side.ready)
    cudaEventDestroy(side.ready);
  for (cudaEvent_t done : side.done)
    if (done)
      cudaEventDestroy(done);
}

ivl_status beginOnSide(ivl_context *ctx, SideStream &side, const char *what) {
  if (ivl_status s = check(ctx, cudaEventRecord(side.ready, ctx->stream), what))
    return s;
  return check(ctx, cudaStreamWaitEvent(side.stream, side.ready, 0), what);
}

ivl_status endOnSide(ivl_context *ctx, SideStream &side, const char *what) {
  cudaEvent_t done = side.done[side.launches % SideStream::kEvents];
  if (ivl_status s = check(ctx, cudaEventRecord(done, side.stream), what))
    return s;
  ++side.launches;
  return IVL_OK;
}

ivl_status waitOnSide(ivl_context *ctx, SideStream &side, int32_t newer,
                      const char *what) {
  if (side.launches == 0)
    return IVL_OK;
  // Waiting for a later launch than the one named (the oldest the ring
  // still holds) also waits for it.
  int64_t back = std::min<int64_t>(
      {newer, SideStream::kEvents - 1, side.launches - 1});
  cudaEvent_t done =
      side.done[(side.launches - 1 - back) % SideStream::kEvents];
  return check(ctx, cudaStreamWaitEvent(ctx->stream, done, 0), what);
}

} // namespace ivl::cuda

/// The message of a device-side data error.
static void describeDataError(ivl_context *ctx, const DeviceStatus &s) {
  static const char *kernels[] = {
      "embedding",           "embedding_grad", "scatter_image_embeds",
      "gather_image_embeds", "cross_entropy",  "cross_entropy_grad",
      "adamw",               "drop_path",      "attention",
      "attention_grad",      "rope",           "linear_cross_entropy",
      "linear_cross_entropy_grad"};
  constexpr int count = sizeof kernels / sizeof kernels[0];
  const char *kernel =
      s.kernel >= 0 && s.kernel < count ? kernels[s.kernel] : "kernel";
  switch (static_cast<DataError>(s.error)) {
  case DataError::LabelOutOfRange:
    fail(ctx, IVL_ERROR_INVALID_INPUT,
         "%s: label %lld at position %lld is outside the vocabulary [0, %lld) "
         "and is not ignore_index",
         kernel, s.a, s.b, s.c);
    break;
  case DataError::TokenOutOfRange:
    fail(ctx, IVL_ERROR_INVALID_INPUT,
         "%s: token id %lld at position %lld is outside the vocabulary "
         "[0, %lld)",
         kernel, s.a, s.b, s.c);
    break;
  case DataError::ImageTokenCount:
    fail(ctx, IVL_ERROR_INVALID_INPUT,
         "%s: input_ids hold %lld IMG_CONTEXT tokens (id %lld) but there are "
         "%lld image embeddings in use (all, or those of tiles whose "
         "image_flags is 1)",
         kernel, s.a, s.c, s.b);
    break;
  case DataError::StepNotPositive:
    fail(ctx, IVL_ERROR_INVALID_INPUT,
         "%s: step must be >= 1 (the first update is step 1), got %lld",
         kernel, s.a);
    break;
  case DataError::SampleBounds:
    fail(ctx, IVL_ERROR_INVALID_INPUT,
         "%s: cu_seqlens element %lld (flat index) = %lld breaks 0 = c[0] <= "
         "c[1] <= ... <= c[N] = %lld (the sequence length) in its row",
         kernel, s.a, s.b, s.c);
    break;
  case DataError::None:
    break;
  }
}

/// Why the last ivl_context_create failed (ivl_last_error(NULL)).
static std::string createError = "no context";

extern "C" {

ivl_status ivl_select_device(int32_t index) {
  cudaError_t err = cudaSetDevice(index);
  if (err != cudaSuccess) {
    createError = "cannot select device " + std::to_string(index) + ": " +
                  cudaGetErrorString(err);
    return IVL_ERROR_RUNTIME;
  }
  return IVL_OK;
}

ivl_context *ivl_context_create(void) {
  auto *ctx = new ivl_context();
  cudaDeviceProp props;
  cudaError_t err = cudaGetDevice(&ctx->device);
  if (err == cudaSuccess)
    err = cudaGetDeviceProperties(&props, ctx->device);
  if (err == cudaSuccess)
    err = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
  if (err == cudaSuccess)
    err = cudaMalloc(&ctx->status, sizeof(DeviceStatus));
  if (err == cudaSuccess)
    err = cudaMalloc(&ctx->accumulator, sizeof(double));
  if (err == cudaSuccess)
    err = cudaMalloc(&ctx->tokenScratch, kTokenScratchBytes);
  if (err == cudaSuccess)
    err = cudaMemset(ctx->status, 0, sizeof(DeviceStatus));
  if (err != cudaSuccess) {
    createError = std::string("no usable CUDA device: ") +
                  cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
    ivl_context_destroy(ctx);
    return nullptr;
  }
  if (cublasStatus_t lt = cublasLtCreate(&ctx->lt);
      lt != CUBLAS_STATUS_SUCCESS) {
    createError = std::string("cuBLASLt did not start: ") +
                  cublasGetStatusString(lt);
    ivl_context_destroy(ctx);
    return nullptr;
  }
  ctx->tokenScratchBytes = kTokenScratchBytes;
  int nccl = 0;
  ncclGetVersion(&nccl);
  char name[512];
  std::snprintf(name, sizeof name, "%s (sm_%d%d, CUDA runtime %d, NCCL %d)",
                props.name, props.major, props.minor, CUDART_VERSION, nccl);
  ctx->deviceName = name;
  return ctx;
}

void ivl_context_destroy(ivl_context *ctx) {
  if (!ctx)
    return;
  for (auto &[key, plan] : ctx->gemmPlans) {
    cublasLtMatmulDescDestroy(plan.desc);
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.d);
  }
  if (ctx->lt)
    cublasLtDestroy(ctx->lt);
  if (ctx->nccl)
    ncclCommDestroy(ctx->nccl);
  destroySideStream(ctx->comm);
  destroySideStream(ctx->copy);
  if (ctx->stream)
    cudaStreamDestroy(ctx->stream);
  cudaFree(ctx->status);
  cudaFree(ctx->accumulator);
  cudaFree(ctx->tokenScratch);
  delete ctx;
}

const char *ivl_last_error(const ivl_context *ctx) {
  return ctx ? ctx->error.c_str() : createError.c_str();
}

void ivl_annotate_error(ivl_context *ctx, const char *where) {
  if (ctx)
    ctx->error = std::string(where) + ": " + ctx->error;
}

void *ivl_device_alloc(ivl_context *ctx, int64_t bytes) {
  if (bytes < 0) {
    fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "device_alloc: %lld bytes",
         static_cast<long long>(bytes));
    return nullptr;
  }
  void *ptr = nullptr;
  size_t rounded = ivl::allocationBytes(bytes);
  // cudaMalloc aligns to at least 256 bytes, as the memory plan assumes.
  if (check(ctx, cudaMalloc(&ptr, rounded), "device_alloc") != IVL_OK)
    return nullptr;
  if (check(ctx, cudaMemset(ptr, 0, rounded), "device_alloc") != IVL_OK) {
    cudaFree(ptr);
    return nullptr;
  }
  ctx->allocations[ptr] = static_cast<int64_t>(rounded);
  size_t freeBytes = 0, total = 0;
  if (cudaMemGetInfo(&freeBytes, &total) == cudaSuccess)
    ctx->peakInUse =
        std::max(ctx->peakInUse, static_cast<int64_t>(total - freeBytes));
  return ptr;
}

void ivl_device_free(ivl_context *ctx, void *ptr) {
  if (!ptr)
    return;
  ctx->allocations.erase(ptr);
  cudaFree(ptr);
}

ivl_status ivl_copy_to_device(ivl_context *ctx, void *dst, const void *src,
                              int64_t bytes) {
  if (ivl_status s = check(ctx,
                           cudaMemcpyAsync(dst, src, bytes,
                                           cudaMemcpyHostToDevice, ctx->stream),
                           "copy_to_device"))
    return s;
  return check(ctx, cudaStreamSynchronize(ctx->stream), "copy_to_device");
}

ivl_status ivl_copy_to_host(ivl_context *ctx, void *dst, const void *src,
                            int64_t bytes) {
  if (ivl_status s = check(ctx,
                           cudaMemcpyAsync(dst, src, bytes,
                                           cudaMemcpyDeviceToHost, ctx->stream),
                           "copy_to_host"))
    return s;
  return check(ctx, cudaStreamSynchronize(ctx->stream), "copy_to_host");
}

ivl_status ivl_synchronize(ivl_context *ctx) {
  if (ivl_status s = check(ctx, cudaStreamSynchronize(ctx->stream),
                           "synchronize"))
    return s;
  size_t freeBytes = 0, total = 0;
  if (cudaMemGetInfo(&freeBytes, &total) == cudaSuccess)
    ctx->peakInUse =
        std::max(ctx->peakInUse, static_cast<int64_t>(total - freeBytes));
  DeviceStatus status;
  if (ivl_status s = check(ctx,
                           cudaMemcpy(&status, ctx->status, sizeof status,
                                      cudaMemcpyDeviceToHost),
                           "synchronize"))
    return s;
  if (status.error == 0)
    return IVL_OK;
  describeDataError(ctx, status);
  cudaMemset(ctx->status, 0, sizeof(DeviceStatus));
  return IVL_ERROR_INVALID_INPUT;
}

ivl_status ivl_set_workspace(ivl_context *ctx, void *ptr, int64_t bytes) {
  ctx->workspace = ptr;
  ctx->workspaceBytes = bytes;
  return IVL_OK;
}

ivl_status ivl_set_scratch(ivl_context *ctx, void *ptr, int64_t bytes) {
  ctx->scratch = ptr;
  ctx->scratchBytes = bytes;
  return IVL_OK;
}

void ivl_device_memory(ivl_context *ctx, int64_t *inUse, int64_t *peak) {
  size_t freeBytes = 0, total = 0;
  *inUse = 0;
  if (cudaMemGetInfo(&freeBytes, &total) == cudaSuccess)
    *inUse = static_cast<int64_t>(total - freeBytes);
  ctx->peakInUse = std::max(ctx->peakInUse, *inUse);
  *peak = ctx->peakInUse;
}

int64_t ivl_device_capacity(ivl_context *) {
  size_t freeBytes = 0, total = 0;
  if (cudaMemGetInfo(&freeBytes, &total) != cudaSuccess)
    return 0;
  return static_cast<int64_t>(total);
}

const char *ivl_device_name(ivl_context *ctx) {
  return ctx->deviceName.c_str();
}

cudaStream_t ivl_cuda_stream(ivl_context *ctx) { return ctx->stream; }

ivl_status ivl_cuda_check_launch(ivl_context *ctx, const char *what) {
  return launched(ctx, what);
}

} // extern "C"
