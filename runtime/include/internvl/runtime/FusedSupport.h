//===- FusedSupport.h - what generated elementwise kernels call --*- C++ -*-===//
//
// A fused kernel that --convert-tg-to-emitc generates is a loop over the
// output's elements: load each leaf as f32, compute, round every
// intermediate to its element type as the unfused kernels would store it,
// store the result. On the CPU the loop runs from 0 by 1; on CUDA the same
// body is a grid-stride loop of a __global__ function.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_FUSEDSUPPORT_H
#define INTERNVL_RUNTIME_FUSEDSUPPORT_H

#include "internvl/runtime/Numeric.h"
#include "internvl/runtime/Runtime.h"
#include "internvl/runtime/Scalar.h"

#if defined(__CUDACC__)
#include "internvl/runtime/CudaSupport.h"
#endif

namespace ivl::fused {

IVL_HOST_DEVICE int64_t firstIndex() {
#if defined(__CUDA_ARCH__)
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
#else
  return 0;
#endif
}

IVL_HOST_DEVICE int64_t indexStride() {
#if defined(__CUDA_ARCH__)
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
#else
  return 1;
#endif
}

IVL_HOST_DEVICE float loadF32(const ivl_tensor &t, int64_t i) {
  return static_cast<const float *>(t.data)[i];
}
IVL_HOST_DEVICE float loadBf16(const ivl_tensor &t, int64_t i) {
  return bf16ToFloat(static_cast<const uint16_t *>(t.data)[i]);
}
IVL_HOST_DEVICE float loadF16(const ivl_tensor &t, int64_t i) {
  return f16ToFloat(static_cast<const uint16_t *>(t.data)[i]);
}

IVL_HOST_DEVICE void storeF32(const ivl_tensor &t, int64_t i, float v) {
  static_cast<float *>(t.data)[i] = v;
}
IVL_HOST_DEVICE void storeBf16(const ivl_tensor &t, int64_t i, float v) {
  static_cast<uint16_t *>(t.data)[i] = floatToBf16(v);
}
IVL_HOST_DEVICE void storeF16(const ivl_tensor &t, int64_t i, float v) {
  static_cast<uint16_t *>(t.data)[i] = floatToF16(v);
}

/// The value an intermediate has once stored in its element type.
IVL_HOST_DEVICE float roundBf16(float v) { return bf16ToFloat(floatToBf16(v)); }
IVL_HOST_DEVICE float roundF16(float v) { return f16ToFloat(floatToF16(v)); }

/// Runs `kernel(tensors..., n)` over n elements.
template <typename Kernel, typename... Tensors>
ivl_status launch(ivl_context *ctx, Kernel kernel, int64_t n,
                  Tensors... tensors) {
#if defined(__CUDACC__)
  if (n == 0)
    return IVL_OK;
  kernel<<<ivl::cuda::gridFor(n), ivl::cuda::kBlock, 0,
           ivl_cuda_stream(ctx)>>>(tensors..., n);
  return ivl_cuda_check_launch(ctx, "fused elementwise kernel");
#else
  (void)ctx;
  kernel(tensors..., n);
  return IVL_OK;
#endif
}

} // namespace ivl::fused

#endif // INTERNVL_RUNTIME_FUSEDSUPPORT_H
