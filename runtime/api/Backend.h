//===- Backend.h - the kernels behind the runtime's C API ------*- C++ -*-===//
//
// Api.cpp defines each kernel entry point of Runtime.h once: it checks the
// arguments, then calls the kernel of the same name here, in ivl::cpu or
// ivl::cuda (IVL_BACKEND, set by the runtime library that compiles it).
// The kernels hold no argument checks; what they still refuse is a limit
// of their backend (CUDA's head width, the per-token scratch).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_API_BACKEND_H
#define INTERNVL_RUNTIME_API_BACKEND_H

#include "internvl/runtime/Runtime.h"

#include <string>

#ifndef IVL_BACKEND
#error "compile the API layer with IVL_BACKEND=cpu or IVL_BACKEND=cuda"
#endif

namespace ivl::IVL_BACKEND {

/// Records a printf-style message on the context and returns `status`.
ivl_status fail(ivl_context *ctx, ivl_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

ivl_status fill(ivl_context *ctx, ivl_tensor *out, double value);
ivl_status binary(ivl_context *ctx, ivl_binary_kind kind, const ivl_tensor *lhs,
                  const ivl_tensor *rhs, ivl_tensor *out);
ivl_status unary(ivl_context *ctx, ivl_unary_kind kind, const ivl_tensor *in,
                 double param, ivl_tensor *out);
ivl_status activation_grad(ivl_context *ctx, ivl_unary_kind kind,
                           const ivl_tensor *grad, const ivl_tensor *x,
                           double param, ivl_tensor *out);
ivl_status linear(ivl_context *ctx, const ivl_tensor *x, const ivl_tensor *w,
                  const ivl_tensor *b, ivl_tensor *y);
ivl_status matmul(ivl_context *ctx, const ivl_tensor *lhs,
                  const ivl_tensor *rhs, int transpose_lhs, int transpose_rhs,
                  ivl_tensor *out);
ivl_status transpose(ivl_context *ctx, const ivl_tensor *in,
                     const int64_t *permutation, ivl_tensor *out);
ivl_status broadcast(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out);
ivl_status concat(ivl_context *ctx, const ivl_tensor *inputs, int32_t count,
                  int32_t dim, ivl_tensor *out);
ivl_status slice(ivl_context *ctx, const ivl_tensor *in, const int64_t *offsets,
                 ivl_tensor *out);
ivl_status pad(ivl_context *ctx, const ivl_tensor *in, const int64_t *low,
               ivl_tensor *out);
ivl_status reduce_sum(ivl_context *ctx, const ivl_tensor *in,
                      const int64_t *dims, int32_t num_dims, ivl_tensor *out);
ivl_status pixel_shuffle(ivl_context *ctx, const ivl_tensor *in,
                         double scale_factor, int32_t version, ivl_tensor *out);
ivl_status layer_norm(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *weight, const ivl_tensor *bias,
                      double epsilon, ivl_tensor *y, ivl_tensor *mean,
                      ivl_tensor *rstd);
ivl_status layer_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                           const ivl_tensor *x, const ivl_tensor *weight,
                           const ivl_tensor *mean, const ivl_tensor *rstd,
                           ivl_tensor *dx, ivl_tensor *dweight,
                           ivl_tensor *dbias);
ivl_status rms_norm(ivl_context *ctx, const ivl_tensor *x,
                    const ivl_tensor *weight, double epsilon, ivl_tensor *y,
                    ivl_tensor *rstd);
ivl_status rms_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                         const ivl_tensor *x, const ivl_tensor *weight,
                         const ivl_tensor *rstd, ivl_tensor *dx,
                         ivl_tensor *dweight);
ivl_status attention(ivl_context *ctx, const ivl_tensor *q, const ivl_tensor *k,
                     const ivl_tensor *v, const ivl_tensor *cu_seqlens,
                     int32_t causal, double scale, ivl_tensor *o,
                     ivl_tensor *lse);
ivl_status attention_grad(ivl_context *ctx, const ivl_tensor *dout,
                          const ivl_tensor *q, const ivl_tensor *k,
                          const ivl_tensor *v, const ivl_tensor *o,
                          const ivl_tensor *lse, const ivl_tensor *cu_seqlens,
                          int32_t causal, double scale, ivl_tensor *dq,
                          ivl_tensor *dk, ivl_tensor *dv);
ivl_status rope(ivl_context *ctx, const ivl_tensor *in,
                const ivl_tensor *cu_seqlens, double theta,
                const double *freq_factors, double attention_factor,
                int32_t inverse, ivl_tensor *out);
ivl_status embedding(ivl_context *ctx, const ivl_tensor *table,
                     const ivl_tensor *ids, ivl_tensor *out);
ivl_status embedding_grad(ivl_context *ctx, const ivl_tensor *grad,
                          const ivl_tensor *ids, ivl_tensor *out);
ivl_status scatter_image_embeds(ivl_context *ctx, const ivl_tensor *embeds,
                                const ivl_tensor *ids, const ivl_tensor *image,
                                const ivl_tensor *image_flags, int64_t token,
                                ivl_tensor *out);
ivl_status gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                               const ivl_tensor *ids,
                               const ivl_tensor *image_flags, int64_t token,
                               ivl_tensor *out);
ivl_status mask_image_positions(ivl_context *ctx, const ivl_tensor *grad,
                                const ivl_tensor *ids, int64_t token,
                                ivl_tensor *out);
ivl_status drop_path(ivl_context *ctx, const ivl_tensor *in,
                     const ivl_tensor *step, double rate, int64_t seed,
                     int64_t offset, ivl_tensor *out);
ivl_status dropout(ivl_context *ctx, const ivl_tensor *in,
                   const ivl_tensor *step, double rate, int64_t seed,
                   int64_t offset, ivl_tensor *out);
ivl_status cross_entropy(ivl_context *ctx, const ivl_tensor *logits,
                         const ivl_tensor *labels, const ivl_tensor *weights,
                         int64_t ignore_index, ivl_tensor *loss,
                         ivl_tensor *lse);
ivl_status cross_entropy_grad(ivl_context *ctx, const ivl_tensor *dloss,
                              const ivl_tensor *logits,
                              const ivl_tensor *labels, const ivl_tensor *lse,
                              const ivl_tensor *weights, int64_t ignore_index,
                              ivl_tensor *dlogits);
ivl_status linear_cross_entropy(ivl_context *ctx, const ivl_tensor *hidden,
                                const ivl_tensor *weight,
                                const ivl_tensor *labels,
                                const ivl_tensor *weights, int64_t ignore_index,
                                int64_t chunk, ivl_tensor *loss,
                                ivl_tensor *lse);
ivl_status linear_cross_entropy_grad(
    ivl_context *ctx, const ivl_tensor *dloss, const ivl_tensor *hidden,
    const ivl_tensor *weight, const ivl_tensor *labels, const ivl_tensor *lse,
    const ivl_tensor *weights, int64_t ignore_index, int64_t chunk,
    ivl_tensor *dhidden, ivl_tensor *dweight);
ivl_status global_norm(ivl_context *ctx, const ivl_tensor *grads, int32_t count,
                       ivl_tensor *norm);
ivl_status global_norm_across_ranks(ivl_context *ctx, const ivl_tensor *grads,
                                    int32_t count, ivl_tensor *norm);
ivl_status clip_scale(ivl_context *ctx, const ivl_tensor *norm, double max_norm,
                      ivl_tensor *scale);
ivl_status adamw(ivl_context *ctx, const ivl_tensor *master,
                 const ivl_tensor *exp_avg, const ivl_tensor *exp_avg_sq,
                 const ivl_tensor *grad, const ivl_tensor *grad_scale,
                 const ivl_tensor *step, double lr, double beta1, double beta2,
                 double epsilon, double weight_decay, ivl_tensor *new_master,
                 ivl_tensor *new_exp_avg, ivl_tensor *new_exp_avg_sq,
                 ivl_tensor *new_param);
ivl_status shard_adamw(ivl_context *ctx, const ivl_tensor *master,
                       const ivl_tensor *exp_avg, const ivl_tensor *exp_avg_sq,
                       const ivl_tensor *grad, const ivl_tensor *grad_scale,
                       const ivl_tensor *step, double lr, double beta1,
                       double beta2, double epsilon, double weight_decay,
                       const int64_t *segments, const uint8_t *decay,
                       int32_t num_segments, ivl_tensor *new_master,
                       ivl_tensor *new_exp_avg, ivl_tensor *new_exp_avg_sq,
                       ivl_tensor *new_param);
ivl_status all_reduce_mean(ivl_context *ctx, ivl_tensor *tensors, int32_t count,
                           void *buffer, int64_t buffer_bytes);
ivl_status reduce_scatter_mean(ivl_context *ctx, const ivl_tensor *inputs,
                               int32_t count, void *buffer,
                               int64_t buffer_bytes, ivl_tensor *shard);
ivl_status all_gather(ivl_context *ctx, const ivl_tensor *shard, void *buffer,
                      int64_t buffer_bytes, ivl_tensor *outputs, int32_t count);
ivl_status comm_wait(ivl_context *ctx, int32_t newer);
ivl_status offload(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out);
ivl_status prefetch(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out);
ivl_status copy_wait(ivl_context *ctx, int32_t newer);
/// Records the step's pinned host buffer (ivl_host_buffer returns it).
ivl_status set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes);

} // namespace ivl::IVL_BACKEND

#endif // INTERNVL_RUNTIME_API_BACKEND_H
