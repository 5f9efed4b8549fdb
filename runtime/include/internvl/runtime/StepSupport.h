//===- StepSupport.h - what an emitted training step calls -------*- C++
//-*-===//
//
// The C++ that --convert-tg-to-emitc emits is a flat schedule: make a view
// of planned memory, call a kernel, check its status. This header holds
// those three things as small inline functions over the runtime's C API, so
// the emitted code passes tensors by value and shapes as braced lists:
//
//   ivl_tensor v3 = ivl::view(arena, 33573376, IVL_BF16, {1, 16, 32});
//   ivl_status v4 = ivl::linear(ctx, v1, v2, v0, v3);
//   IVL_CHECK(ctx, v4, "tg.linear (vision_model.embeddings.patch_embedding)");
//
// Plain C++17 over Runtime.h: it compiles with g++ and with nvcc.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_STEPSUPPORT_H
#define INTERNVL_RUNTIME_STEPSUPPORT_H

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

inline ivl_status setWorkspace(ivl_context *ctx, void *base, int64_t offset,
                               int64_t bytes) {
  return ivl_set_workspace(ctx, static_cast<char *>(base) + offset, bytes);
}

inline ivl_status setScratch(ivl_context *ctx, void *base, int64_t offset,
                             int64_t bytes) {
  return ivl_set_scratch(ctx, static_cast<char *>(base) + offset, bytes);
}

//===--- Kernels, one wrapper per tg op ----------------------------------===//

inline ivl_status fill(ivl_context *ctx, ivl_tensor &out, double value) {
  return ivl_fill(ctx, &out, value);
}

inline ivl_status binary(ivl_context *ctx, ivl_binary_kind kind,
                         const ivl_tensor &a, const ivl_tensor &b,
                         ivl_tensor &out) {
  return ivl_binary(ctx, kind, &a, &b, &out);
}

inline ivl_status unary(ivl_context *ctx, ivl_unary_kind kind,
                        const ivl_tensor &in, double param, ivl_tensor &out) {
  return ivl_unary(ctx, kind, &in, param, &out);
}

inline ivl_status activationGrad(ivl_context *ctx, ivl_unary_kind kind,
                                 const ivl_tensor &grad, const ivl_tensor &x,
                                 double param, ivl_tensor &out) {
  return ivl_activation_grad(ctx, kind, &grad, &x, param, &out);
}

inline ivl_status linear(ivl_context *ctx, const ivl_tensor &x,
                         const ivl_tensor &w, ivl_tensor &y) {
  return ivl_linear(ctx, &x, &w, nullptr, &y);
}

inline ivl_status linear(ivl_context *ctx, const ivl_tensor &x,
                         const ivl_tensor &w, const ivl_tensor &b,
                         ivl_tensor &y) {
  return ivl_linear(ctx, &x, &w, &b, &y);
}

inline ivl_status matmul(ivl_context *ctx, const ivl_tensor &a,
                         const ivl_tensor &b, int transposeA, int transposeB,
                         ivl_tensor &out) {
  return ivl_matmul(ctx, &a, &b, transposeA, transposeB, &out);
}

inline ivl_status transpose(ivl_context *ctx, const ivl_tensor &in,
                            Dims permutation, ivl_tensor &out) {
  return ivl_transpose(ctx, &in, permutation.begin(), &out);
}

inline ivl_status broadcast(ivl_context *ctx, const ivl_tensor &in,
                            ivl_tensor &out) {
  return ivl_broadcast(ctx, &in, &out);
}

template <typename... Tensors>
ivl_status concat(ivl_context *ctx, int32_t dim, ivl_tensor &out,
                  const Tensors &...inputs) {
  const ivl_tensor list[] = {inputs...};
  return ivl_concat(ctx, list, static_cast<int32_t>(sizeof...(inputs)), dim,
                    &out);
}

inline ivl_status slice(ivl_context *ctx, const ivl_tensor &in, Dims offsets,
                        ivl_tensor &out) {
  return ivl_slice(ctx, &in, offsets.begin(), &out);
}

inline ivl_status pad(ivl_context *ctx, const ivl_tensor &in, Dims low,
                      ivl_tensor &out) {
  return ivl_pad(ctx, &in, low.begin(), &out);
}

inline ivl_status reduceSum(ivl_context *ctx, const ivl_tensor &in, Dims dims,
                            ivl_tensor &out) {
  return ivl_reduce_sum(ctx, &in, dims.begin(),
                        static_cast<int32_t>(dims.size()), &out);
}

inline ivl_status pixelShuffle(ivl_context *ctx, const ivl_tensor &in,
                               double scale, int32_t version, ivl_tensor &out) {
  return ivl_pixel_shuffle(ctx, &in, scale, version, &out);
}

inline ivl_status layerNorm(ivl_context *ctx, const ivl_tensor &x,
                            const ivl_tensor &w, const ivl_tensor &b,
                            double eps, ivl_tensor &y, ivl_tensor &mean,
                            ivl_tensor &rstd) {
  return ivl_layer_norm(ctx, &x, &w, &b, eps, &y, &mean, &rstd);
}

inline ivl_status layerNormGrad(ivl_context *ctx, const ivl_tensor &dy,
                                const ivl_tensor &x, const ivl_tensor &w,
                                ivl_tensor &mean, ivl_tensor &rstd,
                                ivl_tensor &dx, ivl_tensor &dw,
                                ivl_tensor &db) {
  return ivl_layer_norm_grad(ctx, &dy, &x, &w, &mean, &rstd, &dx, &dw, &db);
}

inline ivl_status rmsNorm(ivl_context *ctx, const ivl_tensor &x,
                          const ivl_tensor &w, double eps, ivl_tensor &y,
                          ivl_tensor &rstd) {
  return ivl_rms_norm(ctx, &x, &w, eps, &y, &rstd);
}

inline ivl_status rmsNormGrad(ivl_context *ctx, const ivl_tensor &dy,
                              const ivl_tensor &x, const ivl_tensor &w,
                              ivl_tensor &rstd, ivl_tensor &dx,
                              ivl_tensor &dw) {
  return ivl_rms_norm_grad(ctx, &dy, &x, &w, &rstd, &dx, &dw);
}

inline ivl_status attention(ivl_context *ctx, const ivl_tensor &q,
                            const ivl_tensor &k, const ivl_tensor &v,
                            int32_t causal, double scale, ivl_tensor &o,
                            ivl_tensor &lse) {
  return ivl_attention(ctx, &q, &k, &v, causal, scale, &o, &lse);
}

inline ivl_status attentionGrad(ivl_context *ctx, const ivl_tensor &dout,
                                const ivl_tensor &q, const ivl_tensor &k,
                                const ivl_tensor &v, ivl_tensor &o,
                                ivl_tensor &lse, int32_t causal, double scale,
                                ivl_tensor &dq, ivl_tensor &dk,
                                ivl_tensor &dv) {
  return ivl_attention_grad(ctx, &dout, &q, &k, &v, &o, &lse, causal, scale,
                            &dq, &dk, &dv);
}

/// Rotary embedding; `factors` is empty when the model has none.
inline ivl_status rope(ivl_context *ctx, const ivl_tensor &in, double theta,
                       std::initializer_list<double> factors,
                       double attentionFactor, int32_t inverse,
                       ivl_tensor &out) {
  return ivl_rope(ctx, &in, theta, factors.size() ? factors.begin() : nullptr,
                  attentionFactor, inverse, &out);
}

inline ivl_status embedding(ivl_context *ctx, const ivl_tensor &table,
                            const ivl_tensor &ids, ivl_tensor &out) {
  return ivl_embedding(ctx, &table, &ids, &out);
}

inline ivl_status embeddingGrad(ivl_context *ctx, const ivl_tensor &grad,
                                const ivl_tensor &ids, ivl_tensor &out) {
  return ivl_embedding_grad(ctx, &grad, &ids, &out);
}

inline ivl_status scatterImageEmbeds(ivl_context *ctx, const ivl_tensor &embeds,
                                     const ivl_tensor &ids,
                                     const ivl_tensor &image, int64_t token,
                                     ivl_tensor &out) {
  return ivl_scatter_image_embeds(ctx, &embeds, &ids, &image, token, &out);
}

inline ivl_status gatherImageEmbeds(ivl_context *ctx, const ivl_tensor &grad,
                                    const ivl_tensor &ids, int64_t token,
                                    ivl_tensor &out) {
  return ivl_gather_image_embeds(ctx, &grad, &ids, token, &out);
}

inline ivl_status maskImagePositions(ivl_context *ctx, const ivl_tensor &grad,
                                     const ivl_tensor &ids, int64_t token,
                                     ivl_tensor &out) {
  return ivl_mask_image_positions(ctx, &grad, &ids, token, &out);
}

inline ivl_status dropPath(ivl_context *ctx, const ivl_tensor &in,
                           const ivl_tensor &step, double rate, int64_t seed,
                           int64_t offset, ivl_tensor &out) {
  return ivl_drop_path(ctx, &in, &step, rate, seed, offset, &out);
}

inline ivl_status crossEntropy(ivl_context *ctx, const ivl_tensor &logits,
                               const ivl_tensor &labels, int64_t ignoreIndex,
                               ivl_tensor &loss, ivl_tensor &lse) {
  return ivl_cross_entropy(ctx, &logits, &labels, ignoreIndex, &loss, &lse);
}

inline ivl_status crossEntropyGrad(ivl_context *ctx, const ivl_tensor &dloss,
                                   const ivl_tensor &logits,
                                   const ivl_tensor &labels, ivl_tensor &lse,
                                   int64_t ignoreIndex, ivl_tensor &dlogits) {
  return ivl_cross_entropy_grad(ctx, &dloss, &logits, &labels, &lse,
                                ignoreIndex, &dlogits);
}

/// One call over every gradient (hundreds of views): the norm is one sum.
template <typename... Tensors>
ivl_status globalNorm(ivl_context *ctx, ivl_tensor &norm,
                      const Tensors &...grads) {
  const ivl_tensor list[] = {grads...};
  return ivl_global_norm(ctx, list, static_cast<int32_t>(sizeof...(grads)),
                         &norm);
}

inline ivl_status clipScale(ivl_context *ctx, const ivl_tensor &norm,
                            double maxNorm, ivl_tensor &scale) {
  return ivl_clip_scale(ctx, &norm, maxNorm, &scale);
}

inline ivl_status adamw(ivl_context *ctx, const ivl_tensor &master,
                        const ivl_tensor &expAvg, const ivl_tensor &expAvgSq,
                        const ivl_tensor &grad, const ivl_tensor &gradScale,
                        const ivl_tensor &step, double lr, double beta1,
                        double beta2, double epsilon, double weightDecay,
                        ivl_tensor &newMaster, ivl_tensor &newExpAvg,
                        ivl_tensor &newExpAvgSq, ivl_tensor &newParam) {
  return ivl_adamw(ctx, &master, &expAvg, &expAvgSq, &grad, &gradScale, &step,
                   lr, beta1, beta2, epsilon, weightDecay, &newMaster,
                   &newExpAvg, &newExpAvgSq, &newParam);
}

//===--- Data parallel ---------------------------------------------------===//

template <typename... Tensors>
ivl_status allReduceMean(ivl_context *ctx, void *base, int64_t offset,
                         int64_t bytes, Tensors &...tensors) {
  ivl_tensor list[] = {tensors...};
  ivl_status status =
      ivl_all_reduce_mean(ctx, list, static_cast<int32_t>(sizeof...(tensors)),
                          static_cast<char *>(base) + offset, bytes);
  return status;
}

template <typename... Tensors>
ivl_status reduceScatterMean(ivl_context *ctx, void *base, int64_t offset,
                             int64_t bytes, ivl_tensor &shard,
                             const Tensors &...inputs) {
  const ivl_tensor list[] = {inputs...};
  return ivl_reduce_scatter_mean(
      ctx, list, static_cast<int32_t>(sizeof...(inputs)),
      static_cast<char *>(base) + offset, bytes, &shard);
}

template <typename... Tensors>
ivl_status allGather(ivl_context *ctx, void *base, int64_t offset,
                     int64_t bytes, const ivl_tensor &shard,
                     Tensors &...outputs) {
  ivl_tensor list[] = {outputs...};
  return ivl_all_gather(ctx, &shard, static_cast<char *>(base) + offset,
                        bytes, list, static_cast<int32_t>(sizeof...(outputs)));
}

inline ivl_status commWait(ivl_context *ctx, int32_t newer) {
  return ivl_comm_wait(ctx, newer);
}

template <typename... Tensors>
ivl_status globalNormAcrossRanks(ivl_context *ctx, ivl_tensor &norm,
                                 const Tensors &...grads) {
  const ivl_tensor list[] = {grads...};
  return ivl_global_norm_across_ranks(
      ctx, list, static_cast<int32_t>(sizeof...(grads)), &norm);
}

inline ivl_status shardAdamw(ivl_context *ctx, const ivl_tensor &master,
                             const ivl_tensor &expAvg,
                             const ivl_tensor &expAvgSq,
                             const ivl_tensor &grad,
                             const ivl_tensor &gradScale,
                             const ivl_tensor &step, double lr, double beta1,
                             double beta2, double epsilon, double weightDecay,
                             std::initializer_list<int64_t> segments,
                             std::initializer_list<uint8_t> decay,
                             ivl_tensor &newMaster, ivl_tensor &newExpAvg,
                             ivl_tensor &newExpAvgSq, ivl_tensor &newParam) {
  return ivl_shard_adamw(ctx, &master, &expAvg, &expAvgSq, &grad, &gradScale,
                         &step, lr, beta1, beta2, epsilon, weightDecay,
                         segments.begin(), decay.begin(),
                         static_cast<int32_t>(segments.size()), &newMaster,
                         &newExpAvg, &newExpAvgSq, &newParam);
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_STEPSUPPORT_H
