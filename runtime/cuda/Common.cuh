//===- Common.cuh - internals of the CUDA runtime -------------------------===//
//
// The context (stream, cuBLASLt handle, workspace, a small device status
// block), element loads and stores with the CPU runtime's rounding, index
// helpers for strided views, warp and block reductions.
//
// Kernels find bad data (a label outside the vocabulary) on the device and
// cannot return an error: they record the first one in the device status
// block, and ivl_synchronize turns it into the context's error message.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_CUDA_COMMON_CUH
#define INTERNVL_RUNTIME_CUDA_COMMON_CUH

#include "Backend.h"
#include "internvl/runtime/CudaSupport.h"
#include "internvl/runtime/Numeric.h"
#include "internvl/runtime/Runtime.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdarg>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>

namespace ivl::cuda {

/// Device-side data errors, reported at the next ivl_synchronize.
enum class DataError : int {
  None = 0,
  LabelOutOfRange = 1,      // a: label, b: position, c: vocabulary
  TokenOutOfRange = 2,      // a: id, b: position, c: vocabulary
  ImageTokenCount = 3,      // a: count, b: expected, c: token id
  StepNotPositive = 4,      // a: step
  SampleBounds = 5,         // a: flat index in cu_seqlens, b: value, c: length
};

struct DeviceStatus {
  int error;
  int kernel; // index into kKernelNames
  long long a, b, c;
};

/// One cuBLASLt plan per distinct matrix product of the step.
struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo;
};

/// Bytes of per-token scratch the context owns: 8 bytes per token for up to
/// two million tokens per step.
constexpr int64_t kTokenScratchBytes = 16ll << 20;

/// A stream beside the compute stream (collectives, host copies): each
/// launch on it starts after what the compute stream has queued (`ready`)
/// and ends with an event of a ring, `done[i % kEvents]` for the i-th of
/// `launches`, so that a wait needs only the launch it names, not those
/// after it.
struct SideStream {
  static constexpr int kEvents = 64;
  cudaStream_t stream = nullptr;
  cudaEvent_t ready = nullptr, done[kEvents] = {};
  int64_t launches = 0;
};

} // namespace ivl::cuda

struct ivl_context {
  std::string error;
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void *workspace = nullptr;
  int64_t workspaceBytes = 0;
  void *scratch = nullptr;
  int64_t scratchBytes = 0;
  /// Device memory the context owns (allocated once, outside any step): the
  /// status block, an f64 accumulator for norms, and per-token scratch for
  /// the embedding gradient's token chains and the image-token prefix sums.
  ivl::cuda::DeviceStatus *status = nullptr;
  double *accumulator = nullptr;
  void *tokenScratch = nullptr;
  int64_t tokenScratchBytes = 0;
  std::map<std::string, ivl::cuda::GemmPlan> gemmPlans;
  std::unordered_map<void *, int64_t> allocations;
  /// The data-parallel group: NCCL on its own stream, so that collectives
  /// overlap backward.
  int32_t rank = 0, size = 1;
  ncclComm_t nccl = nullptr;
  ivl::cuda::SideStream comm;
  /// Host offload: copies on their own stream (the copy engines), into and
  /// out of the step's planned pinned memory (ivl_set_host_buffer).
  ivl::cuda::SideStream copy;
  void *hostBuffer = nullptr;
  int64_t hostBufferBytes = 0;
  int64_t peakInUse = 0;
  std::string deviceName;
};

namespace ivl::cuda {

/// Records a printf-style message and returns `status`.
ivl_status fail(ivl_context *ctx, ivl_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/// IVL_OK, or IVL_ERROR_RUNTIME with `what` and CUDA's message.
ivl_status check(ivl_context *ctx, cudaError_t err, const char *what);

/// Writes zeros over all of `t` (a gradient with nothing summed into it).
inline ivl_status zero(ivl_context *ctx, ivl_tensor &t, const char *kernel) {
  int64_t bytes = ivl_numel(&t) * ivl_dtype_size(t.dtype);
  if (bytes == 0)
    return IVL_OK;
  return check(ctx, cudaMemsetAsync(t.data, 0, bytes, ctx->stream), kernel);
}

/// The same after a kernel launch.
inline ivl_status launched(ivl_context *ctx, const char *what) {
  return check(ctx, cudaGetLastError(), what);
}

std::string describe(const ivl_tensor &t);

/// Creates `side`'s stream and events, once.
ivl_status createSideStream(ivl_context *ctx, SideStream &side,
                            const char *what);
void destroySideStream(SideStream &side);
/// Orders `side` after the work queued on the compute stream so far.
ivl_status beginOnSide(ivl_context *ctx, SideStream &side, const char *what);
/// Marks the end of the launch just queued on `side`.
ivl_status endOnSide(ivl_context *ctx, SideStream &side, const char *what);
/// Later work on the compute stream waits for the launch `newer` launches
/// before the latest on `side` (and, the stream being in order, those
/// before it).
ivl_status waitOnSide(ivl_context *ctx, SideStream &side, int32_t newer,
                      const char *what);

/// Sums `n` doubles over the data-parallel ranks in place, in the compute
/// stream's order (Comm.cu).
ivl_status allReduceSumOnCompute(ivl_context *ctx, double *values, int64_t n,
                                 const char *what);

inline int64_t numel(const ivl_tensor &t) { return ivl_numel(&t); }

ivl_status expectNumel(ivl_context *ctx, const char *kernel, const char *what,
                       const ivl_tensor &t, int64_t expected);
ivl_status expectFloat(ivl_context *ctx, const char *kernel,
                       const ivl_tensor &t);

/// for (int64_t i = ...; i < n; ...): a grid-stride loop over n elements.
#define GRID_STRIDE(i, n)                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x +             \
                   threadIdx.x;                                                \
       i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

//===--- Elements ---------------------------------------------------------===//

__device__ __forceinline__ float load(const void *p, ivl_dtype t, int64_t i) {
  switch (t) {
  case IVL_F32:
    return static_cast<const float *>(p)[i];
  case IVL_BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case IVL_F16:
    return f16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case IVL_I64:
    return static_cast<float>(static_cast<const int64_t *>(p)[i]);
  case IVL_I1:
    return static_cast<const uint8_t *>(p)[i] ? 1.0f : 0.0f;
  }
  return 0.0f;
}

__device__ __forceinline__ void store(void *p, ivl_dtype t, int64_t i,
                                      float v) {
  switch (t) {
  case IVL_F32:
    static_cast<float *>(p)[i] = v;
    break;
  case IVL_BF16:
    static_cast<uint16_t *>(p)[i] = floatToBf16(v);
    break;
  case IVL_F16:
    static_cast<uint16_t *>(p)[i] = floatToF16(v);
    break;
  case IVL_I64:
    static_cast<int64_t *>(p)[i] = static_cast<int64_t>(v);
    break;
  case IVL_I1:
    static_cast<uint8_t *>(p)[i] = v != 0.0f;
    break;
  }
}

/// Copies one element of `size` bytes.
__device__ __forceinline__ void copyElement(void *dst, int64_t di,
                                            const void *src, int64_t si,
                                            int64_t size) {
  switch (size) {
  case 8:
    static_cast<uint64_t *>(dst)[di] = static_cast<const uint64_t *>(src)[si];
    break;
  case 4:
    static_cast<uint32_t *>(dst)[di] = static_cast<const uint32_t *>(src)[si];
    break;
  case 2:
    static_cast<uint16_t *>(dst)[di] = static_cast<const uint16_t *>(src)[si];
    break;
  default:
    static_cast<uint8_t *>(dst)[di] = static_cast<const uint8_t *>(src)[si];
  }
}

__device__ __forceinline__ void zeroElement(void *dst, int64_t i,
                                            int64_t size) {
  switch (size) {
  case 8:
    static_cast<uint64_t *>(dst)[i] = 0;
    break;
  case 4:
    static_cast<uint32_t *>(dst)[i] = 0;
    break;
  case 2:
    static_cast<uint16_t *>(dst)[i] = 0;
    break;
  default:
    static_cast<uint8_t *>(dst)[i] = 0;
  }
}

//===--- Index maps ---------------------------------------------------------===//

/// An output shape and, per output dimension, the element stride of a source
/// (0 where the source is broadcast): source offset of output element i.
struct IndexMap {
  int32_t rank = 0;
  int64_t dims[IVL_MAX_RANK] = {};
  int64_t strides[IVL_MAX_RANK] = {};
  int64_t base = 0;

  __device__ __forceinline__ int64_t operator()(int64_t i) const {
    int64_t offset = base;
    for (int32_t d = rank - 1; d >= 0; --d) {
      int64_t c = i % dims[d];
      i /= dims[d];
      offset += c * strides[d];
    }
    return offset;
  }
};

/// Row-major strides of `t`.
void rowMajorStrides(const ivl_tensor &t, int64_t *strides);

/// The numpy broadcast of `in` onto `out`'s shape.
IndexMap broadcastMap(const ivl_tensor &in, const ivl_tensor &out);

//===--- Reductions ---------------------------------------------------------===//

template <typename T> __device__ __forceinline__ T warpSum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
/// thread gets the result. `shared` holds 32 values.
template <typename T>
__device__ __forceinline__ T blockSum(T v, T *shared) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpSum(v);
  __syncthreads();
  if (lane == 0)
    shared[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  T total = lane < warps ? shared[lane] : T(0);
  return warpSum(total);
}

__device__ __forceinline__ float blockMax(float v, float *shared) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpMax(v);
  __syncthreads();
  if (lane == 0)
    shared[warp] = v;
  __syncthreads();
  int warps = blockDim.x >> 5;
  float m = lane < warps ? shared[lane] : -INFINITY;
  return warpMax(m);
}

/// Records the first data error of the step.
__device__ __forceinline__ void reportError(DeviceStatus *status,
                                            DataError error, int kernel,
                                            long long a, long long b,
                                            long long c) {
  if (atomicCAS(&status->error, 0, static_cast<int>(error)) == 0) {
    status->kernel = kernel;
    status->a = a;
    status->b = b;
    status->c = c;
    __threadfence();
  }
}

/// Kernel names for device-side errors.
enum KernelId : int {
  kEmbedding,
  kEmbeddingGrad,
  kScatterImageEmbeds,
  kGatherImageEmbeds,
  kCrossEntropy,
  kCrossEntropyGrad,
  kAdamW,
  kDropPath,
  kAttention,
  kAttentionGrad,
  kRope,
  kLinearCrossEntropy,
  kLinearCrossEntropyGrad,
};

/// out[m, n] = (or +=, with `accumulate`) lhs[k, m]ᵀ · rhs[k, n], row-major,
/// lhs and rhs of `type`, out of `outType` (the operands' or f32): the
/// chunked loss sums its weight gradient with it.
ivl_status gemmTransposedLhs(ivl_context *ctx, const void *lhs,
                             const void *rhs, ivl_dtype type, int64_t m,
                             int64_t n, int64_t k, void *out,
                             ivl_dtype outType, bool accumulate);

} // namespace ivl::cuda

#endif // INTERNVL_RUNTIME_CUDA_COMMON_CUH
