//===- Scalar.h - activation formulas, host and device -----------*- C++ -*-===//
//
// One definition of each activation and its derivative in f32, used by the
// CPU kernels, the CUDA kernels and the generated fused kernels, so a fused
// CPU step computes the same bits as the unfused one.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_SCALAR_H
#define INTERNVL_RUNTIME_SCALAR_H

#include "internvl/runtime/Numeric.h"

#include <math.h>

namespace ivl::scalar {

/// GELU with the exact erf form (nn.GELU()).
IVL_HOST_DEVICE float geluErf(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}

/// GELU with the tanh approximation (nn.GELU(approximate="tanh")).
IVL_HOST_DEVICE float geluTanh(float x) {
  const float k = 0.7978845608028654f; // sqrt(2 / pi)
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

IVL_HOST_DEVICE float geluErfDerivative(float x) {
  float cdf = 0.5f * (1.0f + erff(x * 0.7071067811865476f));
  float pdf = expf(-0.5f * x * x) * 0.3989422804014327f; // 1/sqrt(2 pi)
  return cdf + x * pdf;
}

IVL_HOST_DEVICE float geluTanhDerivative(float x) {
  const float k = 0.7978845608028654f;
  float x2 = x * x;
  float t = tanhf(k * (x + 0.044715f * x2 * x));
  return 0.5f * (1.0f + t) +
         0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x2);
}

IVL_HOST_DEVICE float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

IVL_HOST_DEVICE float silu(float x) { return x * sigmoid(x); }

IVL_HOST_DEVICE float siluDerivative(float x) {
  float s = sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

} // namespace ivl::scalar

#endif // INTERNVL_RUNTIME_SCALAR_H
