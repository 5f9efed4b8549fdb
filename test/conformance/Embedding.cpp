//===- Embedding.cpp - conformance cases -------------------------------------===//

#include "Conformance.h"

#include "internvl/runtime/Numeric.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

using namespace conformance;

namespace {

/// Row copies and masks move values unchanged.
constexpr Tolerance kExact{0, 0};

/// InternVL's IMG_CONTEXT token id.
constexpr int64_t kImageToken = 151667;

/// A call that must fail with `want` (checked after synchronizing, where a
/// device reports data errors).
Shape withWidth(Shape shape, int64_t width) {
  shape.push_back(width);
  return shape;
}

//===--- embedding --------------------------------------------------------===//

std::vector<double> embeddingRef(const Tensor &table, const Tensor &ids) {
  int64_t width = table.shape[1];
  std::vector<double> out;
  for (double id : ids.values)
    for (int64_t j = 0; j < width; ++j)
      out.push_back(table[static_cast<int64_t>(id) * width + j]);
  return out;
}

void checkEmbedding(Case &c, const Tensor &table, const Tensor &ids) {
  ivl_tensor t = c.device(table), i = c.device(ids);
  ivl_tensor out = c.output(table.dtype, withWidth(ids.shape, table.shape[1]));
  if (!c.call(ivl_embedding(c.context(), &t, &i, &out)))
    return;
  c.expect("out", out, embeddingRef(table, ids), kExact);
}

/// Sums grad rows into a zero [vocab, width] table.
std::vector<double> embeddingGradRef(const Tensor &grad, const Tensor &ids,
                                     int64_t vocab, int64_t width) {
  std::vector<double> acc(vocab * width, 0.0);
  for (int64_t i = 0; i < ids.size(); ++i)
    for (int64_t j = 0; j < width; ++j)
      acc[static_cast<int64_t>(ids[i]) * width + j] += grad[i * width + j];
  return acc;
}

void checkEmbeddingGrad(Case &c, const Tensor &grad, const Tensor &ids,
                        int64_t vocab, ivl_dtype outType) {
  int64_t width = grad.shape.back();
  ivl_tensor g = c.device(grad), i = c.device(ids);
  ivl_tensor out = c.output(outType, {vocab, width});
  if (!c.call(ivl_embedding_grad(c.context(), &g, &i, &out)))
    return;
  // Terms are grad values in [-1, 1); a repeated id sums a few of them.
  c.expect("dtable", out, embeddingGradRef(grad, ids, vocab, width),
           toleranceFor(outType, 1.0));
}

} // namespace

CONFORMANCE_CASE(embedding, f32_vocab13_width33) {
  Tensor table = c.random(IVL_F32, {13, 33});
  Tensor ids = c.integers({2, 5}, 0, 13);
  ids[0] = 0;
  ids[9] = 12; // both ends of the vocabulary
  checkEmbedding(c, table, ids);
}

CONFORMANCE_CASE(embedding, bf16_vocab1000_repeated) {
  Tensor table = c.random(IVL_BF16, {1000, 13});
  Tensor ids = c.integers({7}, 0, 1000);
  ids[3] = ids[5] = ids[1];
  ids[6] = 999;
  checkEmbedding(c, table, ids);
}

CONFORMANCE_CASE(embedding, one_token) {
  Tensor table = c.random(IVL_F32, {13, 1});
  Tensor ids = c.integers({1, 1}, 0, 13);
  checkEmbedding(c, table, ids);
}

CONFORMANCE_CASE(embedding, zero_tokens) {
  Tensor table = c.random(IVL_BF16, {13, 33});
  Tensor ids = c.integers({0}, 0, 13);
  checkEmbedding(c, table, ids);
}

CONFORMANCE_CASE(embedding, id_out_of_range_rejected) {
  Tensor table = c.random(IVL_F32, {13, 4});
  for (double bad : {13.0, -1.0}) {
    Tensor ids = c.integers({3}, 0, 13);
    ids[2] = bad;
    ivl_tensor t = c.device(table), i = c.device(ids);
    ivl_tensor out = c.output(IVL_F32, {3, 4});
    c.expectStatus( ivl_embedding(c.context(), &t, &i, &out),
                 IVL_ERROR_INVALID_INPUT, bad < 0 ? "id -1" : "id == vocab");
  }
}

CONFORMANCE_CASE(embedding_grad, f32_repeated_ids) {
  Tensor grad = c.random(IVL_F32, {2, 9, 33});
  Tensor ids = c.integers({2, 9}, 0, 13);
  // Id 4 six times, across both rows of the batch: the rows must add up.
  for (int64_t i : {0, 3, 7, 9, 12, 17})
    ids[i] = 4;
  checkEmbeddingGrad(c, grad, ids, 13, IVL_F32);
}

CONFORMANCE_CASE(embedding_grad, bf16_vocab1000_sparse) {
  // Most rows unused (they must come out zero); a few ids repeated.
  Tensor grad = c.random(IVL_BF16, {1, 16, 13});
  Tensor ids = c.integers({1, 16}, 0, 1000);
  ids[2] = ids[11] = ids[15] = 999;
  ids[4] = ids[5] = 0;
  checkEmbeddingGrad(c, grad, ids, 1000, IVL_BF16);
}

CONFORMANCE_CASE(embedding_grad, all_same_id) {
  // 40 rows into one: f32 accumulation of 40 terms in [-1, 1).
  Tensor grad = c.random(IVL_F32, {40, 7});
  Tensor ids = c.filled(IVL_I64, {40}, 3);
  checkEmbeddingGrad(c, grad, ids, 13, IVL_F32);
}

CONFORMANCE_CASE(embedding_grad, zero_tokens) {
  // No token: the whole table is zero.
  Tensor grad = c.random(IVL_F32, {0, 33});
  Tensor ids = c.integers({0}, 0, 13);
  checkEmbeddingGrad(c, grad, ids, 13, IVL_F32);
}

CONFORMANCE_CASE(embedding_grad, id_out_of_range_rejected) {
  Tensor grad = c.random(IVL_F32, {3, 4});
  Tensor ids = c.integers({3}, 0, 13);
  ids[1] = 13;
  ivl_tensor g = c.device(grad), i = c.device(ids);
  ivl_tensor out = c.output(IVL_F32, {13, 4});
  c.expectStatus( ivl_embedding_grad(c.context(), &g, &i, &out),
               IVL_ERROR_INVALID_INPUT, "id == vocab");
}

//===--- scatter_image_embeds / gather_image_embeds / mask_image_positions -===//

namespace {

/// Token ids in [0, 1000) with the image token at `positions` (flat).
Tensor idsWithImage(Case &c, Shape shape, std::vector<int64_t> positions) {
  Tensor ids = c.integers(shape, 0, 1000);
  for (int64_t p : positions)
    ids[p] = static_cast<double>(kImageToken);
  return ids;
}

int64_t countImage(const Tensor &ids) {
  return std::count(ids.values.begin(), ids.values.end(),
                    static_cast<double>(kImageToken));
}

/// The image rows in use, in order: all, or those of tiles flagged 1
/// (InternVL's image_flags).
std::vector<int64_t> usedRows(int64_t rows, const std::vector<int64_t> &flags) {
  std::vector<int64_t> used;
  for (int64_t r = 0; r < rows; ++r)
    if (flags.empty() || flags[r / (rows / flags.size())])
      used.push_back(r);
  return used;
}

std::vector<double> scatterRef(const Tensor &embeds, const Tensor &ids,
                               const Tensor &image,
                               const std::vector<int64_t> &flags = {}) {
  int64_t width = embeds.shape.back();
  std::vector<double> out = embeds.values;
  std::vector<int64_t> used = usedRows(image.shape[0], flags);
  int64_t k = 0;
  for (int64_t p = 0; p < ids.size(); ++p)
    if (static_cast<int64_t>(ids[p]) == kImageToken) {
      for (int64_t j = 0; j < width; ++j)
        out[p * width + j] = image[used[k] * width + j];
      ++k;
    }
  return out;
}

std::vector<double> gatherRef(const Tensor &grad, const Tensor &ids,
                              int64_t rows,
                              const std::vector<int64_t> &flags = {}) {
  int64_t width = grad.shape.back();
  std::vector<double> out(rows * width, 0.0);
  std::vector<int64_t> used = usedRows(rows, flags);
  int64_t k = 0;
  for (int64_t p = 0; p < ids.size(); ++p)
    if (static_cast<int64_t>(ids[p]) == kImageToken) {
      for (int64_t j = 0; j < width; ++j)
        out[used[k] * width + j] = grad[p * width + j];
      ++k;
    }
  return out;
}

/// image_flags as a device tensor.
ivl_tensor flagsOn(Case &c, const std::vector<int64_t> &flags) {
  return c.device(Tensor{IVL_I64,
                         {static_cast<int64_t>(flags.size())},
                         std::vector<double>(flags.begin(), flags.end())});
}

std::vector<double> maskRef(const Tensor &grad, const Tensor &ids) {
  int64_t width = grad.shape.back();
  std::vector<double> out = grad.values;
  for (int64_t p = 0; p < ids.size(); ++p)
    if (static_cast<int64_t>(ids[p]) == kImageToken)
      for (int64_t j = 0; j < width; ++j)
        out[p * width + j] = 0;
  return out;
}

void checkScatter(Case &c, ivl_dtype dtype, Shape ids2, int64_t width,
                  std::vector<int64_t> positions, bool inPlace) {
  Tensor ids = idsWithImage(c, ids2, positions);
  Tensor embeds = c.random(dtype, withWidth(ids2, width));
  Tensor image = c.random(dtype, {countImage(ids), width}, 2, 3);
  ivl_tensor e = c.device(embeds), i = c.device(ids), im = c.device(image);
  ivl_tensor out = inPlace ? e : c.output(dtype, embeds.shape);
  if (!c.call(ivl_scatter_image_embeds(c.context(), &e, &i, &im, nullptr,
                                       kImageToken, &out)))
    return;
  c.expect("out", out, scatterRef(embeds, ids, image), kExact);
}

/// Packed: tiles of `perTile` rows, those flagged 0 skipped.
void checkScatterFlags(Case &c, ivl_dtype dtype, Shape ids2, int64_t width,
                       std::vector<int64_t> positions, int64_t perTile,
                       std::vector<int64_t> flags) {
  Tensor ids = idsWithImage(c, ids2, positions);
  Tensor embeds = c.random(dtype, withWidth(ids2, width));
  int64_t rows = perTile * static_cast<int64_t>(flags.size());
  Tensor image = c.random(dtype, {rows, width}, 2, 3);
  ivl_tensor e = c.device(embeds), i = c.device(ids), im = c.device(image),
             f = flagsOn(c, flags), out = c.output(dtype, embeds.shape);
  if (!c.call(ivl_scatter_image_embeds(c.context(), &e, &i, &im, &f,
                                       kImageToken, &out)))
    return;
  c.expect("out", out, scatterRef(embeds, ids, image, flags), kExact);
}

void checkGatherFlags(Case &c, ivl_dtype dtype, Shape ids2, int64_t width,
                      std::vector<int64_t> positions, int64_t perTile,
                      std::vector<int64_t> flags) {
  Tensor ids = idsWithImage(c, ids2, positions);
  Tensor grad = c.random(dtype, withWidth(ids2, width));
  int64_t rows = perTile * static_cast<int64_t>(flags.size());
  ivl_tensor g = c.device(grad), i = c.device(ids), f = flagsOn(c, flags);
  ivl_tensor out = c.output(dtype, {rows, width});
  if (!c.call(ivl_gather_image_embeds(c.context(), &g, &i, &f, kImageToken,
                                      &out)))
    return;
  c.expect("out", out, gatherRef(grad, ids, rows, flags), kExact);
}

void checkGather(Case &c, ivl_dtype dtype, Shape ids2, int64_t width,
                 std::vector<int64_t> positions) {
  Tensor ids = idsWithImage(c, ids2, positions);
  Tensor grad = c.random(dtype, withWidth(ids2, width));
  ivl_tensor g = c.device(grad), i = c.device(ids);
  ivl_tensor out = c.output(dtype, {countImage(ids), width});
  if (!c.call(ivl_gather_image_embeds(c.context(), &g, &i, nullptr,
                                      kImageToken, &out)))
    return;
  c.expect("out", out, gatherRef(grad, ids, countImage(ids)), kExact);
}

void checkMask(Case &c, ivl_dtype dtype, Shape ids2, int64_t width,
               std::vector<int64_t> positions, bool inPlace) {
  Tensor ids = idsWithImage(c, ids2, positions);
  Tensor grad = c.random(dtype, withWidth(ids2, width));
  ivl_tensor g = c.device(grad), i = c.device(ids);
  ivl_tensor out = inPlace ? g : c.output(dtype, grad.shape);
  if (!c.call(ivl_mask_image_positions(c.context(), &g, &i, kImageToken,
                                       &out)))
    return;
  c.expect("out", out, maskRef(grad, ids), kExact);
}

} // namespace

CONFORMANCE_CASE(scatter_image_embeds, f32_scattered) {
  // Image tokens at both ends and in the middle of two rows.
  checkScatter(c, IVL_F32, {2, 11}, 33, {0, 4, 5, 6, 10, 11, 16, 21}, false);
}

CONFORMANCE_CASE(scatter_image_embeds, bf16_in_place) {
  checkScatter(c, IVL_BF16, {3, 7}, 13, {2, 3, 9, 20}, true);
}

CONFORMANCE_CASE(scatter_image_embeds, no_image_tokens) {
  checkScatter(c, IVL_F32, {1, 9}, 13, {}, false);
}

CONFORMANCE_CASE(scatter_image_embeds, all_image_tokens) {
  checkScatter(c, IVL_BF16, {1, 5}, 33, {0, 1, 2, 3, 4}, false);
}

CONFORMANCE_CASE(scatter_image_embeds, count_mismatch_rejected) {
  Tensor ids = idsWithImage(c, {1, 6}, {1, 2, 3});
  Tensor embeds = c.random(IVL_F32, {1, 6, 4});
  for (int64_t rows : {2, 4}) {
    Tensor image = c.random(IVL_F32, {rows, 4});
    ivl_tensor e = c.device(embeds), i = c.device(ids), im = c.device(image);
    ivl_tensor out = c.output(IVL_F32, {1, 6, 4});
    c.expectStatus(
                 ivl_scatter_image_embeds(c.context(), &e, &i, &im, nullptr,
                                          kImageToken, &out),
                 IVL_ERROR_INVALID_INPUT,
                 rows < 3 ? "fewer image rows than tokens"
                          : "more image rows than tokens");
  }
}

// Packed rows: a padding tile in the middle (a text-only sample's dummy)
// and at the end (strict_mode's padding) are skipped.
CONFORMANCE_CASE(scatter_image_embeds, image_flags) {
  checkScatterFlags(c, IVL_F32, {1, 16}, 7, {1, 2, 3, 4, 9, 10, 11, 12}, 2,
                    {1, 0, 1, 1, 0, 1, 0});
  checkScatterFlags(c, IVL_BF16, {2, 9}, 5, {0, 1, 12, 13}, 2, {0, 1, 0, 1});
}

CONFORMANCE_CASE(scatter_image_embeds, image_flags_count_mismatch_rejected) {
  // Three used rows of tiles [1, 0, 1] x 2 rows = four, not three tokens.
  Tensor ids = idsWithImage(c, {1, 6}, {1, 2, 3});
  Tensor embeds = c.random(IVL_F32, {1, 6, 4}), image = c.random(IVL_F32, {6, 4});
  ivl_tensor e = c.device(embeds), i = c.device(ids), im = c.device(image),
             f = flagsOn(c, {1, 0, 1}), out = c.output(IVL_F32, {1, 6, 4});
  c.expectStatus(ivl_scatter_image_embeds(c.context(), &e, &i, &im, &f,
                                          kImageToken, &out),
                 IVL_ERROR_INVALID_INPUT, "flagged rows differ from tokens");
}

CONFORMANCE_CASE(gather_image_embeds, image_flags) {
  checkGatherFlags(c, IVL_F32, {1, 16}, 7, {1, 2, 3, 4, 9, 10, 11, 12}, 2,
                   {1, 0, 1, 1, 0, 1, 0});
  checkGatherFlags(c, IVL_BF16, {2, 9}, 5, {0, 1, 12, 13}, 2, {0, 1, 0, 1});
}

CONFORMANCE_CASE(gather_image_embeds, f32_scattered) {
  checkGather(c, IVL_F32, {2, 11}, 33, {0, 4, 5, 6, 10, 11, 16, 21});
}

CONFORMANCE_CASE(gather_image_embeds, bf16_one_token) {
  checkGather(c, IVL_BF16, {3, 7}, 13, {17});
}

CONFORMANCE_CASE(gather_image_embeds, no_image_tokens) {
  checkGather(c, IVL_F32, {2, 4}, 13, {});
}

CONFORMANCE_CASE(gather_image_embeds, count_mismatch_rejected) {
  Tensor ids = idsWithImage(c, {1, 6}, {1, 2, 3});
  Tensor grad = c.random(IVL_F32, {1, 6, 4});
  ivl_tensor g = c.device(grad), i = c.device(ids);
  ivl_tensor out = c.output(IVL_F32, {2, 4});
  c.expectStatus(
               ivl_gather_image_embeds(c.context(), &g, &i, nullptr,
                                       kImageToken, &out),
               IVL_ERROR_INVALID_INPUT, "2 rows for 3 image tokens");
}

CONFORMANCE_CASE(mask_image_positions, f32_scattered) {
  checkMask(c, IVL_F32, {2, 11}, 33, {0, 4, 5, 6, 10, 11, 16, 21}, false);
}

CONFORMANCE_CASE(mask_image_positions, bf16_in_place) {
  checkMask(c, IVL_BF16, {3, 7}, 13, {2, 3, 9, 20}, true);
}

CONFORMANCE_CASE(mask_image_positions, no_image_tokens) {
  checkMask(c, IVL_F32, {1, 9}, 13, {}, false);
}

CONFORMANCE_CASE(mask_image_positions, all_image_tokens) {
  checkMask(c, IVL_BF16, {1, 5}, 33, {0, 1, 2, 3, 4}, false);
}

//===--- pixel_shuffle ----------------------------------------------------===//

namespace {

/// InternVL's pixel_shuffle on [N, W, H, C], element by element:
///   x.view(n, w, h*s, c/s).permute(0, 2, 1, 3)
///    .view(n, h*s, w*s, c/s^2)[.permute(0, 2, 1, 3) for v2]
std::vector<double> pixelShuffleRef(const Tensor &x, double s, int version,
                                    Shape &outShape) {
  int64_t n = x.shape[0], w = x.shape[1], h = x.shape[2], ch = x.shape[3];
  int64_t hs = std::llround(h * s), ws = std::llround(w * s);
  int64_t cs = std::llround(ch / s), c2 = std::llround(ch / (s * s));
  outShape = version == 1 ? Shape{n, hs, ws, c2} : Shape{n, ws, hs, c2};
  std::vector<double> out(numel(outShape));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < hs; ++i)
      for (int64_t k = 0; k < ws; ++k)
        for (int64_t l = 0; l < c2; ++l) {
          // Element [b, i, k, l] of the [n, hs, ws, c2] view is element
          // (flat within the batch) q of the permuted [n, hs, w, cs] tensor.
          int64_t q = (i * ws + k) * c2 + l;
          int64_t i2 = q / (w * cs), rest = q % (w * cs);
          int64_t wi = rest / cs, j = rest % cs;
          // Permuted [b, i2, wi, j] is [b, wi, i2, j] of the [n, w, hs, cs]
          // view of the input.
          int64_t src = ((b * w + wi) * hs + i2) * cs + j;
          int64_t dst = version == 1 ? ((b * hs + i) * ws + k) * c2 + l
                                     : ((b * ws + k) * hs + i) * c2 + l;
          out[dst] = x[src];
        }
  return out;
}

void checkPixelShuffle(Case &c, ivl_dtype dtype, Shape shape, double s,
                       int version) {
  Tensor x = c.random(dtype, shape);
  Shape outShape;
  std::vector<double> want = pixelShuffleRef(x, s, version, outShape);
  ivl_tensor in = c.device(x), out = c.output(dtype, outShape);
  if (!c.call(ivl_pixel_shuffle(c.context(), &in, s, version, &out)))
    return;
  c.expect("out", out, want, kExact);
}

} // namespace

CONFORMANCE_CASE(pixel_shuffle, v2_square_bf16) {
  checkPixelShuffle(c, IVL_BF16, {3, 8, 8, 4}, 0.5, 2);
}

CONFORMANCE_CASE(pixel_shuffle, v1_square_f32) {
  checkPixelShuffle(c, IVL_F32, {2, 4, 4, 12}, 0.5, 1);
}

CONFORMANCE_CASE(pixel_shuffle, v2_non_square) {
  // W != H: v2's final transpose gives [N, W/2, H/2, 4C].
  checkPixelShuffle(c, IVL_F32, {2, 4, 6, 12}, 0.5, 2);
}

CONFORMANCE_CASE(pixel_shuffle, v1_non_square) {
  // v1 keeps [N, H/2, W/2, 4C].
  checkPixelShuffle(c, IVL_BF16, {1, 6, 2, 8}, 0.5, 1);
}

CONFORMANCE_CASE(pixel_shuffle, v2_quarter_scale) {
  checkPixelShuffle(c, IVL_F32, {1, 4, 8, 16}, 0.25, 2);
}

//===--- drop_path --------------------------------------------------------===//

namespace {

/// Runs drop_path and checks that every sample is either all zeros or
/// x / (1 - rate); returns the kept samples (empty on a failed call).
std::vector<bool> checkDropPath(Case &c, const Tensor &x, double rate,
                                int64_t seed, int64_t offset, int64_t step,
                                bool inPlace = false) {
  int64_t samples = x.shape[0], per = samples ? x.size() / samples : 0;
  Tensor stepT = c.filled(IVL_I64, {}, static_cast<double>(step));
  ivl_tensor in = c.device(x), s = c.device(stepT);
  ivl_tensor out = inPlace ? in : c.output(x.dtype, x.shape);
  if (!c.call(ivl_drop_path(c.context(), &in, &s, rate, seed, offset, &out)))
    return {};
  Tensor got = c.fetch(out);
  std::vector<bool> kept(samples);
  std::vector<double> want(x.size());
  for (int64_t b = 0; b < samples; ++b) {
    bool zero = true;
    for (int64_t i = 0; i < per; ++i)
      zero = zero && got[b * per + i] == 0;
    kept[b] = !zero;
    for (int64_t i = 0; i < per; ++i)
      want[b * per + i] = kept[b] ? x[b * per + i] / (1 - rate) : 0.0;
  }
  // One f32 product rounded to the element type.
  c.expect("out", got, want, toleranceFor(x.dtype, 1.0));
  return kept;
}

int64_t countKept(const std::vector<bool> &kept) {
  return std::count(kept.begin(), kept.end(), true);
}

/// Inputs without zeros, so that a kept sample never reads as dropped.
Tensor nonZero(Case &c, ivl_dtype dtype, Shape shape) {
  Tensor x = c.random(dtype, shape, 0.25, 1.25);
  for (int64_t i = 1; i < x.size(); i += 2)
    x[i] = -x[i];
  return x;
}

} // namespace

CONFORMANCE_CASE(drop_path, bf16_deterministic_mask) {
  // Same (seed, offset, step) on other data: the same samples kept.
  Tensor x = nonZero(c, IVL_BF16, {64, 3, 13});
  std::vector<bool> first = checkDropPath(c, x, 0.25, 1234, 7, 3);
  Tensor y = nonZero(c, IVL_BF16, {64, 3, 13});
  std::vector<bool> again = checkDropPath(c, y, 0.25, 1234, 7, 3);
  if (first.empty() || again.empty())
    return;
  c.check(first == again, "the same seed, offset and step gave another mask");
  int64_t k = countKept(first);
  c.check(k > 0 && k < 64, "rate 0.25 kept " + std::to_string(k) +
                               " of 64 samples");
}

CONFORMANCE_CASE(drop_path, f32_mask_varies) {
  // Another step, seed or offset gives another mask over 256 samples
  // (identical masks have probability ~2^-200).
  Tensor x = nonZero(c, IVL_F32, {256, 5});
  std::vector<bool> base = checkDropPath(c, x, 0.5, 42, 0, 1);
  std::vector<bool> step = checkDropPath(c, x, 0.5, 42, 0, 2);
  std::vector<bool> seed = checkDropPath(c, x, 0.5, 43, 0, 1);
  std::vector<bool> offset = checkDropPath(c, x, 0.5, 42, 1, 1);
  if (base.empty() || step.empty() || seed.empty() || offset.empty())
    return;
  c.check(base != step, "step 1 and step 2 gave the same mask");
  c.check(base != seed, "seed 42 and seed 43 gave the same mask");
  c.check(base != offset, "offset 0 and offset 1 gave the same mask");
}

CONFORMANCE_CASE(drop_path, kept_fraction) {
  // 8192 samples at rate 0.3: kept ~ Binomial(8192, 0.7), sd ~41; allow
  // 6 sd. Over 4 steps, too, each must be plausible.
  Tensor x = nonZero(c, IVL_F32, {8192, 1});
  for (int64_t step : {int64_t(1), int64_t(2), int64_t(1000), int64_t(1) << 33}) {
    std::vector<bool> kept = checkDropPath(c, x, 0.3, 7, 11, step);
    if (kept.empty())
      return;
    int64_t k = countKept(kept);
    double expected = 0.7 * 8192, sd = std::sqrt(8192 * 0.7 * 0.3);
    c.check(std::fabs(k - expected) <= 6 * sd,
            "step " + std::to_string(step) + ": kept " + std::to_string(k) +
                " of 8192 samples at rate 0.3 (expected ~" +
                std::to_string(static_cast<int64_t>(expected)) + ")");
  }
}

CONFORMANCE_CASE(drop_path, rate_zero_identity) {
  Tensor x = nonZero(c, IVL_BF16, {9, 33});
  std::vector<bool> kept = checkDropPath(c, x, 0.0, 5, 2, 4);
  if (!kept.empty())
    c.check(countKept(kept) == 9, "rate 0 dropped a sample");
}

CONFORMANCE_CASE(drop_path, one_sample_in_place) {
  Tensor x = nonZero(c, IVL_F32, {1, 4, 13});
  checkDropPath(c, x, 0.1, 99, 3, 10, true);
}

//===--- dropout ----------------------------------------------------------===//

namespace {

/// Runs dropout; every element must be x / (1 - rate) where the mask's
/// definition (ivl::dropoutKeeps, Numeric.h) keeps it and 0 elsewhere.
/// Returns the kept elements (empty on a failed call).
std::vector<bool> checkDropout(Case &c, const Tensor &x, double rate,
                               int64_t seed, int64_t offset, int64_t step,
                               bool inPlace = false) {
  Tensor stepT = c.filled(IVL_I64, {}, static_cast<double>(step));
  ivl_tensor in = c.device(x), s = c.device(stepT);
  ivl_tensor out = inPlace ? in : c.output(x.dtype, x.shape);
  if (!c.call(ivl_dropout(c.context(), &in, &s, rate, seed, offset, &out)))
    return {};
  std::vector<bool> kept(x.size());
  std::vector<double> want(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    kept[i] = ivl::dropoutKeeps(seed, offset, step, i, rate);
    want[i] = kept[i] ? x[i] / (1 - rate) : 0.0;
  }
  c.expect("out", out, want, toleranceFor(x.dtype, 1.0));
  return kept;
}

} // namespace

CONFORMANCE_CASE(dropout, bf16_mask_of_the_definition) {
  checkDropout(c, nonZero(c, IVL_BF16, {3, 7, 33}), 0.05, 0, 5, 1);
}

CONFORMANCE_CASE(dropout, f32_odd_size_in_place) {
  checkDropout(c, nonZero(c, IVL_F32, {13}), 0.5, 77, 0, 3, true);
}

CONFORMANCE_CASE(dropout, empty_and_rate_zero) {
  checkDropout(c, nonZero(c, IVL_F32, {0, 9}), 0.3, 1, 2, 3);
  std::vector<bool> kept = checkDropout(c, nonZero(c, IVL_BF16, {5, 9}), 0.0,
                                        1, 2, 3);
  c.check(std::count(kept.begin(), kept.end(), true) == 45,
          "rate 0 dropped an element");
}

CONFORMANCE_CASE(dropout, kept_fraction_and_streams) {
  // 2^16 elements at rate 0.05: kept ~ Binomial(65536, 0.95), sd ~56; allow
  // 6 sd. Another step, seed or offset gives another mask, and the masks of
  // the four Philox lanes are not copies of each other.
  int64_t n = 1 << 16;
  Tensor x = nonZero(c, IVL_F32, {n});
  std::vector<bool> base =
      checkDropout(c, x, 0.05, 9, 4, (int64_t(1) << 33) + 1);
  if (base.empty())
    return;
  int64_t k = std::count(base.begin(), base.end(), true);
  double expected = 0.95 * n, sd = std::sqrt(n * 0.95 * 0.05);
  c.check(std::fabs(k - expected) <= 6 * sd,
          "kept " + std::to_string(k) + " of " + std::to_string(n) +
              " at rate 0.05");
  bool lanesDiffer = false;
  for (int64_t i = 0; i + 1 < n && !lanesDiffer; i += 4)
    lanesDiffer = base[i] != base[i + 1];
  c.check(lanesDiffer, "lanes 0 and 1 of every Philox call agree");
  // Step 1 differs from the base's 2^33 + 1 only in the high word.
  int64_t step = (int64_t(1) << 33) + 1;
  for (auto [seed, offset, other] :
       {std::tuple<int64_t, int64_t, int64_t>{10, 4, step},
        {9, 5, step},
        {9, 4, 1},
        {9, 4, step + 1}}) {
    std::vector<bool> mask = checkDropout(c, x, 0.05, seed, offset, other);
    c.check(mask.empty() || mask != base,
            "seed " + std::to_string(seed) + ", offset " +
                std::to_string(offset) + ", step " + std::to_string(other) +
                " gave the same mask as seed 9, offset 4, step 2^33 + 1");
  }
}
