//===- StepSupport.h - what an emitted training step calls ------*- C++ -*-===//
//
// The C++ that --convert-tg-to-emitc emits is a flat schedule: make a view
// of planned memory, call a kernel of the C API through ivl::call
// (EntryPoints.h), check its status:
//
//   ivl_tensor v3 = ivl::view(arena, 33573376, IVL_BF16, {1, 16, 32});
//   ivl_status v4 = ivl::call<ivl_linear>(ctx, v1, v2, v0, v3);
//   IVL_CHECK(ctx, v4, "tg.linear (vision_model.embeddings.patch_embedding)");
//
// Plain C++17 over Runtime.h: it compiles with g++ and with nvcc.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_STEPSUPPORT_H
#define INTERNVL_RUNTIME_STEPSUPPORT_H

#include "internvl/runtime/EntryPoints.h"
#include "internvl/runtime/Runtime.h"

#include <cstdint>
#include <initializer_list>

/// Returns from the step with `status` when a kernel failed, naming the op.
#define IVL_CHECK(ctx, status, where)                                          \
  do {                                                                         \
    if ((status) != IVL_OK) {                                                  \
      ivl_annotate_error((ctx), (where));                                      \
      return (status);                                                         \
    }                                                                          \
  } while (0)

/// Returns from the step with the status of a failed part (already named).
#define IVL_PROPAGATE(status)                                                  \
  do {                                                                         \
    if ((status) != IVL_OK)                                                    \
      return (status);                                                         \
  } while (0)

namespace ivl {

using Dims = std::initializer_list<int64_t>;

/// A tensor of `dtype` and `shape` at `offset` bytes into `base`.
inline ivl_tensor view(void *base, int64_t offset, ivl_dtype dtype,
                       Dims shape) {
  ivl_tensor t{};
  t.data = static_cast<char *>(base) + offset;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  int32_t i = 0;
  for (int64_t d : shape)
    t.shape[i++] = d;
  return t;
}

/// The step argument `index` (persistent buffers and the batch, in the
/// order of the function's arguments).
inline ivl_tensor argument(void *const *args, int32_t index, ivl_dtype dtype,
                           Dims shape) {
  return view(args[index], 0, dtype, shape);
}

/// The same memory seen with another shape (tg.reshape: no copy).
inline ivl_tensor reshape(ivl_tensor t, Dims shape) {
  return view(t.data, 0, t.dtype, shape);
}

/// `offset` bytes into the context's host buffer (an offloaded activation;
/// requireHostBuffer checked its size when the step began).
inline ivl_tensor hostView(ivl_context *ctx, int64_t offset, ivl_dtype dtype,
                           Dims shape) {
  return view(ivl_host_buffer(ctx, nullptr), offset, dtype, shape);
}

/// `offset` bytes into `base` (a collective's planned buffer).
inline void *at(void *base, int64_t offset) {
  return static_cast<char *>(base) + offset;
}

inline ivl_status setWorkspace(ivl_context *ctx, void *base, int64_t offset,
                               int64_t bytes) {
  return ivl_set_workspace(ctx, static_cast<char *>(base) + offset, bytes);
}

inline ivl_status setScratch(ivl_context *ctx, void *base, int64_t offset,
                             int64_t bytes) {
  return ivl_set_scratch(ctx, static_cast<char *>(base) + offset, bytes);
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_STEPSUPPORT_H
