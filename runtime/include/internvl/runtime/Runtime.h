/*===- Runtime.h - the kernel API of a tg training step -----------*- C -*-===*\
|*                                                                            *|
|* One C API, two implementations: runtime/cpu (used by internvl-run and the  *|
|* compiled CPU step) and runtime/cuda. Tensors are dense row-major views of  *|
|* memory the caller owns; kernels never allocate output memory.              *|
|*                                                                            *|
|* Numerics (the reference semantics of the tg dialect): every kernel reads   *|
|* its inputs as f32, computes in f32 (row reductions such as norms, sums     *|
|* and the loss accumulate in f64 on the CPU) and rounds its outputs to their *|
|* element type with round-to-nearest-even.                                   *|
|*                                                                            *|
|* Every function returns IVL_OK or an error code; ivl_last_error() says what *|
|* went wrong (for example a label outside the vocabulary).                   *|
\*===----------------------------------------------------------------------===*/

#ifndef INTERNVL_RUNTIME_RUNTIME_H
#define INTERNVL_RUNTIME_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ivl_dtype {
  IVL_F32 = 0,
  IVL_BF16 = 1,
  IVL_F16 = 2,
  IVL_I64 = 3,
  IVL_I1 = 4, /* one byte per element */
} ivl_dtype;

#define IVL_MAX_RANK 8

typedef struct ivl_tensor {
  void *data;
  ivl_dtype dtype;
  int32_t rank;
  int64_t shape[IVL_MAX_RANK];
} ivl_tensor;

typedef enum ivl_status {
  IVL_OK = 0,
  IVL_ERROR_INVALID_ARGUMENT = 1, /* shapes or types the kernel cannot take */
  IVL_ERROR_INVALID_INPUT = 2,    /* data out of range (labels, token ids) */
  IVL_ERROR_RUNTIME = 3,          /* the device failed */
} ivl_status;

typedef struct ivl_context ivl_context;

/* Makes device `index` (the launcher's local rank) the one contexts created
   afterwards use; the CPU has one. */
ivl_status ivl_select_device(int32_t index);
ivl_context *ivl_context_create(void);
void ivl_context_destroy(ivl_context *ctx);
/* The message of the last failed call on this context; with NULL, why the
   last ivl_context_create failed. */
const char *ivl_last_error(const ivl_context *ctx);
/* Prefixes the last error with `where` (the op a compiled step ran). */
void ivl_annotate_error(ivl_context *ctx, const char *where);

/* Bytes one element of `dtype` occupies. */
/* "f32", "bf16", "f16", "i64", "i1"; "?" for a value that is no ivl_dtype. */
static inline const char *ivl_dtype_name(ivl_dtype dtype) {
  switch (dtype) {
  case IVL_F32:
    return "f32";
  case IVL_BF16:
    return "bf16";
  case IVL_F16:
    return "f16";
  case IVL_I64:
    return "i64";
  case IVL_I1:
    return "i1";
  }
  return "?";
}

static inline int64_t ivl_dtype_size(ivl_dtype dtype) {
  switch (dtype) {
  case IVL_F32:
    return 4;
  case IVL_BF16:
  case IVL_F16:
    return 2;
  case IVL_I64:
    return 8;
  case IVL_I1:
    return 1;
  }
  return 0;
}

static inline int64_t ivl_numel(const ivl_tensor *t) {
  int64_t n = 1;
  for (int32_t i = 0; i < t->rank; ++i)
    n *= t->shape[i];
  return n;
}

/*===--- Device memory ---------------------------------------------------===*/

/* Memory the kernels can address (host memory on the CPU, device memory on
   a GPU), zero-filled; null on failure. */
void *ivl_device_alloc(ivl_context *ctx, int64_t bytes);
void ivl_device_free(ivl_context *ctx, void *ptr);
ivl_status ivl_copy_to_device(ivl_context *ctx, void *dst, const void *src,
                              int64_t bytes);
ivl_status ivl_copy_to_host(ivl_context *ctx, void *dst, const void *src,
                            int64_t bytes);
/* Waits until every kernel launched on the context has finished. */
ivl_status ivl_synchronize(ivl_context *ctx);
/* The GEMM library's workspace for the rest of the step (planned in the
   arena), and the scratch of the next kernel that needs one (attention
   backward). */
ivl_status ivl_set_workspace(ivl_context *ctx, void *ptr, int64_t bytes);
ivl_status ivl_set_scratch(ivl_context *ctx, void *ptr, int64_t bytes);
/* Bytes of device memory in use now and at most so far: what
   ivl_device_alloc handed out on the CPU; on a GPU, the device's used memory
   (cudaMemGetInfo, so the CUDA context and library handles count too). */
void ivl_device_memory(ivl_context *ctx, int64_t *in_use, int64_t *peak);
/* Bytes the device holds in all: on the CPU, the host memory this process
   may use (physical memory, or the cgroup's limit); on a GPU, the device's
   total memory (cudaMemGetInfo). */
int64_t ivl_device_capacity(ivl_context *ctx);
/* A short description of the device ("cpu", "NVIDIA H100 80GB HBM3"). */
const char *ivl_device_name(ivl_context *ctx);

/*===--- Host offload ----------------------------------------------------===*/

/* Page-locked host memory for offloaded activations (cudaHostAlloc on a
   GPU, so that copies run on the copy engine; aligned host memory on the
   CPU), zero-filled; null on failure. It is not device memory: the
   device's bytes in use do not count it. */
void *ivl_host_alloc(ivl_context *ctx, int64_t bytes);
void ivl_host_free(ivl_context *ctx, void *ptr);
/* The host buffer a compiled step's offloaded activations are planned in
   (its manifest's host_bytes), set before the step runs; the step's host
   views are offsets into it. */
ivl_status ivl_set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes);
/* That buffer and its size (null and 0 when none was set). */
void *ivl_host_buffer(ivl_context *ctx, int64_t *bytes);
/* IVL_OK when that buffer holds at least `bytes` (a step's host_bytes; the
   step checks it before its first op). */
ivl_status ivl_require_host_buffer(ivl_context *ctx, int64_t bytes);
/* tg.offload and tg.prefetch: copy `in` into `out` (the same element type
   and count), device to host and host to device, after the work queued on
   the context so far. They may run, on a copy stream of their own, until
   ivl_copy_wait names them. */
ivl_status ivl_offload(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out);
ivl_status ivl_prefetch(ivl_context *ctx, const ivl_tensor *in,
                        ivl_tensor *out);
/* Later work on the context waits for the copy launched `newer` copies
   before the latest (0: the latest) and those before it, not for the ones
   after it (as ivl_comm_wait does for collectives, from a ring of 64). */
ivl_status ivl_copy_wait(ivl_context *ctx, int32_t newer);

/*===--- Constants and elementwise ---------------------------------------===*/

ivl_status ivl_fill(ivl_context *ctx, ivl_tensor *out, double value);

typedef enum ivl_binary_kind {
  IVL_ADD = 0,
  IVL_SUB = 1,
  IVL_MUL = 2,
  IVL_DIV = 3,
} ivl_binary_kind;

/* out = lhs (op) rhs with numpy broadcasting of both operands. */
ivl_status ivl_binary(ivl_context *ctx, ivl_binary_kind kind,
                      const ivl_tensor *lhs, const ivl_tensor *rhs,
                      ivl_tensor *out);

typedef enum ivl_unary_kind {
  IVL_NEG = 0,
  IVL_SCALE = 1, /* x * param */
  IVL_CAST = 2,  /* to the output's element type */
  IVL_GELU = 3,  /* param: 0 = erf, 1 = tanh approximation */
  IVL_SILU = 4,
} ivl_unary_kind;

ivl_status ivl_unary(ivl_context *ctx, ivl_unary_kind kind,
                     const ivl_tensor *in, double param, ivl_tensor *out);

/* out = grad * d act(x) / dx for IVL_GELU (param as above) or IVL_SILU. */
ivl_status ivl_activation_grad(ivl_context *ctx, ivl_unary_kind kind,
                               const ivl_tensor *grad, const ivl_tensor *x,
                               double param, ivl_tensor *out);

/*===--- Matrix products -------------------------------------------------===*/

/* y[..., N] = x[..., K] . w[N, K]^T (+ b[N]); b may be null. */
ivl_status ivl_linear(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *w, const ivl_tensor *b, ivl_tensor *y);

/* out = op(lhs) . op(rhs), batched over leading dimensions, or with a
   matrix rhs shared by all rows of lhs (tg.matmul semantics). */
ivl_status ivl_matmul(ivl_context *ctx, const ivl_tensor *lhs,
                      const ivl_tensor *rhs, int transpose_lhs,
                      int transpose_rhs, ivl_tensor *out);

/*===--- Data movement ---------------------------------------------------===*/

/* Copies the elements in row-major order (a reshape into a new buffer). */
ivl_status ivl_copy(ivl_context *ctx, const ivl_tensor *in, ivl_tensor *out);
ivl_status ivl_transpose(ivl_context *ctx, const ivl_tensor *in,
                         const int64_t *permutation, ivl_tensor *out);
ivl_status ivl_broadcast(ivl_context *ctx, const ivl_tensor *in,
                         ivl_tensor *out);
ivl_status ivl_concat(ivl_context *ctx, const ivl_tensor *inputs,
                      int32_t count, int32_t dim, ivl_tensor *out);
ivl_status ivl_slice(ivl_context *ctx, const ivl_tensor *in,
                     const int64_t *offsets, ivl_tensor *out);
/* Zero padding with `low[i]` zeros before dimension i (the rest after). */
ivl_status ivl_pad(ivl_context *ctx, const ivl_tensor *in, const int64_t *low,
                   ivl_tensor *out);
/* Sum over `dims` (out has them removed or of size 1). */
ivl_status ivl_reduce_sum(ivl_context *ctx, const ivl_tensor *in,
                          const int64_t *dims, int32_t num_dims,
                          ivl_tensor *out);
/* InternVL's pixel shuffle of [N, W, H, C]; version 1 or 2. */
ivl_status ivl_pixel_shuffle(ivl_context *ctx, const ivl_tensor *in,
                             double scale_factor, int32_t version,
                             ivl_tensor *out);

/*===--- Normalisation ---------------------------------------------------===*/

ivl_status ivl_layer_norm(ivl_context *ctx, const ivl_tensor *x,
                          const ivl_tensor *weight, const ivl_tensor *bias,
                          double epsilon, ivl_tensor *y, ivl_tensor *mean,
                          ivl_tensor *rstd);
ivl_status ivl_layer_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                               const ivl_tensor *x, const ivl_tensor *weight,
                               const ivl_tensor *mean, const ivl_tensor *rstd,
                               ivl_tensor *dx, ivl_tensor *dweight,
                               ivl_tensor *dbias);
ivl_status ivl_rms_norm(ivl_context *ctx, const ivl_tensor *x,
                        const ivl_tensor *weight, double epsilon, ivl_tensor *y,
                        ivl_tensor *rstd);
ivl_status ivl_rms_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                             const ivl_tensor *x, const ivl_tensor *weight,
                             const ivl_tensor *rstd, ivl_tensor *dx,
                             ivl_tensor *dweight);

/*===--- Attention -------------------------------------------------------===*/

/* q [B,S,Hq,D], k [B,Skv,Hkv,D], v [B,Skv,Hkv,Dv] -> o [B,S,Hq,Dv],
   lse [B,Hq,S]; no S x Skv buffer.

   Packed sequences: `cu_seqlens` (null, or i64 [B, N+1] with S == Skv)
   holds each row's sample boundaries as flash_attn_varlen_func's cu_seqlens:
   0 = c[0] <= c[1] <= ... <= c[N] = S, sample k being positions
   [c[k], c[k+1]) (empty samples fill unused capacity). A query attends only
   to keys of its own sample. Boundaries that break these rules are a
   run-time error. */
ivl_status ivl_attention(ivl_context *ctx, const ivl_tensor *q,
                         const ivl_tensor *k, const ivl_tensor *v,
                         const ivl_tensor *cu_seqlens, int32_t causal,
                         double scale, ivl_tensor *o, ivl_tensor *lse);
ivl_status ivl_attention_grad(ivl_context *ctx, const ivl_tensor *dout,
                              const ivl_tensor *q, const ivl_tensor *k,
                              const ivl_tensor *v, const ivl_tensor *o,
                              const ivl_tensor *lse,
                              const ivl_tensor *cu_seqlens, int32_t causal,
                              double scale, ivl_tensor *dq, ivl_tensor *dk,
                              ivl_tensor *dv);

/* Rotary embedding of [B,S,H,D] (rotate-half pairs (i, i + D/2)); position s
   rotates pair i by s * theta^(-2i/D) / freq_factors[i] (factors may be
   null), cos/sin scaled by attention_factor; `inverse` applies the transpose
   (rotates backwards, still scaled: rope's gradient, and its inverse only
   when attention_factor is 1). With `cu_seqlens` (null, or as for
   ivl_attention) the position restarts at 0 at each sample's start. */
ivl_status ivl_rope(ivl_context *ctx, const ivl_tensor *in,
                    const ivl_tensor *cu_seqlens, double theta,
                    const double *freq_factors, double attention_factor,
                    int32_t inverse, ivl_tensor *out);

/*===--- Embeddings and the image scatter --------------------------------===*/

ivl_status ivl_embedding(ivl_context *ctx, const ivl_tensor *table,
                         const ivl_tensor *ids, ivl_tensor *out);
ivl_status ivl_embedding_grad(ivl_context *ctx, const ivl_tensor *grad,
                              const ivl_tensor *ids, ivl_tensor *out);
/* The k-th IMG_CONTEXT position takes the k-th used row of `image`
   [N, H]. `image_flags` (null: every row is used; else i64 [tiles], N a
   multiple of tiles) marks the tiles whose N / tiles rows are used, those
   whose flag is 1 (InternVL's image_flags == 1); gather writes zeros for
   the unused rows. The
   number of IMG_CONTEXT positions must equal the number of used rows. */
ivl_status ivl_scatter_image_embeds(ivl_context *ctx, const ivl_tensor *embeds,
                                    const ivl_tensor *ids,
                                    const ivl_tensor *image,
                                    const ivl_tensor *image_flags,
                                    int64_t token, ivl_tensor *out);
ivl_status ivl_gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                                   const ivl_tensor *ids,
                                   const ivl_tensor *image_flags,
                                   int64_t token, ivl_tensor *out);
ivl_status ivl_mask_image_positions(ivl_context *ctx, const ivl_tensor *grad,
                                    const ivl_tensor *ids, int64_t token,
                                    ivl_tensor *out);

/*===--- Regularisation and loss -----------------------------------------===*/

/* Per-sample keep mask from Philox-4x32-10 (see Philox.h). */
ivl_status ivl_drop_path(ivl_context *ctx, const ivl_tensor *in,
                         const ivl_tensor *step, double rate, int64_t seed,
                         int64_t offset, ivl_tensor *out);
/* Element-wise keep mask from Philox-4x32-10 (ivl::dropoutKeeps). */
ivl_status ivl_dropout(ivl_context *ctx, const ivl_tensor *in,
                       const ivl_tensor *step, double rate, int64_t seed,
                       int64_t offset, ivl_tensor *out);
/* Mean cross-entropy over labelled tokens; with `weights` (null, or f32
   [T]) the weighted sum sum_t w_t * ce_t over labelled tokens instead
   (InternVL's loss_weight; the caller divides by the weights' sum). */
ivl_status ivl_cross_entropy(ivl_context *ctx, const ivl_tensor *logits,
                             const ivl_tensor *labels,
                             const ivl_tensor *weights, int64_t ignore_index,
                             ivl_tensor *loss, ivl_tensor *lse);
ivl_status ivl_cross_entropy_grad(ivl_context *ctx, const ivl_tensor *dloss,
                                  const ivl_tensor *logits,
                                  const ivl_tensor *labels,
                                  const ivl_tensor *lse,
                                  const ivl_tensor *weights,
                                  int64_t ignore_index, ivl_tensor *dlogits);

/* lm_head and the next-token cross-entropy, `chunk` rows of logits at a
   time (tg.linear_cross_entropy): hidden [B, S, H] and weight [V, H] of one
   float type; token (b, t) is scored against labels[b, t + 1] (and
   weights[b, t + 1]), the last token of a row against nothing; the loss as
   ivl_cross_entropy's, lse f32 [B, S]. The CUDA kernels keep the chunk (and
   the grad's f32 sum of dweight) in the scratch the step sets with
   ivl_set_scratch: ivl::chunkedLossWorkspaceBytes. */
ivl_status ivl_linear_cross_entropy(ivl_context *ctx, const ivl_tensor *hidden,
                                    const ivl_tensor *weight,
                                    const ivl_tensor *labels,
                                    const ivl_tensor *weights,
                                    int64_t ignore_index, int64_t chunk,
                                    ivl_tensor *loss, ivl_tensor *lse);
/* Its gradients, each computed when its output is not null. */
ivl_status ivl_linear_cross_entropy_grad(
    ivl_context *ctx, const ivl_tensor *dloss, const ivl_tensor *hidden,
    const ivl_tensor *weight, const ivl_tensor *labels, const ivl_tensor *lse,
    const ivl_tensor *weights, int64_t ignore_index, int64_t chunk,
    ivl_tensor *dhidden, ivl_tensor *dweight);

/*===--- Optimizer -------------------------------------------------------===*/

ivl_status ivl_global_norm(ivl_context *ctx, const ivl_tensor *grads,
                           int32_t count, ivl_tensor *norm);
ivl_status ivl_clip_scale(ivl_context *ctx, const ivl_tensor *norm,
                          double max_norm, ivl_tensor *scale);
ivl_status ivl_adamw(ivl_context *ctx, const ivl_tensor *master,
                     const ivl_tensor *exp_avg, const ivl_tensor *exp_avg_sq,
                     const ivl_tensor *grad, const ivl_tensor *grad_scale,
                     const ivl_tensor *step, double lr, double beta1,
                     double beta2, double epsilon, double weight_decay,
                     ivl_tensor *new_master, ivl_tensor *new_exp_avg,
                     ivl_tensor *new_exp_avg_sq, ivl_tensor *new_param);

/*===--- Data parallel -----------------------------------------------------===*/

/* Joins the context to the data-parallel group of `world_size` ranks as
   `rank`. World size 1 needs nothing. Otherwise the CUDA runtime builds an
   NCCL communicator from `unique_id` (every rank passes the bytes rank 0's
   ivl_comm_unique_id gave, or none when NCCL_COMM_ID names the rendezvous);
   the CPU runtime uses MPI_COMM_WORLD (under mpirun), whose rank and size
   must agree. */
ivl_status ivl_comm_init(ivl_context *ctx, int32_t rank, int32_t world_size,
                         const void *unique_id, int64_t id_bytes);
/* Rank 0's rendezvous bytes for ivl_comm_init (none for MPI). */
ivl_status ivl_comm_unique_id(ivl_context *ctx, void *id, int64_t capacity,
                              int64_t *bytes);
int32_t ivl_comm_rank(const ivl_context *ctx);
int32_t ivl_comm_size(const ivl_context *ctx);

/* The collectives of tg.all_reduce_mean, tg.reduce_scatter_mean and
   tg.all_gather, packed through `buffer` (the op's planned buffer; see
   tg::collectiveBufferBytes). They may run asynchronously until
   ivl_comm_wait. all_reduce_mean writes the means over its tensors. */
ivl_status ivl_all_reduce_mean(ivl_context *ctx, ivl_tensor *tensors,
                               int32_t count, void *buffer,
                               int64_t buffer_bytes);
ivl_status ivl_reduce_scatter_mean(ivl_context *ctx, const ivl_tensor *inputs,
                                   int32_t count, void *buffer,
                                   int64_t buffer_bytes, ivl_tensor *shard);
ivl_status ivl_all_gather(ivl_context *ctx, const ivl_tensor *shard,
                          void *buffer, int64_t buffer_bytes,
                          ivl_tensor *outputs, int32_t count);
/* Later work on the context waits for the collective launched `newer`
   launches before the latest (0: the latest) and those before it, not for
   the ones after it. (The CUDA runtime remembers the last 64 launches and
   waits for the oldest of them when asked for an older one.) */
ivl_status ivl_comm_wait(ivl_context *ctx, int32_t newer);
/* sqrt of the sum of squares of this rank's gradient shards, summed over
   the ranks. */
ivl_status ivl_global_norm_across_ranks(ivl_context *ctx,
                                        const ivl_tensor *grads, int32_t count,
                                        ivl_tensor *norm);
/* AdamW on this rank's shard of a bucket: `segments` (element counts of the
   bucket's parameters) and `decay` (1 where weight decay applies) describe
   the bucket, as tg.shard_adamw does. */
ivl_status ivl_shard_adamw(ivl_context *ctx, const ivl_tensor *master,
                           const ivl_tensor *exp_avg,
                           const ivl_tensor *exp_avg_sq,
                           const ivl_tensor *grad, const ivl_tensor *grad_scale,
                           const ivl_tensor *step, double lr, double beta1,
                           double beta2, double epsilon, double weight_decay,
                           const int64_t *segments, const uint8_t *decay,
                           int32_t num_segments, ivl_tensor *new_master,
                           ivl_tensor *new_exp_avg, ivl_tensor *new_exp_avg_sq,
                           ivl_tensor *new_param);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* INTERNVL_RUNTIME_RUNTIME_H */
