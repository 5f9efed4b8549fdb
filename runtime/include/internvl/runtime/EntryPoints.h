//===- EntryPoints.h - the kernels a step calls, listed once ----*- C++ -*-===//
//
// Every runtime entry point that runs a tg op, in one list. The compiler
// names its callees from it (tg::Kernel), the interpreter calls through the
// packed trampolines below, and emitted steps through ivl::call; all three
// adapt to the C signatures in Runtime.h by template, so a new kernel is its
// declaration there and one line here.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_ENTRYPOINTS_H
#define INTERNVL_RUNTIME_ENTRYPOINTS_H

#include "internvl/runtime/Runtime.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

/// X(name) for each `ivl_<name>` that a tg op lowers to.
#define IVL_KERNEL_ENTRY_POINTS(X)                                             \
  X(fill)                                                                      \
  X(binary)                                                                    \
  X(unary)                                                                     \
  X(activation_grad)                                                           \
  X(linear)                                                                    \
  X(matmul)                                                                    \
  X(transpose)                                                                 \
  X(broadcast)                                                                 \
  X(concat)                                                                    \
  X(slice)                                                                     \
  X(pad)                                                                       \
  X(reduce_sum)                                                                \
  X(pixel_shuffle)                                                             \
  X(layer_norm)                                                                \
  X(layer_norm_grad)                                                           \
  X(rms_norm)                                                                  \
  X(rms_norm_grad)                                                             \
  X(attention)                                                                 \
  X(attention_grad)                                                            \
  X(rope)                                                                      \
  X(embedding)                                                                 \
  X(embedding_grad)                                                            \
  X(scatter_image_embeds)                                                      \
  X(gather_image_embeds)                                                       \
  X(mask_image_positions)                                                      \
  X(drop_path)                                                                 \
  X(dropout)                                                                   \
  X(cross_entropy)                                                             \
  X(cross_entropy_grad)                                                        \
  X(linear_cross_entropy)                                                      \
  X(linear_cross_entropy_grad)                                                 \
  X(global_norm)                                                               \
  X(global_norm_across_ranks)                                                  \
  X(clip_scale)                                                                \
  X(adamw)                                                                     \
  X(shard_adamw)                                                               \
  X(all_reduce_mean)                                                           \
  X(reduce_scatter_mean)                                                       \
  X(all_gather)                                                                \
  X(comm_wait)                                                                 \
  X(offload)                                                                   \
  X(prefetch)                                                                  \
  X(copy_wait)

namespace ivl {

namespace detail {
template <typename Fn> struct Signature;
template <typename... Params>
struct Signature<ivl_status (*)(ivl_context *, Params...)> {
  static constexpr size_t arity = sizeof...(Params);
  template <size_t I>
  using Param = std::tuple_element_t<I, std::tuple<Params...>>;
};
} // namespace detail

//===--- Interpreted calls -----------------------------------------------===//

/// One C parameter of a kernel call made at run time: a pointer (tensor,
/// tensor list, array, buffer), an integer (counts, flags, enumerators) or a
/// double.
struct PackedArg {
  const void *pointer = nullptr;
  int64_t integer = 0;
  double real = 0;
};

/// Calls a kernel with `args` converted to its parameter types.
using PackedKernel = ivl_status (*)(ivl_context *ctx, const PackedArg *args,
                                    size_t count);

namespace detail {
template <typename P> P unpack(const PackedArg &a) {
  if constexpr (std::is_pointer_v<P>)
    return static_cast<P>(const_cast<void *>(a.pointer));
  else if constexpr (std::is_floating_point_v<P>)
    return static_cast<P>(a.real);
  else
    return static_cast<P>(a.integer);
}

template <auto Fn, size_t... I>
ivl_status callUnpacked(ivl_context *ctx, const PackedArg *args,
                        std::index_sequence<I...>) {
  using Sig = Signature<decltype(Fn)>;
  return Fn(ctx, unpack<typename Sig::template Param<I>>(args[I])...);
}
} // namespace detail

/// The trampoline of `Fn`: IVL_ERROR_INVALID_ARGUMENT when the number of
/// arguments is not its arity.
template <auto Fn>
ivl_status packedCall(ivl_context *ctx, const PackedArg *args, size_t count) {
  constexpr size_t arity = detail::Signature<decltype(Fn)>::arity;
  if (count != arity)
    return IVL_ERROR_INVALID_ARGUMENT;
  return detail::callUnpacked<Fn>(ctx, args, std::make_index_sequence<arity>{});
}

//===--- Emitted calls ---------------------------------------------------===//

/// Tensors passed to a kernel as one array (concat's inputs, a bucket).
template <size_t N> struct TensorList {
  std::array<ivl_tensor, N> items;
};

template <typename... Tensors> TensorList<sizeof...(Tensors)>
list(const Tensors &...tensors) {
  return {{tensors...}};
}

namespace detail {
template <typename P, size_t N> P adaptRange(TensorList<N> &l) {
  return l.items.data();
}
template <typename P, typename E, size_t N> P adaptRange(std::array<E, N> &a) {
  return a.data();
}

/// An argument of the emitted code as the C parameter P: tensors by
/// address, lists and arrays by their first element, the rest as they are.
template <typename P, typename A> P adapt(A &a) {
  using T = std::remove_cv_t<A>;
  if constexpr (std::is_same_v<T, ivl_tensor>)
    return &a;
  else if constexpr (std::is_same_v<T, std::nullptr_t>)
    return nullptr;
  else if constexpr (std::is_pointer_v<P> && std::is_class_v<T>)
    return adaptRange<P>(a);
  else
    return static_cast<P>(a);
}

template <auto Fn, typename Tuple, size_t... I>
ivl_status callAdapted(ivl_context *ctx, Tuple &args,
                       std::index_sequence<I...>) {
  using Sig = Signature<decltype(Fn)>;
  return Fn(ctx,
            adapt<typename Sig::template Param<I>>(std::get<I>(args))...);
}
} // namespace detail

/// A kernel call of the emitted step: ivl::call<ivl_linear>(ctx, x, w,
/// nullptr, y) passes the views x, w, y by address. Temporaries (braced
/// arrays, lists) live until the call returns.
template <auto Fn, typename... Args>
ivl_status call(ivl_context *ctx, Args &&...args) {
  static_assert(sizeof...(Args) == detail::Signature<decltype(Fn)>::arity,
                "one argument per parameter of the kernel");
  std::tuple<Args &...> refs(args...);
  return detail::callAdapted<Fn>(ctx, refs,
                                 std::index_sequence_for<Args...>{});
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_ENTRYPOINTS_H
