//===- Arguments.cpp - conformance of the API's argument checks -----------===//
//
// Arguments no kernel can take are refused at the API (runtime/api/Api.cpp)
// with IVL_ERROR_INVALID_ARGUMENT and a message naming the kernel, on every
// runtime alike, before a kernel reads them.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <cstring>

using namespace conformance;

namespace {

void expectRefused(Case &c, ivl_status status, const char *kernel,
                   const char *what) {
  const char *message = ivl_last_error(c.context());
  c.check(status == IVL_ERROR_INVALID_ARGUMENT,
          std::string(what) + ": not refused (status " +
              std::to_string(status) + ")");
  c.check(std::strstr(message, kernel) == message,
          std::string(what) + ": the message does not name " + kernel +
              ": " + message);
}

} // namespace

CONFORMANCE_CASE(fill, rejects_bad_descriptors) {
  ivl_tensor t = c.output(IVL_F32, {4});
  expectRefused(c, ivl_fill(c.context(), nullptr, 0), "fill", "null tensor");
  ivl_tensor bad = t;
  bad.rank = IVL_MAX_RANK + 1;
  expectRefused(c, ivl_fill(c.context(), &bad, 0), "fill", "rank 9");
  bad = t;
  bad.shape[0] = -4;
  expectRefused(c, ivl_fill(c.context(), &bad, 0), "fill", "negative size");
  bad = t;
  int32_t notADtype = 17; // what a C caller may pass
  std::memcpy(&bad.dtype, &notADtype, sizeof(notADtype));
  expectRefused(c, ivl_fill(c.context(), &bad, 0), "fill", "unknown dtype");
  bad = t;
  bad.data = nullptr;
  expectRefused(c, ivl_fill(c.context(), &bad, 0), "fill", "no data");
  bad = t;
  bad.rank = 2;
  bad.shape[0] = int64_t(1) << 30;
  bad.shape[1] = int64_t(1) << 30;
  expectRefused(c, ivl_fill(c.context(), &bad, 0), "fill", "beyond 1 TiB");
}

CONFORMANCE_CASE(linear, rejects_mismatched_shapes) {
  ivl_tensor x = c.output(IVL_BF16, {2, 8}), w = c.output(IVL_BF16, {4, 7}),
             y = c.output(IVL_BF16, {2, 4});
  expectRefused(c, ivl_linear(c.context(), &x, &w, nullptr, &y), "linear",
                "K of 8 against 7");
  ivl_tensor w8 = c.output(IVL_BF16, {4, 8}), y5 = c.output(IVL_BF16, {2, 5});
  expectRefused(c, ivl_linear(c.context(), &x, &w8, nullptr, &y5), "linear",
                "output of 10 for 8");
  ivl_tensor wf = c.output(IVL_F32, {4, 8});
  expectRefused(c, ivl_linear(c.context(), &x, &wf, nullptr, &y), "linear",
                "mixed element types");
}

CONFORMANCE_CASE(transpose, rejects_bad_permutation) {
  ivl_tensor in = c.output(IVL_F32, {2, 3}), out = c.output(IVL_F32, {3, 2});
  int64_t repeated[] = {0, 0}, outside[] = {0, 2};
  expectRefused(c, ivl_transpose(c.context(), &in, repeated, &out),
                "transpose", "repeated entry");
  expectRefused(c, ivl_transpose(c.context(), &in, outside, &out), "transpose",
                "entry outside the rank");
  expectRefused(c, ivl_transpose(c.context(), &in, nullptr, &out), "transpose",
                "no permutation");
}

CONFORMANCE_CASE(slice, rejects_out_of_range) {
  ivl_tensor in = c.output(IVL_BF16, {4, 6}), out = c.output(IVL_BF16, {2, 3});
  int64_t past[] = {3, 0}, negative[] = {0, -1};
  expectRefused(c, ivl_slice(c.context(), &in, past, &out), "slice",
                "past the end");
  expectRefused(c, ivl_slice(c.context(), &in, negative, &out), "slice",
                "negative offset");
}

CONFORMANCE_CASE(reduce_sum, rejects_bad_dims) {
  ivl_tensor in = c.output(IVL_F32, {4, 6}), out = c.output(IVL_F32, {6});
  int64_t twice[] = {0, 0}, outside[] = {2};
  expectRefused(c, ivl_reduce_sum(c.context(), &in, twice, 2, &out),
                "reduce_sum", "a dimension twice");
  expectRefused(c, ivl_reduce_sum(c.context(), &in, outside, 1, &out),
                "reduce_sum", "a dimension outside the rank");
}

CONFORMANCE_CASE(concat, rejects_lengths_that_do_not_add_up) {
  ivl_tensor parts[] = {c.output(IVL_F32, {2, 3}), c.output(IVL_F32, {2, 3})};
  ivl_tensor out = c.output(IVL_F32, {2, 7});
  expectRefused(c, ivl_concat(c.context(), parts, 2, 1, &out), "concat",
                "3 + 3 into 7");
  expectRefused(c, ivl_concat(c.context(), parts, 2, 2, &out), "concat",
                "dimension outside the rank");
}

CONFORMANCE_CASE(attention, rejects_heads_that_do_not_group) {
  ivl_tensor q = c.output(IVL_BF16, {1, 4, 3, 8}),
             k = c.output(IVL_BF16, {1, 4, 2, 8}),
             v = c.output(IVL_BF16, {1, 4, 2, 8}),
             o = c.output(IVL_BF16, {1, 4, 3, 8}),
             lse = c.output(IVL_F32, {1, 3, 4});
  expectRefused(c,
                ivl_attention(c.context(), &q, &k, &v, nullptr, 1, 0.35, &o,
                              &lse),
                "attention", "3 query heads onto 2");
}

CONFORMANCE_CASE(attention, rejects_bad_sample_bounds_shape) {
  ivl_tensor q = c.output(IVL_F32, {2, 4, 2, 8}),
             k = c.output(IVL_F32, {2, 4, 2, 8}),
             v = c.output(IVL_F32, {2, 4, 2, 8}),
             o = c.output(IVL_F32, {2, 4, 2, 8}),
             lse = c.output(IVL_F32, {2, 2, 4});
  ivl_tensor oneRow = c.output(IVL_I64, {1, 3}), single = c.output(IVL_I64, {2, 1}),
             floats = c.output(IVL_F32, {2, 3});
  expectRefused(c,
                ivl_attention(c.context(), &q, &k, &v, &oneRow, 1, 0.35, &o,
                              &lse),
                "attention", "cu_seqlens of one row for two");
  expectRefused(c,
                ivl_attention(c.context(), &q, &k, &v, &single, 1, 0.35, &o,
                              &lse),
                "attention", "cu_seqlens without a sample");
  expectRefused(c,
                ivl_attention(c.context(), &q, &k, &v, &floats, 1, 0.35, &o,
                              &lse),
                "attention", "f32 cu_seqlens");
  ivl_tensor kLong = c.output(IVL_F32, {2, 6, 2, 8}),
             vLong = c.output(IVL_F32, {2, 6, 2, 8});
  expectRefused(c,
                ivl_attention(c.context(), &q, &kLong, &vLong, nullptr, 1,
                              0.35, &o, &lse),
                "attention", "causal with S != Skv");
}

CONFORMANCE_CASE(rope, rejects_bad_sample_bounds_shape) {
  ivl_tensor in = c.output(IVL_F32, {1, 4, 2, 8}),
             out = c.output(IVL_F32, {1, 4, 2, 8}),
             cu = c.output(IVL_I64, {2, 3});
  expectRefused(c,
                ivl_rope(c.context(), &in, &cu, 1e4, nullptr, 1.0, 0, &out),
                "rope", "cu_seqlens of two rows for one");
}

CONFORMANCE_CASE(scatter_image_embeds, rejects_uneven_image_flags) {
  ivl_tensor e = c.output(IVL_F32, {1, 6, 4}), ids = c.output(IVL_I64, {1, 6}),
             image = c.output(IVL_F32, {5, 4}), flags = c.output(IVL_I64, {2}),
             out = c.output(IVL_F32, {1, 6, 4});
  expectRefused(c,
                ivl_scatter_image_embeds(c.context(), &e, &ids, &image, &flags,
                                         7, &out),
                "scatter_image_embeds", "2 tiles for 5 rows");
}

CONFORMANCE_CASE(cross_entropy, rejects_bad_operands) {
  ivl_tensor logits = c.output(IVL_F32, {6}), labels = c.output(IVL_I64, {6}),
             loss = c.output(IVL_F32, {}), lse = c.output(IVL_F32, {6});
  expectRefused(c,
                ivl_cross_entropy(c.context(), &logits, &labels, nullptr, -100,
                                  &loss, &lse),
                "cross_entropy", "rank-1 logits");
  ivl_tensor logits2 = c.output(IVL_F32, {6, 5}),
             labelsF = c.output(IVL_F32, {6});
  expectRefused(c,
                ivl_cross_entropy(c.context(), &logits2, &labelsF, nullptr,
                                  -100, &loss, &lse),
                "cross_entropy", "f32 labels");
  ivl_tensor labels2 = c.output(IVL_I64, {6}), w5 = c.output(IVL_F32, {5}),
             wbf = c.output(IVL_BF16, {6});
  expectRefused(c,
                ivl_cross_entropy(c.context(), &logits2, &labels2, &w5, -100,
                                  &loss, &lse),
                "cross_entropy", "5 weights for 6 tokens");
  expectRefused(c,
                ivl_cross_entropy(c.context(), &logits2, &labels2, &wbf, -100,
                                  &loss, &lse),
                "cross_entropy", "bf16 weights");
}

CONFORMANCE_CASE(dropout, rejects_bad_rate_offset_and_sizes) {
  ivl_tensor x = c.output(IVL_F32, {4, 3}), y = c.output(IVL_F32, {4, 3}),
             y5 = c.output(IVL_F32, {5}),
             step = c.device(c.filled(IVL_I64, {}, 1));
  expectRefused(c, ivl_dropout(c.context(), &x, &step, 1.0, 0, 0, &y),
                "dropout", "rate 1");
  expectRefused(c, ivl_dropout(c.context(), &x, &step, -0.1, 0, 0, &y),
                "dropout", "rate -0.1");
  expectRefused(c, ivl_dropout(c.context(), &x, &step, 0.1, 0, -1, &y),
                "dropout", "offset -1");
  expectRefused(c, ivl_dropout(c.context(), &x, &step, 0.1, 0, 1 << 24, &y),
                "dropout", "offset 2^24");
  expectRefused(c, ivl_dropout(c.context(), &x, &step, 0.1, 0, 0, &y5),
                "dropout", "output of 5 for 12");
  expectRefused(c, ivl_dropout(c.context(), &x, &x, 0.1, 0, 0, &y), "dropout",
                "a float step");
}
