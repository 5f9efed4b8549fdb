//===- Api.cpp - the runtime's kernel entry points, checked once ----------===//
//
// Every kernel of Runtime.h is defined here, once for both runtimes: its
// arguments are checked (each tensor a valid descriptor, then the relations
// between them that the kernel's contract states), and the kernel of the
// backend, ivl::cpu:: or ivl::cuda:: (Backend.h), runs on arguments that
// hold. A failed check is IVL_ERROR_INVALID_ARGUMENT with a message naming
// the kernel, the argument and what was expected.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"

#include "internvl/runtime/CheckedMath.h"
#include "internvl/runtime/KernelShapes.h"
#include "internvl/runtime/Numeric.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace backend = ivl::IVL_BACKEND;

namespace {

bool isFloat(ivl_dtype t) {
  return t == IVL_F32 || t == IVL_BF16 || t == IVL_F16;
}

/// "bf16[2, 16, 32]".
std::string describe(const ivl_tensor &t) {
  std::string s = ivl_dtype_name(t.dtype);
  s += "[";
  for (int32_t i = 0; i < t.rank && i < IVL_MAX_RANK; ++i)
    s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

int64_t numel(const ivl_tensor &t) { return ivl_numel(&t); }

/// An enum argument as the int a C caller may have passed (any value):
/// reading it as the enum first would be undefined for values outside it.
template <typename Enum> int32_t rawValue(const Enum &e) {
  static_assert(sizeof(Enum) == sizeof(int32_t), "the C enums are ints");
  int32_t v;
  std::memcpy(&v, &e, sizeof(v));
  return v;
}
int64_t last(const ivl_tensor &t) { return t.rank ? t.shape[t.rank - 1] : 1; }

/// The checks of one call; the first failure is what the context reports.
class Args {
public:
  Args(ivl_context *ctx, const char *kernel) : ctx(ctx), kernel(kernel) {}

  explicit operator bool() const { return status == IVL_OK; }
  ivl_status result() const { return status; }

  /// A tensor argument: a known element type, rank 0..IVL_MAX_RANK, no
  /// negative size, within the 1 TiB tensor ceiling, data unless empty.
  Args &tensor(const char *what, const ivl_tensor *t) {
    if (!*this)
      return *this;
    if (!t)
      return fail("%s is a null pointer", what);
    int32_t dtype = rawValue(t->dtype);
    if (dtype < IVL_F32 || dtype > IVL_I1)
      return fail("%s has element type %d, which is not an ivl_dtype", what,
                  dtype);
    if (t->rank < 0 || t->rank > IVL_MAX_RANK)
      return fail("%s has rank %d, not in [0, %d]", what, t->rank,
                  IVL_MAX_RANK);
    if (!ivl::fitsTensorCeiling(t->shape, t->rank, ivl_dtype_size(t->dtype)))
      return fail("%s %s has a negative size or exceeds %lld bytes", what,
                  describe(*t).c_str(),
                  static_cast<long long>(ivl::kMaxTensorBytes));
    if (!t->data && numel(*t) > 0)
      return fail("%s %s has no data", what, describe(*t).c_str());
    return *this;
  }
  Args &optional(const char *what, const ivl_tensor *t) {
    return t ? tensor(what, t) : *this;
  }
  Args &floats(const char *what, const ivl_tensor *t) {
    if (!tensor(what, t))
      return *this;
    return that(isFloat(t->dtype), "%s %s is not a float tensor", what,
                describe(*t).c_str());
  }
  Args &f32(const char *what, const ivl_tensor *t) {
    if (!tensor(what, t))
      return *this;
    return that(t->dtype == IVL_F32, "%s %s must be f32", what,
                describe(*t).c_str());
  }
  Args &ids(const char *what, const ivl_tensor *t) {
    if (!tensor(what, t))
      return *this;
    return that(t->dtype == IVL_I64, "%s %s must be i64", what,
                describe(*t).c_str());
  }
  /// `count` tensors from `list`.
  Args &list(const char *what, const ivl_tensor *list, int32_t count) {
    if (!*this)
      return *this;
    if (count < 0)
      return fail("%s: count %d is negative", what, count);
    if (count > 0 && !list)
      return fail("%s is a null pointer", what);
    for (int32_t i = 0; i < count && *this; ++i) {
      std::string name = std::string(what) + "[" + std::to_string(i) + "]";
      floats(name.c_str(), &list[i]);
    }
    return *this;
  }
  /// (These two read tensors already checked: call them once the
  /// tensor checks passed.)
  Args &elements(const char *what, const ivl_tensor *t, int64_t n) {
    if (!*this)
      return *this;
    return that(numel(*t) == n, "%s %s should have %lld elements", what,
                describe(*t).c_str(), static_cast<long long>(n));
  }
  Args &sameType(const char *what, const ivl_tensor *t, const ivl_tensor *of) {
    if (!*this)
      return *this;
    return that(t->dtype == of->dtype,
                "%s %s has another element type than %s", what,
                describe(*t).c_str(), describe(*of).c_str());
  }
  Args &pointer(const char *what, const void *p, bool needed) {
    return that(!needed || p, "%s is a null pointer", what);
  }
  /// A relation the arguments must satisfy.
  Args &that(bool ok, const char *format, ...)
      __attribute__((format(printf, 3, 4))) {
    if (!*this || ok)
      return *this;
    va_list args;
    va_start(args, format);
    vfail(format, args);
    va_end(args);
    return *this;
  }

private:
  Args &fail(const char *format, ...) __attribute__((format(printf, 2, 3))) {
    va_list args;
    va_start(args, format);
    vfail(format, args);
    va_end(args);
    return *this;
  }
  void vfail(const char *format, va_list args) {
    char text[768];
    std::vsnprintf(text, sizeof(text), format, args);
    status = backend::fail(ctx, IVL_ERROR_INVALID_ARGUMENT, "%s: %s", kernel,
                           text);
  }

  ivl_context *ctx;
  const char *kernel;
  ivl_status status = IVL_OK;
};

/// Whether `in` broadcasts to `out` with numpy's rules.
bool broadcastsTo(const ivl_tensor &in, const ivl_tensor &out) {
  if (in.rank > out.rank)
    return false;
  for (int32_t i = 1; i <= in.rank; ++i) {
    int64_t a = in.shape[in.rank - i], b = out.shape[out.rank - i];
    if (a != b && a != 1)
      return false;
  }
  return true;
}

int64_t totalElements(const ivl_tensor *list, int32_t count) {
  int64_t n = 0;
  for (int32_t i = 0; i < count; ++i)
    n += numel(list[i]);
  return n;
}

/// The rows of a [..., d] tensor.
int64_t rowsOf(const ivl_tensor &t) { return last(t) ? numel(t) / last(t) : 0; }

} // namespace

extern "C" {

//===--- Constants and elementwise ---------------------------------------===//

ivl_status ivl_fill(ivl_context *ctx, ivl_tensor *out, double value) {
  Args a(ctx, "fill");
  a.tensor("out", out);
  return a ? backend::fill(ctx, out, value) : a.result();
}

ivl_status ivl_binary(ivl_context *ctx, ivl_binary_kind kind,
                      const ivl_tensor *lhs, const ivl_tensor *rhs,
                      ivl_tensor *out) {
  Args a(ctx, "binary");
  int32_t k = rawValue(kind);
  a.that(k >= IVL_ADD && k <= IVL_DIV, "kind %d is not an ivl_binary_kind", k)
      .floats("lhs", lhs)
      .floats("rhs", rhs)
      .floats("out", out);
  if (a)
    a.that(broadcastsTo(*lhs, *out) && broadcastsTo(*rhs, *out),
           "operands %s and %s do not broadcast to %s", describe(*lhs).c_str(),
           describe(*rhs).c_str(), describe(*out).c_str());
  return a ? backend::binary(ctx, kind, lhs, rhs, out) : a.result();
}

ivl_status ivl_unary(ivl_context *ctx, ivl_unary_kind kind,
                     const ivl_tensor *in, double param, ivl_tensor *out) {
  Args a(ctx, "unary");
  int32_t k = rawValue(kind);
  a.that(k >= IVL_NEG && k <= IVL_SILU, "kind %d is not an ivl_unary_kind", k)
      .floats("in", in)
      .floats("out", out);
  if (a)
    a.elements("out", out, numel(*in));
  return a ? backend::unary(ctx, kind, in, param, out) : a.result();
}

ivl_status ivl_activation_grad(ivl_context *ctx, ivl_unary_kind kind,
                               const ivl_tensor *grad, const ivl_tensor *x,
                               double param, ivl_tensor *out) {
  Args a(ctx, "activation_grad");
  int32_t k = rawValue(kind);
  a.that(k == IVL_GELU || k == IVL_SILU,
         "only gelu and silu have a gradient kernel, got kind %d", k)
      .floats("grad", grad)
      .floats("x", x)
      .floats("out", out);
  if (a)
    a.elements("grad", grad, numel(*x)).elements("out", out, numel(*x));
  return a ? backend::activation_grad(ctx, kind, grad, x, param, out)
           : a.result();
}

//===--- Matrix products -------------------------------------------------===//

ivl_status ivl_linear(ivl_context *ctx, const ivl_tensor *x,
                      const ivl_tensor *w, const ivl_tensor *b, ivl_tensor *y) {
  Args a(ctx, "linear");
  a.floats("input", x).floats("weight", w).optional("bias", b).floats("output",
                                                                      y);
  if (!a)
    return a.result();
  a.that(w->rank == 2 && x->rank >= 1 && last(*x) == w->shape[1],
         "input %s and weight %s do not match", describe(*x).c_str(),
         describe(*w).c_str())
      .sameType("input", x, w)
      .sameType("output", y, w);
  if (b)
    a.sameType("bias", b, w).elements("bias", b, a ? w->shape[0] : 0);
  if (a)
    a.elements("output", y, rowsOf(*x) * w->shape[0]);
  return a ? backend::linear(ctx, x, w, b, y) : a.result();
}

ivl_status ivl_matmul(ivl_context *ctx, const ivl_tensor *lhs,
                      const ivl_tensor *rhs, int transposeLhs, int transposeRhs,
                      ivl_tensor *out) {
  Args a(ctx, "matmul");
  a.floats("lhs", lhs).floats("rhs", rhs).floats("out", out);
  if (!a)
    return a.result();
  ivl::MatmulShape s{};
  a.that(ivl::matmulShape(*lhs, *rhs, transposeLhs, transposeRhs, s),
         "operands %s and %s need rank >= 2", describe(*lhs).c_str(),
         describe(*rhs).c_str())
      .sameType("rhs", rhs, lhs)
      .sameType("out", out, lhs);
  if (!a)
    return a.result();
  a.that(!(s.shared && transposeLhs),
         "a transposed batched lhs with a shared rhs");
  int64_t rk = transposeRhs ? s.rb : s.ra;
  a.that(rk == s.k, "contraction sizes of %s and %s differ",
         describe(*lhs).c_str(), describe(*rhs).c_str());
  a.that(s.shared || numel(*rhs) == s.batch * s.ra * s.rb,
         "batches of %s and %s differ", describe(*lhs).c_str(),
         describe(*rhs).c_str());
  a.elements("out", out, s.batch * s.m * s.n);
  return a ? backend::matmul(ctx, lhs, rhs, transposeLhs, transposeRhs, out)
           : a.result();
}

//===--- Data movement ---------------------------------------------------===//

ivl_status ivl_transpose(ivl_context *ctx, const ivl_tensor *in,
                         const int64_t *permutation, ivl_tensor *out) {
  Args a(ctx, "transpose");
  a.tensor("in", in).tensor("out", out);
  if (!a)
    return a.result();
  a.sameType("out", out, in)
      .that(in->rank == out->rank, "%s and %s differ in rank",
            describe(*in).c_str(), describe(*out).c_str())
      .pointer("permutation", permutation, in->rank > 0);
  if (!a)
    return a.result();
  std::vector<bool> seen(in->rank, false);
  for (int32_t i = 0; i < in->rank && a; ++i) {
    int64_t p = permutation[i];
    a.that(p >= 0 && p < in->rank && !seen[p],
           "permutation entry %d is %lld: not a permutation of %d dimensions",
           i, static_cast<long long>(p), in->rank);
    if (a) {
      seen[p] = true;
      a.that(out->shape[i] == in->shape[p],
             "%s is not %s permuted", describe(*out).c_str(),
             describe(*in).c_str());
    }
  }
  return a ? backend::transpose(ctx, in, permutation, out) : a.result();
}

ivl_status ivl_broadcast(ivl_context *ctx, const ivl_tensor *in,
                         ivl_tensor *out) {
  Args a(ctx, "broadcast");
  a.tensor("in", in).tensor("out", out);
  if (a)
    a.sameType("out", out, in)
        .that(broadcastsTo(*in, *out), "%s does not broadcast to %s",
              describe(*in).c_str(), describe(*out).c_str());
  return a ? backend::broadcast(ctx, in, out) : a.result();
}

ivl_status ivl_concat(ivl_context *ctx, const ivl_tensor *inputs,
                      int32_t count, int32_t dim, ivl_tensor *out) {
  Args a(ctx, "concat");
  a.tensor("out", out);
  if (a)
    a.that(count >= 1, "needs an input, got %d", count)
        .pointer("inputs", inputs, true)
        .that(dim >= 0 && dim < out->rank, "dimension %d of %s", dim,
              describe(*out).c_str());
  int64_t along = 0;
  for (int32_t k = 0; k < count && a; ++k) {
    std::string name = "inputs[" + std::to_string(k) + "]";
    a.tensor(name.c_str(), &inputs[k]);
    if (!a)
      break;
    a.sameType(name.c_str(), &inputs[k], out)
        .that(inputs[k].rank == out->rank, "%s %s has another rank than %s",
              name.c_str(), describe(inputs[k]).c_str(),
              describe(*out).c_str());
    for (int32_t d = 0; d < out->rank && a; ++d)
      a.that(d == dim || inputs[k].shape[d] == out->shape[d],
             "%s %s does not fit %s", name.c_str(),
             describe(inputs[k]).c_str(), describe(*out).c_str());
    if (a)
      along += inputs[k].shape[dim];
  }
  if (a)
    a.that(along == out->shape[dim],
           "the inputs are %lld long in dimension %d, %s is %lld",
           static_cast<long long>(along), dim, describe(*out).c_str(),
           static_cast<long long>(out->shape[dim]));
  return a ? backend::concat(ctx, inputs, count, dim, out) : a.result();
}

ivl_status ivl_slice(ivl_context *ctx, const ivl_tensor *in,
                     const int64_t *offsets, ivl_tensor *out) {
  Args a(ctx, "slice");
  a.tensor("in", in).tensor("out", out);
  if (a)
    a.sameType("out", out, in)
        .that(in->rank == out->rank, "%s and %s differ in rank",
              describe(*in).c_str(), describe(*out).c_str())
        .pointer("offsets", offsets, in->rank > 0);
  for (int32_t d = 0; d < (a ? in->rank : 0) && a; ++d)
    a.that(offsets[d] >= 0 && offsets[d] <= in->shape[d] - out->shape[d],
           "%s at offset %lld in dimension %d leaves %s", describe(*out).c_str(),
           static_cast<long long>(offsets[d]), d, describe(*in).c_str());
  return a ? backend::slice(ctx, in, offsets, out) : a.result();
}

ivl_status ivl_pad(ivl_context *ctx, const ivl_tensor *in, const int64_t *low,
                   ivl_tensor *out) {
  Args a(ctx, "pad");
  a.tensor("in", in).tensor("out", out);
  if (a)
    a.sameType("out", out, in)
        .that(in->rank == out->rank, "%s and %s differ in rank",
              describe(*in).c_str(), describe(*out).c_str())
        .pointer("low", low, in->rank > 0);
  for (int32_t d = 0; d < (a ? in->rank : 0) && a; ++d)
    a.that(low[d] >= 0 && low[d] <= out->shape[d] - in->shape[d],
           "%s after %lld zeros in dimension %d does not fit %s",
           describe(*in).c_str(), static_cast<long long>(low[d]), d,
           describe(*out).c_str());
  return a ? backend::pad(ctx, in, low, out) : a.result();
}

ivl_status ivl_reduce_sum(ivl_context *ctx, const ivl_tensor *in,
                          const int64_t *dims, int32_t numDims,
                          ivl_tensor *out) {
  Args a(ctx, "reduce_sum");
  a.floats("in", in).floats("out", out);
  if (a)
    a.that(numDims >= 0 && numDims <= in->rank,
           "%d dimensions of %s", numDims, describe(*in).c_str())
        .pointer("dims", dims, numDims > 0);
  int64_t kept = a ? numel(*in) : 0;
  std::vector<bool> reduced(a ? in->rank : 0, false);
  for (int32_t i = 0; i < numDims && a; ++i) {
    a.that(dims[i] >= 0 && dims[i] < in->rank && !reduced[dims[i]],
           "dimension %lld of %s", static_cast<long long>(dims[i]),
           describe(*in).c_str());
    if (a) {
      reduced[dims[i]] = true;
      kept = in->shape[dims[i]] ? kept / in->shape[dims[i]] : 0;
    }
  }
  if (a && kept != 0)
    a.elements("out", out, kept);
  return a ? backend::reduce_sum(ctx, in, dims, numDims, out) : a.result();
}

ivl_status ivl_pixel_shuffle(ivl_context *ctx, const ivl_tensor *in,
                             double scale, int32_t version, ivl_tensor *out) {
  Args a(ctx, "pixel_shuffle");
  a.tensor("in", in).tensor("out", out);
  if (a)
    a.that(in->rank == 4, "expected [N, W, H, C], got %s",
           describe(*in).c_str())
        .that(version == 1 || version == 2, "version %d is not 1 or 2",
              version)
        .that(scale > 0, "scale factor %g is not positive", scale)
        .sameType("out", out, in)
        .elements("out", out, numel(*in));
  return a ? backend::pixel_shuffle(ctx, in, scale, version, out)
           : a.result();
}

//===--- Normalisation ---------------------------------------------------===//

namespace {
/// The row statistics and the [..., d] operands of a norm.
void checkNormRows(Args &a, const ivl_tensor *x, const ivl_tensor *weight) {
  if (!a)
    return;
  a.that(x->rank >= 1 && last(*x) > 0, "%s has rows of width 0",
         describe(*x).c_str())
      .elements("weight", weight, last(*x));
}
} // namespace

ivl_status ivl_layer_norm(ivl_context *ctx, const ivl_tensor *x,
                          const ivl_tensor *weight, const ivl_tensor *bias,
                          double epsilon, ivl_tensor *y, ivl_tensor *mean,
                          ivl_tensor *rstd) {
  Args a(ctx, "layer_norm");
  a.floats("input", x).floats("weight", weight).floats("bias", bias)
      .floats("output", y).f32("mean", mean).f32("rstd", rstd);
  checkNormRows(a, x, weight);
  if (a)
    a.elements("bias", bias, last(*x))
        .elements("output", y, numel(*x))
        .elements("mean", mean, rowsOf(*x))
        .elements("rstd", rstd, rowsOf(*x));
  return a ? backend::layer_norm(ctx, x, weight, bias, epsilon, y, mean, rstd)
           : a.result();
}

ivl_status ivl_layer_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                               const ivl_tensor *x, const ivl_tensor *weight,
                               const ivl_tensor *mean, const ivl_tensor *rstd,
                               ivl_tensor *dx, ivl_tensor *dweight,
                               ivl_tensor *dbias) {
  Args a(ctx, "layer_norm_grad");
  a.floats("grad", dy).floats("input", x).floats("weight", weight)
      .f32("mean", mean).f32("rstd", rstd).floats("dx", dx)
      .floats("dweight", dweight).floats("dbias", dbias);
  checkNormRows(a, x, weight);
  if (a)
    a.elements("grad", dy, numel(*x))
        .elements("mean", mean, rowsOf(*x))
        .elements("rstd", rstd, rowsOf(*x))
        .elements("dx", dx, numel(*x))
        .elements("dweight", dweight, last(*x))
        .elements("dbias", dbias, last(*x));
  return a ? backend::layer_norm_grad(ctx, dy, x, weight, mean, rstd, dx,
                                      dweight, dbias)
           : a.result();
}

ivl_status ivl_rms_norm(ivl_context *ctx, const ivl_tensor *x,
                        const ivl_tensor *weight, double epsilon, ivl_tensor *y,
                        ivl_tensor *rstd) {
  Args a(ctx, "rms_norm");
  a.floats("input", x).floats("weight", weight).floats("output", y)
      .f32("rstd", rstd);
  checkNormRows(a, x, weight);
  if (a)
    a.elements("output", y, numel(*x)).elements("rstd", rstd, rowsOf(*x));
  return a ? backend::rms_norm(ctx, x, weight, epsilon, y, rstd) : a.result();
}

ivl_status ivl_rms_norm_grad(ivl_context *ctx, const ivl_tensor *dy,
                             const ivl_tensor *x, const ivl_tensor *weight,
                             const ivl_tensor *rstd, ivl_tensor *dx,
                             ivl_tensor *dweight) {
  Args a(ctx, "rms_norm_grad");
  a.floats("grad", dy).floats("input", x).floats("weight", weight)
      .f32("rstd", rstd).floats("dx", dx).floats("dweight", dweight);
  checkNormRows(a, x, weight);
  if (a)
    a.elements("grad", dy, numel(*x))
        .elements("rstd", rstd, rowsOf(*x))
        .elements("dx", dx, numel(*x))
        .elements("dweight", dweight, last(*x));
  return a ? backend::rms_norm_grad(ctx, dy, x, weight, rstd, dx, dweight)
           : a.result();
}

//===--- Attention -------------------------------------------------------===//

namespace {
/// q [B,S,Hq,D], k [B,Skv,Hkv,D], v [B,Skv,Hkv,Dv] and the shapes of the
/// tensors that go with them.
void checkAttention(Args &a, const ivl_tensor *q, const ivl_tensor *k,
                    const ivl_tensor *v, ivl::AttentionShape &s) {
  a.floats("q", q).floats("k", k).floats("v", v);
  if (!a)
    return;
  a.that(ivl::attentionShape(*q, *k, *v, s),
         "expected rank-4 q, k, v whose query heads group onto the key "
         "heads, got %s, %s, %s",
         describe(*q).c_str(), describe(*k).c_str(), describe(*v).c_str());
  if (!a)
    return;
  a.that(k->shape[0] == s.b && v->shape[0] == s.b && k->shape[3] == s.d &&
             v->shape[1] == s.skv && v->shape[2] == s.hkv,
         "q %s, k %s and v %s do not match", describe(*q).c_str(),
         describe(*k).c_str(), describe(*v).c_str());
}

/// Packed-sequence boundaries: null, or i64 [B, N+1] (N >= 1) for a
/// sequence of S positions (their values are checked where they are read).
void checkSampleBounds(Args &a, const ivl_tensor *cu, int64_t b) {
  if (!cu || !a.ids("cu_seqlens", cu))
    return;
  a.that(cu->rank == 2 && cu->shape[0] == b && cu->shape[1] >= 2,
         "expected cu_seqlens of shape [%lld, N+1] with N >= 1, got %s",
         static_cast<long long>(b), describe(*cu).c_str());
}

/// The causal mask and packed rows pair query i with key i: both need as
/// many keys as queries.
void checkMask(Args &a, const ivl::AttentionShape &s, int32_t causal,
               const ivl_tensor *cu) {
  if (a && (causal || cu))
    a.that(s.s == s.skv,
           "causal or packed attention needs as many keys as queries, got "
           "S = %lld and Skv = %lld",
           static_cast<long long>(s.s), static_cast<long long>(s.skv));
  checkSampleBounds(a, cu, s.b);
}

/// InternVL's image_flags: null, or i64 [tiles] whose tiles split the
/// `rows` image embeddings evenly.
void checkImageFlags(Args &a, const ivl_tensor *flags, int64_t rows) {
  if (!flags || !a.ids("image_flags", flags))
    return;
  a.that(flags->rank == 1 && flags->shape[0] > 0 &&
             rows % flags->shape[0] == 0,
         "image_flags %s does not split %lld image rows into equal tiles",
         describe(*flags).c_str(), static_cast<long long>(rows));
}

/// Loss weights: null, or f32 with one weight per token.
void checkLossWeights(Args &a, const ivl_tensor *weights, int64_t tokens) {
  if (weights && a.f32("weights", weights))
    a.elements("weights", weights, tokens);
}
} // namespace

ivl_status ivl_attention(ivl_context *ctx, const ivl_tensor *q,
                         const ivl_tensor *k, const ivl_tensor *v,
                         const ivl_tensor *cu_seqlens, int32_t causal,
                         double scale, ivl_tensor *o, ivl_tensor *lse) {
  Args a(ctx, "attention");
  ivl::AttentionShape s{};
  checkAttention(a, q, k, v, s);
  a.floats("output", o).f32("logsumexp", lse);
  if (a)
    a.elements("output", o, s.b * s.s * s.hq * s.dv)
        .elements("logsumexp", lse, s.b * s.hq * s.s);
  checkMask(a, s, causal, cu_seqlens);
  return a ? backend::attention(ctx, q, k, v, cu_seqlens, causal, scale, o,
                                lse)
           : a.result();
}

ivl_status ivl_attention_grad(ivl_context *ctx, const ivl_tensor *dout,
                              const ivl_tensor *q, const ivl_tensor *k,
                              const ivl_tensor *v, const ivl_tensor *o,
                              const ivl_tensor *lse,
                              const ivl_tensor *cu_seqlens, int32_t causal,
                              double scale, ivl_tensor *dq, ivl_tensor *dk,
                              ivl_tensor *dv) {
  Args a(ctx, "attention_grad");
  ivl::AttentionShape s{};
  checkAttention(a, q, k, v, s);
  a.floats("grad", dout).floats("output", o).f32("logsumexp", lse)
      .floats("dq", dq).floats("dk", dk).floats("dv", dv);
  if (a)
    a.elements("grad", dout, s.b * s.s * s.hq * s.dv)
        .elements("output", o, s.b * s.s * s.hq * s.dv)
        .elements("logsumexp", lse, s.b * s.hq * s.s)
        .elements("dq", dq, numel(*q))
        .elements("dk", dk, numel(*k))
        .elements("dv", dv, numel(*v));
  checkMask(a, s, causal, cu_seqlens);
  return a ? backend::attention_grad(ctx, dout, q, k, v, o, lse, cu_seqlens,
                                     causal, scale, dq, dk, dv)
           : a.result();
}

ivl_status ivl_rope(ivl_context *ctx, const ivl_tensor *in,
                    const ivl_tensor *cu_seqlens, double theta,
                    const double *freqFactors, double attentionFactor,
                    int32_t inverse, ivl_tensor *out) {
  Args a(ctx, "rope");
  a.floats("in", in).floats("out", out);
  if (a)
    a.that(in->rank == 4 && in->shape[3] % 2 == 0,
           "expected [B, S, H, D] with even D, got %s", describe(*in).c_str())
        .elements("out", out, numel(*in));
  if (a)
    checkSampleBounds(a, cu_seqlens, in->shape[0]);
  return a ? backend::rope(ctx, in, cu_seqlens, theta, freqFactors,
                           attentionFactor, inverse, out)
           : a.result();
}

//===--- Embeddings and the image scatter --------------------------------===//

ivl_status ivl_embedding(ivl_context *ctx, const ivl_tensor *table,
                         const ivl_tensor *ids, ivl_tensor *out) {
  Args a(ctx, "embedding");
  a.floats("table", table).ids("ids", ids).floats("out", out);
  if (a)
    a.that(table->rank == 2, "table %s is not [vocab, width]",
           describe(*table).c_str())
        .sameType("out", out, table);
  if (a)
    a.elements("out", out, numel(*ids) * table->shape[1]);
  return a ? backend::embedding(ctx, table, ids, out) : a.result();
}

ivl_status ivl_embedding_grad(ivl_context *ctx, const ivl_tensor *grad,
                              const ivl_tensor *ids, ivl_tensor *out) {
  Args a(ctx, "embedding_grad");
  a.floats("grad", grad).ids("ids", ids).floats("out", out);
  if (a)
    a.that(out->rank == 2, "out %s is not [vocab, width]",
           describe(*out).c_str());
  if (a)
    a.elements("grad", grad, numel(*ids) * out->shape[1]);
  return a ? backend::embedding_grad(ctx, grad, ids, out) : a.result();
}

ivl_status ivl_scatter_image_embeds(ivl_context *ctx, const ivl_tensor *embeds,
                                    const ivl_tensor *ids,
                                    const ivl_tensor *image,
                                    const ivl_tensor *image_flags,
                                    int64_t token, ivl_tensor *out) {
  Args a(ctx, "scatter_image_embeds");
  a.floats("embeds", embeds).ids("ids", ids).floats("image", image)
      .floats("out", out);
  if (a)
    a.that(image->rank == 2 && last(*embeds) == image->shape[1],
           "image embeddings %s do not fit %s", describe(*image).c_str(),
           describe(*embeds).c_str())
        .elements("ids", ids, rowsOf(*embeds))
        .elements("out", out, numel(*embeds));
  if (a)
    checkImageFlags(a, image_flags, image->shape[0]);
  return a ? backend::scatter_image_embeds(ctx, embeds, ids, image,
                                           image_flags, token, out)
           : a.result();
}

ivl_status ivl_gather_image_embeds(ivl_context *ctx, const ivl_tensor *grad,
                                   const ivl_tensor *ids,
                                   const ivl_tensor *image_flags,
                                   int64_t token, ivl_tensor *out) {
  Args a(ctx, "gather_image_embeds");
  a.floats("grad", grad).ids("ids", ids).floats("out", out);
  if (a)
    a.that(out->rank == 2 && out->shape[1] == last(*grad),
           "out %s does not fit %s", describe(*out).c_str(),
           describe(*grad).c_str())
        .elements("ids", ids, rowsOf(*grad));
  if (a)
    checkImageFlags(a, image_flags, out->shape[0]);
  return a ? backend::gather_image_embeds(ctx, grad, ids, image_flags, token,
                                          out)
           : a.result();
}

ivl_status ivl_mask_image_positions(ivl_context *ctx, const ivl_tensor *grad,
                                    const ivl_tensor *ids, int64_t token,
                                    ivl_tensor *out) {
  Args a(ctx, "mask_image_positions");
  a.floats("grad", grad).ids("ids", ids).floats("out", out);
  if (a)
    a.elements("ids", ids, rowsOf(*grad)).elements("out", out, numel(*grad));
  return a ? backend::mask_image_positions(ctx, grad, ids, token, out)
           : a.result();
}

//===--- Regularisation and loss -----------------------------------------===//

ivl_status ivl_drop_path(ivl_context *ctx, const ivl_tensor *in,
                         const ivl_tensor *step, double rate, int64_t seed,
                         int64_t offset, ivl_tensor *out) {
  Args a(ctx, "drop_path");
  a.floats("in", in).ids("step", step).floats("out", out);
  if (a)
    a.that(in->rank >= 1, "input needs a batch dimension, got %s",
           describe(*in).c_str())
        .elements("step", step, 1)
        .that(rate >= 0 && rate < 1, "rate %g is not in [0, 1)", rate)
        .elements("out", out, numel(*in));
  return a ? backend::drop_path(ctx, in, step, rate, seed, offset, out)
           : a.result();
}

ivl_status ivl_dropout(ivl_context *ctx, const ivl_tensor *in,
                       const ivl_tensor *step, double rate, int64_t seed,
                       int64_t offset, ivl_tensor *out) {
  Args a(ctx, "dropout");
  a.floats("in", in).ids("step", step).floats("out", out);
  if (a)
    a.elements("step", step, 1)
        .that(rate >= 0 && rate < 1, "rate %g is not in [0, 1)", rate)
        .that(offset >= 0 && offset < ivl::kMaxDropoutOffset,
              "offset %lld is not in [0, 2^24)",
              static_cast<long long>(offset))
        .elements("out", out, numel(*in));
  return a ? backend::dropout(ctx, in, step, rate, seed, offset, out)
           : a.result();
}

ivl_status ivl_cross_entropy(ivl_context *ctx, const ivl_tensor *logits,
                             const ivl_tensor *labels,
                             const ivl_tensor *weights, int64_t ignore,
                             ivl_tensor *loss, ivl_tensor *lse) {
  Args a(ctx, "cross_entropy");
  a.floats("logits", logits).ids("labels", labels).f32("loss", loss)
      .f32("logsumexp", lse);
  if (a)
    a.that(logits->rank == 2, "expected [tokens, vocab] logits, got %s",
           describe(*logits).c_str());
  if (a)
    a.elements("labels", labels, logits->shape[0])
        .elements("loss", loss, 1)
        .elements("logsumexp", lse, logits->shape[0]);
  if (a)
    checkLossWeights(a, weights, logits->shape[0]);
  return a ? backend::cross_entropy(ctx, logits, labels, weights, ignore, loss,
                                    lse)
           : a.result();
}

ivl_status ivl_cross_entropy_grad(ivl_context *ctx, const ivl_tensor *dloss,
                                  const ivl_tensor *logits,
                                  const ivl_tensor *labels,
                                  const ivl_tensor *lse,
                                  const ivl_tensor *weights, int64_t ignore,
                                  ivl_tensor *dlogits) {
  Args a(ctx, "cross_entropy_grad");
  a.floats("grad", dloss).floats("logits", logits).ids("labels", labels)
      .f32("logsumexp", lse).floats("dlogits", dlogits);
  if (a)
    a.that(logits->rank == 2, "expected [tokens, vocab] logits, got %s",
           describe(*logits).c_str());
  if (a)
    a.elements("grad", dloss, 1)
        .elements("labels", labels, logits->shape[0])
        .elements("logsumexp", lse, logits->shape[0])
        .elements("dlogits", dlogits, numel(*logits));
  if (a)
    checkLossWeights(a, weights, logits->shape[0]);
  return a ? backend::cross_entropy_grad(ctx, dloss, logits, labels, lse,
                                         weights, ignore, dlogits)
           : a.result();
}

namespace {
/// The operands both chunked-loss kernels share.
void checkLinearCrossEntropy(Args &a, const ivl_tensor *hidden,
                             const ivl_tensor *weight, const ivl_tensor *labels,
                             const ivl_tensor *weights, const ivl_tensor *lse,
                             int64_t chunk) {
  a.floats("hidden", hidden).floats("weight", weight).ids("labels", labels)
      .f32("logsumexp", lse).optional("weights", weights);
  if (!a)
    return;
  a.that(hidden->rank == 3, "expected [B, S, H] hidden states, got %s",
         describe(*hidden).c_str())
      .that(weight->rank == 2 && weight->shape[1] == last(*hidden),
            "hidden %s and weight %s do not match", describe(*hidden).c_str(),
            describe(*weight).c_str())
      .sameType("weight", weight, hidden);
  if (!a)
    return;
  int64_t tokens = hidden->shape[0] * hidden->shape[1];
  a.elements("labels", labels, tokens).elements("logsumexp", lse, tokens);
  if (a)
    checkLossWeights(a, weights, tokens);
  a.that(chunk >= 1 && chunk <= std::max<int64_t>(tokens, 1),
         "chunk %lld is not in [1, %lld] (the B*S tokens)",
         static_cast<long long>(chunk),
         static_cast<long long>(std::max<int64_t>(tokens, 1)));
}
} // namespace

ivl_status ivl_linear_cross_entropy(ivl_context *ctx, const ivl_tensor *hidden,
                                    const ivl_tensor *weight,
                                    const ivl_tensor *labels,
                                    const ivl_tensor *weights, int64_t ignore,
                                    int64_t chunk, ivl_tensor *loss,
                                    ivl_tensor *lse) {
  Args a(ctx, "linear_cross_entropy");
  checkLinearCrossEntropy(a, hidden, weight, labels, weights, lse, chunk);
  a.f32("loss", loss);
  if (a)
    a.elements("loss", loss, 1);
  return a ? backend::linear_cross_entropy(ctx, hidden, weight, labels,
                                           weights, ignore, chunk, loss, lse)
           : a.result();
}

ivl_status ivl_linear_cross_entropy_grad(
    ivl_context *ctx, const ivl_tensor *dloss, const ivl_tensor *hidden,
    const ivl_tensor *weight, const ivl_tensor *labels, const ivl_tensor *lse,
    const ivl_tensor *weights, int64_t ignore, int64_t chunk,
    ivl_tensor *dhidden, ivl_tensor *dweight) {
  Args a(ctx, "linear_cross_entropy_grad");
  a.floats("grad", dloss);
  checkLinearCrossEntropy(a, hidden, weight, labels, weights, lse, chunk);
  a.optional("dhidden", dhidden).optional("dweight", dweight);
  if (a)
    a.elements("grad", dloss, 1);
  if (a && dhidden)
    a.sameType("dhidden", dhidden, hidden)
        .elements("dhidden", dhidden, numel(*hidden));
  if (a && dweight)
    a.sameType("dweight", dweight, weight)
        .elements("dweight", dweight, numel(*weight));
  return a ? backend::linear_cross_entropy_grad(ctx, dloss, hidden, weight,
                                                labels, lse, weights, ignore,
                                                chunk, dhidden, dweight)
           : a.result();
}

//===--- Optimizer -------------------------------------------------------===//

ivl_status ivl_global_norm(ivl_context *ctx, const ivl_tensor *grads,
                           int32_t count, ivl_tensor *norm) {
  Args a(ctx, "global_norm");
  a.list("grads", grads, count).f32("norm", norm);
  if (a)
    a.elements("norm", norm, 1);
  return a ? backend::global_norm(ctx, grads, count, norm) : a.result();
}

ivl_status ivl_global_norm_across_ranks(ivl_context *ctx,
                                        const ivl_tensor *grads, int32_t count,
                                        ivl_tensor *norm) {
  Args a(ctx, "global_norm_across_ranks");
  a.list("grads", grads, count).f32("norm", norm);
  if (a)
    a.elements("norm", norm, 1);
  return a ? backend::global_norm_across_ranks(ctx, grads, count, norm)
           : a.result();
}

ivl_status ivl_clip_scale(ivl_context *ctx, const ivl_tensor *norm,
                          double maxNorm, ivl_tensor *scale) {
  Args a(ctx, "clip_scale");
  a.f32("norm", norm).f32("scale", scale);
  if (a)
    a.elements("norm", norm, 1).elements("scale", scale, 1);
  return a ? backend::clip_scale(ctx, norm, maxNorm, scale) : a.result();
}

namespace {
/// The tensors of an AdamW update: f32 state of one size, the gradient and
/// the new parameter of that size, the scalar clip factor and step.
void checkAdamW(Args &a, const ivl_tensor *master, const ivl_tensor *expAvg,
                const ivl_tensor *expAvgSq, const ivl_tensor *grad,
                const ivl_tensor *gradScale, const ivl_tensor *step,
                ivl_tensor *newMaster, ivl_tensor *newExpAvg,
                ivl_tensor *newExpAvgSq, ivl_tensor *newParam) {
  a.f32("master", master).f32("exp_avg", expAvg).f32("exp_avg_sq", expAvgSq)
      .floats("grad", grad).f32("grad_scale", gradScale).ids("step", step)
      .f32("new_master", newMaster).f32("new_exp_avg", newExpAvg)
      .f32("new_exp_avg_sq", newExpAvgSq).floats("new_param", newParam);
  if (!a)
    return;
  int64_t n = numel(*master);
  a.elements("exp_avg", expAvg, n)
      .elements("exp_avg_sq", expAvgSq, n)
      .elements("grad", grad, n)
      .elements("grad_scale", gradScale, 1)
      .elements("step", step, 1)
      .elements("new_master", newMaster, n)
      .elements("new_exp_avg", newExpAvg, n)
      .elements("new_exp_avg_sq", newExpAvgSq, n)
      .elements("new_param", newParam, n);
}
} // namespace

ivl_status ivl_adamw(ivl_context *ctx, const ivl_tensor *master,
                     const ivl_tensor *expAvg, const ivl_tensor *expAvgSq,
                     const ivl_tensor *grad, const ivl_tensor *gradScale,
                     const ivl_tensor *step, double lr, double beta1,
                     double beta2, double epsilon, double weightDecay,
                     ivl_tensor *newMaster, ivl_tensor *newExpAvg,
                     ivl_tensor *newExpAvgSq, ivl_tensor *newParam) {
  Args a(ctx, "adamw");
  checkAdamW(a, master, expAvg, expAvgSq, grad, gradScale, step, newMaster,
             newExpAvg, newExpAvgSq, newParam);
  return a ? backend::adamw(ctx, master, expAvg, expAvgSq, grad, gradScale,
                            step, lr, beta1, beta2, epsilon, weightDecay,
                            newMaster, newExpAvg, newExpAvgSq, newParam)
           : a.result();
}

ivl_status ivl_shard_adamw(ivl_context *ctx, const ivl_tensor *master,
                           const ivl_tensor *expAvg,
                           const ivl_tensor *expAvgSq, const ivl_tensor *grad,
                           const ivl_tensor *gradScale, const ivl_tensor *step,
                           double lr, double beta1, double beta2,
                           double epsilon, double weightDecay,
                           const int64_t *segments, const uint8_t *decay,
                           int32_t numSegments, ivl_tensor *newMaster,
                           ivl_tensor *newExpAvg, ivl_tensor *newExpAvgSq,
                           ivl_tensor *newParam) {
  Args a(ctx, "shard_adamw");
  checkAdamW(a, master, expAvg, expAvgSq, grad, gradScale, step, newMaster,
             newExpAvg, newExpAvgSq, newParam);
  a.that(numSegments >= 0, "%d segments", numSegments)
      .pointer("segments", segments, numSegments > 0)
      .pointer("decay", decay, numSegments > 0);
  for (int32_t k = 0; k < numSegments && a; ++k)
    a.that(segments[k] >= 0, "segment %d has %lld elements", k,
           static_cast<long long>(segments[k]));
  return a ? backend::shard_adamw(ctx, master, expAvg, expAvgSq, grad,
                                  gradScale, step, lr, beta1, beta2, epsilon,
                                  weightDecay, segments, decay, numSegments,
                                  newMaster, newExpAvg, newExpAvgSq, newParam)
           : a.result();
}

//===--- Data parallel ---------------------------------------------------===//

ivl_status ivl_all_reduce_mean(ivl_context *ctx, ivl_tensor *tensors,
                               int32_t count, void *buffer,
                               int64_t bufferBytes) {
  Args a(ctx, "all_reduce_mean");
  a.list("tensors", tensors, count)
      .that(bufferBytes >= 0, "buffer of %lld bytes",
            static_cast<long long>(bufferBytes))
      .pointer("buffer", buffer, bufferBytes > 0);
  return a ? backend::all_reduce_mean(ctx, tensors, count, buffer, bufferBytes)
           : a.result();
}

ivl_status ivl_reduce_scatter_mean(ivl_context *ctx, const ivl_tensor *inputs,
                                   int32_t count, void *buffer,
                                   int64_t bufferBytes, ivl_tensor *shard) {
  Args a(ctx, "reduce_scatter_mean");
  a.list("inputs", inputs, count)
      .floats("shard", shard)
      .that(bufferBytes >= 0, "buffer of %lld bytes",
            static_cast<long long>(bufferBytes))
      .pointer("buffer", buffer, bufferBytes > 0);
  if (a) {
    int64_t ranks = ivl_comm_size(ctx), total = totalElements(inputs, count);
    a.that(total <= ranks * numel(*shard),
           "%lld elements do not fit %lld ranks' shards of %lld",
           static_cast<long long>(total), static_cast<long long>(ranks),
           static_cast<long long>(numel(*shard)));
  }
  return a ? backend::reduce_scatter_mean(ctx, inputs, count, buffer,
                                          bufferBytes, shard)
           : a.result();
}

ivl_status ivl_all_gather(ivl_context *ctx, const ivl_tensor *shard,
                          void *buffer, int64_t bufferBytes,
                          ivl_tensor *outputs, int32_t count) {
  Args a(ctx, "all_gather");
  a.floats("shard", shard)
      .list("outputs", outputs, count)
      .that(bufferBytes >= 0, "buffer of %lld bytes",
            static_cast<long long>(bufferBytes))
      .pointer("buffer", buffer, bufferBytes > 0);
  for (int32_t k = 0; k < count && a; ++k)
    a.sameType("outputs", &outputs[k], shard);
  if (a) {
    int64_t ranks = ivl_comm_size(ctx), total = totalElements(outputs, count);
    a.that(total <= ranks * numel(*shard),
           "%lld elements are more than %lld ranks' shards of %lld",
           static_cast<long long>(total), static_cast<long long>(ranks),
           static_cast<long long>(numel(*shard)));
  }
  return a ? backend::all_gather(ctx, shard, buffer, bufferBytes, outputs,
                                 count)
           : a.result();
}

ivl_status ivl_comm_wait(ivl_context *ctx, int32_t newer) {
  Args a(ctx, "comm_wait");
  a.that(newer >= 0, "%d launches before the last", newer);
  return a ? backend::comm_wait(ctx, newer) : a.result();
}

/// tg.offload / tg.prefetch: a copy of the same elements into the other
/// memory.
static Args &checkCopy(Args &a, const ivl_tensor *in, const ivl_tensor *out) {
  a.tensor("in", in).tensor("out", out);
  if (a)
    a.sameType("out", out, in).elements("out", out, numel(*in));
  return a;
}

ivl_status ivl_offload(ivl_context *ctx, const ivl_tensor *in,
                       ivl_tensor *out) {
  Args a(ctx, "offload");
  return checkCopy(a, in, out) ? backend::offload(ctx, in, out) : a.result();
}

ivl_status ivl_prefetch(ivl_context *ctx, const ivl_tensor *in,
                        ivl_tensor *out) {
  Args a(ctx, "prefetch");
  return checkCopy(a, in, out) ? backend::prefetch(ctx, in, out) : a.result();
}

ivl_status ivl_set_host_buffer(ivl_context *ctx, void *ptr, int64_t bytes) {
  Args a(ctx, "set_host_buffer");
  a.that(bytes >= 0, "%lld bytes", static_cast<long long>(bytes))
      .pointer("the buffer", ptr, bytes > 0);
  return a ? backend::set_host_buffer(ctx, ptr, bytes) : a.result();
}

ivl_status ivl_require_host_buffer(ivl_context *ctx, int64_t bytes) {
  Args a(ctx, "host buffer");
  int64_t have = 0;
  void *buffer = ivl_host_buffer(ctx, &have);
  a.that(bytes <= 0 || (buffer && have >= bytes),
         "the step offloads %lld bytes of activations to host memory, but "
         "the buffer set with ivl_set_host_buffer holds %lld bytes",
         static_cast<long long>(bytes), static_cast<long long>(have));
  return a.result();
}

ivl_status ivl_copy_wait(ivl_context *ctx, int32_t newer) {
  Args a(ctx, "copy_wait");
  a.that(newer >= 0, "%d copies before the last", newer);
  return a ? backend::copy_wait(ctx, newer) : a.result();
}

} // extern "C"
