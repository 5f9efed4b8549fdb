//===- Tensor.cpp - internal helpers of the CPU runtime -------------------===//

#include "Tensor.h"

#include <cstdio>

using namespace ivl::cpu;

ivl_status ivl::cpu::fail(ivl_context *ctx, ivl_status status,
                          const char *format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  if (ctx)
    ctx->error = buffer;
  return status;
}

int64_t ivl::cpu::numel(const ivl_tensor &t) {
  int64_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i)
    n *= t.shape[i];
  return n;
}

std::string ivl::cpu::describe(const ivl_tensor &t) {
  static const char *names[] = {"f32", "bf16", "f16", "i64", "i1"};
  std::string s;
  for (int32_t i = 0; i < t.rank; ++i)
    s += std::to_string(t.shape[i]) + "x";
  return s + names[t.dtype];
}

bool ivl::cpu::isFloat(ivl_dtype dtype) {
  return dtype == IVL_F32 || dtype == IVL_BF16 || dtype == IVL_F16;
}

float ivl::cpu::load(const ivl_tensor &t, int64_t i) {
  switch (t.dtype) {
  case IVL_F32:
    return static_cast<const float *>(t.data)[i];
  case IVL_BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(t.data)[i]);
  case IVL_F16:
    return f16ToFloat(static_cast<const uint16_t *>(t.data)[i]);
  case IVL_I64:
    return static_cast<float>(static_cast<const int64_t *>(t.data)[i]);
  case IVL_I1:
    return static_cast<const uint8_t *>(t.data)[i] ? 1.0f : 0.0f;
  }
  return 0.0f;
}

void ivl::cpu::store(ivl_tensor &t, int64_t i, float v) {
  switch (t.dtype) {
  case IVL_F32:
    static_cast<float *>(t.data)[i] = v;
    return;
  case IVL_BF16:
    static_cast<uint16_t *>(t.data)[i] = floatToBf16(v);
    return;
  case IVL_F16:
    static_cast<uint16_t *>(t.data)[i] = floatToF16(v);
    return;
  case IVL_I64:
    static_cast<int64_t *>(t.data)[i] = static_cast<int64_t>(v);
    return;
  case IVL_I1:
    static_cast<uint8_t *>(t.data)[i] = v != 0.0f;
    return;
  }
}

std::vector<float> ivl::cpu::toFloat(const ivl_tensor &t) {
  int64_t n = numel(t);
  std::vector<float> values(n);
  if (t.dtype == IVL_F32) {
    const float *src = static_cast<const float *>(t.data);
    values.assign(src, src + n);
    return values;
  }
  for (int64_t i = 0; i < n; ++i)
    values[i] = load(t, i);
  return values;
}

void ivl::cpu::fromFloat(ivl_tensor &t, const float *values) {
  int64_t n = numel(t);
  if (t.dtype == IVL_F32) {
    float *dst = static_cast<float *>(t.data);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = values[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    store(t, i, values[i]);
}

std::vector<int64_t> ivl::cpu::strides(const ivl_tensor &t) {
  std::vector<int64_t> s(t.rank, 1);
  for (int32_t i = t.rank - 2; i >= 0; --i)
    s[i] = s[i + 1] * t.shape[i + 1];
  return s;
}

ivl_status ivl::cpu::expectNumel(ivl_context *ctx, const char *kernel,
                                 const char *what, const ivl_tensor &t,
                                 int64_t expected) {
  if (numel(t) == expected)
    return IVL_OK;
  return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
              "%s: %s has %lld elements (%s), expected %lld", kernel, what,
              static_cast<long long>(numel(t)), describe(t).c_str(),
              static_cast<long long>(expected));
}

//===----------------------------------------------------------------------===//
// Context
//===----------------------------------------------------------------------===//

extern "C" {

ivl_context *ivl_context_create(void) { return new ivl_context(); }
void ivl_context_destroy(ivl_context *ctx) { delete ctx; }
const char *ivl_last_error(const ivl_context *ctx) {
  return ctx ? ctx->error.c_str() : "no context";
}
void ivl_annotate_error(ivl_context *ctx, const char *where) {
  if (ctx)
    ctx->error = std::string(where) + ": " + ctx->error;
}

} // extern "C"
