//===- CudaSupport.h - the CUDA runtime's hooks for generated code -*- C++ -*-===//
//
// What an emitted step.cu needs beyond the C API: the context's stream to
// launch its fused kernels on, a launch check, and the launch geometry the
// runtime's own elementwise kernels use.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_CUDASUPPORT_H
#define INTERNVL_RUNTIME_CUDASUPPORT_H

#include "internvl/runtime/Runtime.h"

#include <cuda_runtime.h>

extern "C" {
/// The stream every kernel of the context runs on, in order.
cudaStream_t ivl_cuda_stream(ivl_context *ctx);
/// IVL_OK, or the error of the last launch with `what` in the message.
ivl_status ivl_cuda_check_launch(ivl_context *ctx, const char *what);
}

namespace ivl::cuda {

constexpr int kBlock = 256;

/// Blocks for a grid-stride loop over n elements (enough to fill an H100
/// many times over; the loop covers the rest).
inline unsigned gridFor(int64_t n) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
  if (blocks < 1)
    blocks = 1;
  return static_cast<unsigned>(blocks < (1 << 16) ? blocks : (1 << 16));
}

} // namespace ivl::cuda

#endif // INTERNVL_RUNTIME_CUDASUPPORT_H
