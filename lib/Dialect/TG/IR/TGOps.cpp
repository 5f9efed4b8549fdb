//===- TGOps.cpp - training-graph op verifiers ----------------------------===//
//
// Each verifier checks the shape relation of its op and says, in the error,
// the shape or type it expected from the other operands.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Support/Shape.h"
#include "internvl/runtime/CheckedMath.h"
#include "internvl/runtime/Numeric.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tg;
using internvl::formatShape;

#include "internvl/Dialect/TG/IR/TGEnums.cpp.inc"
#include "internvl/Dialect/TG/IR/TGInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "internvl/Dialect/TG/IR/TGOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}
static ArrayRef<int64_t> shapeOf(Value v) { return tensorOf(v).getShape(); }
static Type elementOf(Value v) { return tensorOf(v).getElementType(); }

/// Fails with "expected <what> of shape [..], got <type>" unless `v` has
/// exactly `expected` as its shape.
static LogicalResult expectShape(Operation *op, StringRef what, Value v,
                                 ArrayRef<int64_t> expected) {
  if (shapeOf(v) == expected)
    return success();
  return op->emitOpError() << "expected " << what << " of shape "
                           << formatShape(expected) << ", got " << v.getType();
}

/// Fails unless `v`'s element type is `expected` (named after `reference`).
static LogicalResult expectElementType(Operation *op, StringRef what, Value v,
                                       Type expected, StringRef reference) {
  if (elementOf(v) == expected)
    return success();
  return op->emitOpError() << "expected " << what << " to have element type "
                           << expected << " (the element type of " << reference
                           << "), got " << v.getType();
}

static LogicalResult expectRank(Operation *op, StringRef what, Value v,
                                int64_t rank) {
  if (tensorOf(v).getRank() == rank)
    return success();
  return op->emitOpError() << "expected " << what << " of rank " << rank
                           << ", got " << v.getType();
}

static LogicalResult expectPositive(Operation *op, StringRef what,
                                    double value) {
  if (value > 0 && std::isfinite(value))
    return success();
  return op->emitOpError() << "expected " << what
                           << " to be a positive finite number, got " << value;
}

/// All leading dimensions of `shape` but the last.
static SmallVector<int64_t> rowsShape(ArrayRef<int64_t> shape) {
  return SmallVector<int64_t>(shape.drop_back());
}

static SmallVector<int64_t> withLast(ArrayRef<int64_t> shape, int64_t last) {
  SmallVector<int64_t> result(shape.drop_back());
  result.push_back(last);
  return result;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

static LogicalResult verifyBroadcastBinary(Operation *op, Value lhs, Value rhs,
                                           Value result) {
  Type element = elementOf(lhs);
  if (failed(expectElementType(op, "rhs", rhs, element, "lhs")) ||
      failed(expectElementType(op, "result", result, element, "lhs")))
    return failure();
  std::optional<SmallVector<int64_t>> shape =
      internvl::broadcastShapes(shapeOf(lhs), shapeOf(rhs));
  if (!shape)
    return op->emitOpError()
           << "operand shapes " << formatShape(shapeOf(lhs)) << " and "
           << formatShape(shapeOf(rhs))
           << " do not broadcast (each dimension, aligned on the right, must "
              "be equal or 1)";
  return expectShape(op, "result", result, *shape);
}

LogicalResult AddOp::verify() {
  return verifyBroadcastBinary(*this, getLhs(), getRhs(), getResult());
}
LogicalResult SubOp::verify() {
  return verifyBroadcastBinary(*this, getLhs(), getRhs(), getResult());
}
LogicalResult MulOp::verify() {
  return verifyBroadcastBinary(*this, getLhs(), getRhs(), getResult());
}
LogicalResult DivOp::verify() {
  return verifyBroadcastBinary(*this, getLhs(), getRhs(), getResult());
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  Value x = getInput(), w = getWeight(), y = getResult();
  Type element = elementOf(x);
  if (tensorOf(x).getRank() < 1)
    return emitOpError() << "expected input of rank >= 1, got " << x.getType();
  if (failed(expectRank(*this, "weight [N, K]", w, 2)))
    return failure();
  int64_t k = shapeOf(x).back(), n = shapeOf(w)[0];
  if (shapeOf(w)[1] != k)
    return emitOpError() << "expected weight of shape [N, " << k
                         << "] (K = " << k
                         << " is the input's last dimension), got "
                         << w.getType();
  if (failed(expectElementType(*this, "weight", w, element, "the input")))
    return failure();
  if (Value b = getBias()) {
    if (failed(expectShape(*this, "bias", b, {n})) ||
        failed(expectElementType(*this, "bias", b, element, "the input")))
      return failure();
  }
  if (failed(expectShape(*this, "result", y, withLast(shapeOf(x), n))))
    return failure();
  return expectElementType(*this, "result", y, element, "the input");
}

LogicalResult MatmulOp::verify() {
  ArrayRef<int64_t> a = shapeOf(getLhs()), b = shapeOf(getRhs());
  Type element = elementOf(getLhs());
  if (a.size() < 2 || b.size() < 2)
    return emitOpError() << "expected operands of rank >= 2, got "
                         << getLhs().getType() << " and " << getRhs().getType();
  if (failed(expectElementType(*this, "rhs", getRhs(), element, "lhs")) ||
      failed(expectElementType(*this, "result", getResult(), element, "lhs")))
    return failure();
  bool sharedRhs = b.size() == 2 && a.size() > 2;
  if (sharedRhs && getTransposeLhs())
    return emitOpError() << "transpose_lhs needs lhs and rhs of equal rank "
                            "(a matrix rhs shared by a batched lhs takes the "
                            "lhs rows as they are)";
  if (!sharedRhs && a.size() != b.size())
    return emitOpError() << "expected rhs of rank " << a.size()
                         << " (or 2, shared by every batch), got "
                         << getRhs().getType();
  if (!sharedRhs && a.drop_back(2) != b.drop_back(2))
    return emitOpError() << "batch dimensions differ: "
                         << formatShape(a.drop_back(2)) << " vs "
                         << formatShape(b.drop_back(2));
  int64_t m = getTransposeLhs() ? a.back() : a[a.size() - 2];
  int64_t ka = getTransposeLhs() ? a[a.size() - 2] : a.back();
  int64_t kb = getTransposeRhs() ? b.back() : b[b.size() - 2];
  int64_t n = getTransposeRhs() ? b[b.size() - 2] : b.back();
  if (ka != kb)
    return emitOpError() << "contraction sizes differ: lhs has K = " << ka
                         << ", rhs has K = " << kb;
  SmallVector<int64_t> expected(a.drop_back(2));
  expected.append({m, n});
  return expectShape(*this, "result", getResult(), expected);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  int64_t in = internvl::numElements(shapeOf(getInput()));
  int64_t out = internvl::numElements(shapeOf(getResult()));
  if (in != out)
    return emitOpError() << "reshape must keep the number of elements: input "
                         << getInput().getType() << " has " << in << ", result "
                         << getResult().getType() << " has " << out;
  return success();
}

LogicalResult TransposeOp::verify() {
  ArrayRef<int64_t> perm = getPermutation();
  ArrayRef<int64_t> in = shapeOf(getInput());
  if (!internvl::isPermutation(perm, in.size()))
    return emitOpError() << "permutation " << formatShape(perm)
                         << " is not a permutation of 0.." << in.size() - 1;
  SmallVector<int64_t> expected;
  for (int64_t p : perm)
    expected.push_back(in[p]);
  return expectShape(*this, "result", getResult(), expected);
}

LogicalResult BroadcastOp::verify() {
  if (!internvl::isBroadcastableTo(shapeOf(getInput()), shapeOf(getResult())))
    return emitOpError() << "input " << getInput().getType()
                         << " does not broadcast to result "
                         << getResult().getType()
                         << " (aligned on the right, each input dimension "
                            "must be 1 or equal)";
  return success();
}

LogicalResult ConcatOp::verify() {
  // SameOperandsAndResultElementType already demands at least one input.
  ArrayRef<int64_t> first = shapeOf(getInputs().front());
  int64_t rank = first.size();
  int64_t dim = getDim();
  if (dim < 0 || dim >= rank)
    return emitOpError() << "dim " << dim << " is out of range for rank "
                         << rank;
  SmallVector<int64_t> expected(first);
  expected[dim] = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    ArrayRef<int64_t> shape = shapeOf(input);
    if (static_cast<int64_t>(shape.size()) != rank)
      return emitOpError() << "input #" << i << " has rank " << shape.size()
                           << ", expected " << rank;
    for (int64_t d = 0; d < rank; ++d)
      if (d != dim && shape[d] != first[d])
        return emitOpError()
               << "input #" << i << " has size " << shape[d] << " in dimension "
               << d << ", expected " << first[d] << " (only dimension " << dim
               << " may differ)";
    std::optional<int64_t> sum = ivl::checkedAdd(expected[dim], shape[dim]);
    if (!sum)
      return emitOpError() << "the inputs' sizes in dimension " << dim
                           << " overflow 64-bit sizes";
    expected[dim] = *sum;
  }
  return expectShape(*this, "result", getResult(), expected);
}

LogicalResult SliceOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput()), out = shapeOf(getResult());
  ArrayRef<int64_t> offsets = getOffsets();
  if (in.size() != out.size() || offsets.size() != in.size())
    return emitOpError() << "expected input, result and offsets of equal rank, "
                            "got "
                         << in.size() << ", " << out.size() << " and "
                         << offsets.size();
  // Types are within the tensor ceiling, offsets are anything a user wrote.
  for (size_t d = 0; d < in.size(); ++d) {
    if (out[d] > in[d])
      return emitOpError() << "slice of " << out[d] << " elements in dimension "
                           << d << " is larger than the input's size " << in[d];
    if (offsets[d] < 0 || offsets[d] > in[d] - out[d])
      return emitOpError() << "slice of " << out[d] << " elements at offset "
                           << offsets[d] << " in dimension " << d
                           << " is outside the input's size " << in[d]
                           << " (allowed offsets: 0.." << in[d] - out[d] << ")";
  }
  return success();
}

LogicalResult PadOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  ArrayRef<int64_t> low = getLow(), high = getHigh();
  if (low.size() != in.size() || high.size() != in.size())
    return emitOpError() << "expected low and high with " << in.size()
                         << " entries (the input's rank)";
  SmallVector<int64_t> expected;
  for (size_t d = 0; d < in.size(); ++d) {
    if (low[d] < 0 || high[d] < 0)
      return emitOpError() << "padding must be non-negative, got low " << low[d]
                           << " and high " << high[d] << " in dimension " << d;
    std::optional<int64_t> padded = ivl::checkedAdd(in[d], low[d]);
    if (padded)
      padded = ivl::checkedAdd(*padded, high[d]);
    if (!padded)
      return emitOpError() << "padding low " << low[d] << " and high "
                           << high[d] << " of dimension " << d
                           << " overflows 64-bit sizes";
    expected.push_back(*padded);
  }
  return expectShape(*this, "result", getResult(), expected);
}

LogicalResult ReduceSumOp::verify() {
  ArrayRef<int64_t> in = shapeOf(getInput());
  SmallVector<bool> reduced(in.size(), false);
  for (int64_t d : getDims()) {
    if (d < 0 || d >= static_cast<int64_t>(in.size()) || reduced[d])
      return emitOpError() << "dims " << formatShape(getDims())
                           << " must be distinct dimensions in [0, "
                           << in.size() << ")";
    reduced[d] = true;
  }
  SmallVector<int64_t> expected;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d])
      expected.push_back(in[d]);
    else if (getKeepDims())
      expected.push_back(1);
  }
  return expectShape(*this, "result", getResult(), expected);
}

//===----------------------------------------------------------------------===//
// Normalisation
//===----------------------------------------------------------------------===//

/// The common part of the norm ops: `input` is [..., D], the affine operands
/// are [D] of the input's element type, the statistics are [...] in f32.
static LogicalResult verifyNorm(Operation *op, Value input,
                                ArrayRef<std::pair<StringRef, Value>> affine,
                                ArrayRef<std::pair<StringRef, Value>> stats) {
  ArrayRef<int64_t> shape = shapeOf(input);
  if (shape.empty())
    return op->emitOpError()
           << "expected an input of rank >= 1, got " << input.getType();
  for (auto [name, v] : affine)
    if (failed(expectShape(op, name, v, {shape.back()})) ||
        failed(expectElementType(op, name, v, elementOf(input), "the input")))
      return failure();
  SmallVector<int64_t> rows = rowsShape(shape);
  for (auto [name, v] : stats)
    if (failed(expectShape(op, name, v, rows)))
      return failure();
  return success();
}

static LogicalResult expectSameType(Operation *op, StringRef what, Value v,
                                    Value reference, StringRef referenceName) {
  if (v.getType() == reference.getType())
    return success();
  return op->emitOpError() << "expected " << what << " of type "
                           << reference.getType() << " (the type of "
                           << referenceName << "), got " << v.getType();
}

LogicalResult LayerNormOp::verify() {
  if (failed(
          expectPositive(*this, "epsilon", getEpsilon().convertToDouble())) ||
      failed(expectSameType(*this, "result", getResult(), getInput(),
                            "the input")))
    return failure();
  return verifyNorm(*this, getInput(),
                    {{"weight", getWeight()}, {"bias", getBias()}},
                    {{"mean", getMean()}, {"rstd", getRstd()}});
}

LogicalResult LayerNormGradOp::verify() {
  if (failed(
          expectSameType(*this, "grad", getGrad(), getInput(), "the input")) ||
      failed(expectSameType(*this, "input_grad", getInputGrad(), getInput(),
                            "the input")) ||
      failed(expectSameType(*this, "weight_grad", getWeightGrad(), getWeight(),
                            "the weight")) ||
      failed(expectSameType(*this, "bias_grad", getBiasGrad(), getWeight(),
                            "the weight")))
    return failure();
  return verifyNorm(*this, getInput(), {{"weight", getWeight()}},
                    {{"mean", getMean()}, {"rstd", getRstd()}});
}

LogicalResult RmsNormOp::verify() {
  if (failed(
          expectPositive(*this, "epsilon", getEpsilon().convertToDouble())) ||
      failed(expectSameType(*this, "result", getResult(), getInput(),
                            "the input")))
    return failure();
  return verifyNorm(*this, getInput(), {{"weight", getWeight()}},
                    {{"rstd", getRstd()}});
}

LogicalResult RmsNormGradOp::verify() {
  if (failed(
          expectSameType(*this, "grad", getGrad(), getInput(), "the input")) ||
      failed(expectSameType(*this, "input_grad", getInputGrad(), getInput(),
                            "the input")) ||
      failed(expectSameType(*this, "weight_grad", getWeightGrad(), getWeight(),
                            "the weight")))
    return failure();
  return verifyNorm(*this, getInput(), {{"weight", getWeight()}},
                    {{"rstd", getRstd()}});
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

namespace {
/// Sizes of an attention problem, read off q [B,S,Hq,D], k [B,Skv,Hkv,D],
/// v [B,Skv,Hkv,Dv].
struct AttentionDims {
  int64_t b, s, hq, d, skv, hkv, dv;
};
} // namespace

/// Packed-sequence boundaries `[B, N+1]` (N >= 1) for rows of `length`
/// tokens; null when the op has none.
static LogicalResult verifySampleBounds(Operation *op, Value cu, int64_t b) {
  if (!cu)
    return success();
  ArrayRef<int64_t> c = shapeOf(cu);
  if (c.size() != 2 || c[0] != b || c[1] < 2)
    return op->emitOpError() << "expected cu_seqlens of shape [" << b
                             << ", N+1] with N >= 1 (sample boundaries per "
                                "row), got "
                             << cu.getType();
  return success();
}

static FailureOr<AttentionDims>
verifyAttentionOperands(Operation *op, Value q, Value k, Value v, Value cu,
                        bool causal, double scale, int64_t expectedSamples) {
  if (failed(expectRank(op, "query [B, S, Hq, D]", q, 4)) ||
      failed(expectRank(op, "key [B, Skv, Hkv, D]", k, 4)) ||
      failed(expectRank(op, "value [B, Skv, Hkv, Dv]", v, 4)) ||
      failed(expectElementType(op, "key", k, elementOf(q), "the query")) ||
      failed(expectElementType(op, "value", v, elementOf(q), "the query")) ||
      failed(expectPositive(op, "scale", scale)))
    return failure();
  ArrayRef<int64_t> qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v);
  AttentionDims dims{qs[0], qs[1], qs[2], qs[3], ks[1], ks[2], vs[3]};
  if (failed(expectShape(op, "key", k, {dims.b, dims.skv, dims.hkv, dims.d})) ||
      failed(
          expectShape(op, "value", v, {dims.b, dims.skv, dims.hkv, dims.dv})))
    return failure();
  if (dims.hq % dims.hkv != 0)
    return op->emitOpError()
           << "query heads (" << dims.hq
           << ") must be a multiple of key/value heads (" << dims.hkv << ")";
  if (causal && dims.s != dims.skv)
    return op->emitOpError() << "causal attention needs as many keys as "
                                "queries, got S = "
                             << dims.s << " and Skv = " << dims.skv;
  if (cu && dims.s != dims.skv)
    return op->emitOpError() << "packed sequences (cu_seqlens) need as many "
                                "keys as queries, got S = "
                             << dims.s << " and Skv = " << dims.skv;
  if (failed(verifySampleBounds(op, cu, dims.b)))
    return failure();
  if (expectedSamples != 1 &&
      (!cu || expectedSamples < 1 ||
       expectedSamples > shapeOf(cu)[1] - 1 || expectedSamples > dims.s))
    return op->emitOpError()
           << "expected_samples must be 1 without cu_seqlens, and in [1, "
              "min(N, S)] with them, got "
           << expectedSamples;
  return dims;
}

LogicalResult AttentionOp::verify() {
  FailureOr<AttentionDims> dims =
      verifyAttentionOperands(*this, getQuery(), getKey(), getValue(),
                              getCuSeqlens(), getCausal(),
                              getScale().convertToDouble(),
                              getExpectedSamples());
  if (failed(dims))
    return failure();
  if (failed(expectShape(*this, "output", getOutput(),
                         {dims->b, dims->s, dims->hq, dims->dv})) ||
      failed(expectElementType(*this, "output", getOutput(),
                               elementOf(getQuery()), "the query")))
    return failure();
  return expectShape(*this, "logsumexp", getLogsumexp(),
                     {dims->b, dims->hq, dims->s});
}

LogicalResult AttentionGradOp::verify() {
  FailureOr<AttentionDims> dims =
      verifyAttentionOperands(*this, getQuery(), getKey(), getValue(),
                              getCuSeqlens(), getCausal(),
                              getScale().convertToDouble(),
                              getExpectedSamples());
  if (failed(dims))
    return failure();
  if (failed(expectShape(*this, "output", getOutput(),
                         {dims->b, dims->s, dims->hq, dims->dv})) ||
      failed(expectSameType(*this, "grad", getGrad(), getOutput(),
                            "the output")) ||
      failed(expectShape(*this, "logsumexp", getLogsumexp(),
                         {dims->b, dims->hq, dims->s})))
    return failure();
  if (failed(expectSameType(*this, "query_grad", getQueryGrad(), getQuery(),
                            "the query")) ||
      failed(expectSameType(*this, "key_grad", getKeyGrad(), getKey(),
                            "the key")) ||
      failed(expectSameType(*this, "value_grad", getValueGrad(), getValue(),
                            "the value")))
    return failure();
  return success();
}

LogicalResult RopeOp::verify() {
  if (failed(expectRank(*this, "input [B, S, H, D]", getInput(), 4)) ||
      failed(expectPositive(*this, "theta", getTheta().convertToDouble())) ||
      failed(expectPositive(*this, "attention_factor",
                            getAttentionFactor().convertToDouble())))
    return failure();
  int64_t d = shapeOf(getInput())[3];
  if (d % 2 != 0)
    return emitOpError() << "head dimension must be even for rotate-half "
                            "pairing, got "
                         << d;
  if (failed(verifySampleBounds(*this, getCuSeqlens(), shapeOf(getInput())[0])))
    return failure();
  if (std::optional<ArrayRef<double>> factors = getFreqFactors()) {
    if (static_cast<int64_t>(factors->size()) != d / 2)
      return emitOpError() << "expected " << d / 2
                           << " freq_factors (one per frequency, head "
                              "dimension / 2), got "
                           << factors->size();
    for (double f : *factors)
      if (failed(expectPositive(*this, "every freq_factor", f)))
        return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Embeddings and multimodal plumbing
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(expectRank(*this, "table [V, H]", getTable(), 2)))
    return failure();
  SmallVector<int64_t> expected(shapeOf(getIndices()));
  expected.push_back(shapeOf(getTable())[1]);
  if (failed(expectShape(*this, "result", getResult(), expected)))
    return failure();
  return expectElementType(*this, "result", getResult(), elementOf(getTable()),
                           "the table");
}

LogicalResult EmbeddingGradOp::verify() {
  if (failed(expectRank(*this, "result [V, H]", getResult(), 2)))
    return failure();
  SmallVector<int64_t> expected(shapeOf(getIndices()));
  expected.push_back(shapeOf(getResult())[1]);
  if (failed(expectShape(*this, "grad", getGrad(), expected)))
    return failure();
  return expectElementType(*this, "result", getResult(), elementOf(getGrad()),
                           "the grad");
}

/// `embeds` [B, S, H] and `ids` [B, S].
static LogicalResult verifyTokenGrid(Operation *op, StringRef what,
                                     Value embeds, Value ids) {
  if (failed(expectRank(op, (what + " [B, S, H]").str(), embeds, 3)))
    return failure();
  return expectShape(op, "input_ids", ids, rowsShape(shapeOf(embeds)));
}

/// InternVL's image_flags `[tiles]`: one per tile of the `rows` image
/// embeddings, which the tiles split evenly.
static LogicalResult verifyImageFlags(Operation *op, Value flags,
                                      int64_t rows) {
  if (!flags)
    return success();
  ArrayRef<int64_t> f = shapeOf(flags);
  if (f.size() != 1 || f[0] < 1 || rows % f[0] != 0)
    return op->emitOpError()
           << "expected image_flags of shape [tiles] with tiles dividing the "
           << rows << " image embeddings, got " << flags.getType();
  return success();
}

LogicalResult ScatterImageEmbedsOp::verify() {
  if (failed(verifyTokenGrid(*this, "embeds", getEmbeds(), getInputIds())) ||
      failed(expectRank(*this, "image_embeds [N, H]", getImageEmbeds(), 2)))
    return failure();
  int64_t h = shapeOf(getEmbeds())[2];
  if (shapeOf(getImageEmbeds())[1] != h)
    return emitOpError() << "expected image_embeds of shape [N, " << h
                         << "] (H = the text embedding width), got "
                         << getImageEmbeds().getType();
  if (failed(expectElementType(*this, "image_embeds", getImageEmbeds(),
                               elementOf(getEmbeds()), "the embeds")))
    return failure();
  if (failed(verifyImageFlags(*this, getImageFlags(),
                              shapeOf(getImageEmbeds())[0])))
    return failure();
  // With flags, only the used rows need positions (checked at run time).
  int64_t tokens = shapeOf(getInputIds())[0] * shapeOf(getInputIds())[1];
  if (!getImageFlags() && shapeOf(getImageEmbeds())[0] > tokens)
    return emitOpError() << shapeOf(getImageEmbeds())[0]
                         << " image embeddings do not fit in " << tokens
                         << " token positions";
  return expectSameType(*this, "result", getResult(), getEmbeds(),
                        "the embeds");
}

LogicalResult GatherImageEmbedsOp::verify() {
  if (failed(verifyTokenGrid(*this, "grad", getGrad(), getInputIds())) ||
      failed(expectRank(*this, "result [N, H]", getResult(), 2)))
    return failure();
  int64_t h = shapeOf(getGrad())[2];
  if (shapeOf(getResult())[1] != h)
    return emitOpError() << "expected result of shape [N, " << h
                         << "] (H = the grad's width), got "
                         << getResult().getType();
  if (failed(verifyImageFlags(*this, getImageFlags(), shapeOf(getResult())[0])))
    return failure();
  return expectElementType(*this, "result", getResult(), elementOf(getGrad()),
                           "the grad");
}

LogicalResult MaskImagePositionsOp::verify() {
  return verifyTokenGrid(*this, "grad", getGrad(), getInputIds());
}

/// Whether `x` is within rounding of an integer; stores it.
static bool asInteger(double x, int64_t &out) {
  double r = std::round(x);
  if (std::fabs(x - r) > 1e-9 * std::max(1.0, std::fabs(x)))
    return false;
  out = static_cast<int64_t>(r);
  return true;
}

LogicalResult PixelShuffleOp::verify() {
  if (failed(expectRank(*this, "input [N, W, H, C]", getInput(), 4)))
    return failure();
  double s = getScaleFactor().convertToDouble();
  if (failed(expectPositive(*this, "scale_factor", s)))
    return failure();
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t w, h, cs, c2;
  if (!asInteger(in[1] * s, w) || !asInteger(in[2] * s, h) ||
      !asInteger(in[3] / s, cs) || !asInteger(in[3] / (s * s), c2) || w < 1 ||
      h < 1)
    return emitOpError() << "scale_factor " << s << " does not divide the grid "
                         << formatShape(in)
                         << " evenly (W*s, H*s, C/s and C/s^2 must be "
                            "positive integers)";
  // v1 leaves the spatial dimensions in the transposed order of InternVL's
  // first permute; v2 permutes them back.
  SmallVector<int64_t> expected = getVersion() == PixelShuffleVersion::V2
                                      ? SmallVector<int64_t>{in[0], w, h, c2}
                                      : SmallVector<int64_t>{in[0], h, w, c2};
  return expectShape(*this, "result", getResult(), expected);
}

//===----------------------------------------------------------------------===//
// Regularisation and loss
//===----------------------------------------------------------------------===//

LogicalResult DropPathOp::verify() {
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError() << "rate must be in [0, 1), got " << rate;
  if (tensorOf(getInput()).getRank() < 1)
    return emitOpError() << "expected an input with a batch dimension, got "
                         << getInput().getType();
  // I64Attr getters are unsigned; read the value as the signed i64 it is.
  if (static_cast<int64_t>(getOffset()) < 0)
    return emitOpError() << "offset must be non-negative, got "
                         << static_cast<int64_t>(getOffset());
  return success();
}

LogicalResult DropoutOp::verify() {
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError() << "rate must be in [0, 1), got " << rate;
  int64_t offset = static_cast<int64_t>(getOffset());
  if (offset < 0 || offset >= ivl::kMaxDropoutOffset)
    return emitOpError() << "offset must be in [0, " << ivl::kMaxDropoutOffset
                         << "), got " << offset;
  return success();
}

/// `logits` [T, V], `labels` [T], `lse` [T].
static LogicalResult verifyCrossEntropyOperands(Operation *op, Value logits,
                                                Value labels, Value lse,
                                                Value weights) {
  if (failed(expectRank(op, "logits [T, V]", logits, 2)))
    return failure();
  int64_t t = shapeOf(logits)[0];
  if (failed(expectShape(op, "labels", labels, {t})))
    return failure();
  if (weights && failed(expectShape(op, "weights", weights, {t})))
    return failure();
  return expectShape(op, "logsumexp", lse, {t});
}

LogicalResult CrossEntropyOp::verify() {
  return verifyCrossEntropyOperands(*this, getLogits(), getLabels(),
                                    getLogsumexp(), getWeights());
}

LogicalResult CrossEntropyGradOp::verify() {
  return verifyCrossEntropyOperands(*this, getLogits(), getLabels(),
                                    getLogsumexp(), getWeights());
}

/// `hidden` [B, S, H], `weight` [V, H] of the same type, `labels`,
/// `weights` and `lse` [B, S], and a chunk of 1 to B*S rows.
static LogicalResult
verifyLinearCrossEntropyOperands(Operation *op, Value hidden, Value weight,
                                 Value labels, Value lse, Value weights,
                                 int64_t chunk) {
  if (failed(expectRank(op, "hidden [B, S, H]", hidden, 3)) ||
      failed(expectRank(op, "weight [V, H]", weight, 2)))
    return failure();
  ArrayRef<int64_t> h = shapeOf(hidden);
  if (shapeOf(weight)[1] != h[2])
    return op->emitOpError()
           << "expected weight of shape [V, " << h[2] << "] (H = " << h[2]
           << " is the hidden state's last dimension), got "
           << weight.getType();
  if (failed(expectElementType(op, "weight", weight, elementOf(hidden),
                               "the hidden state")) ||
      failed(expectShape(op, "labels", labels, {h[0], h[1]})) ||
      failed(expectShape(op, "logsumexp", lse, {h[0], h[1]})))
    return failure();
  if (weights && failed(expectShape(op, "weights", weights, {h[0], h[1]})))
    return failure();
  int64_t tokens = h[0] * h[1];
  if (chunk < 1 || chunk > std::max<int64_t>(tokens, 1))
    return op->emitOpError() << "chunk_tokens must be in [1, "
                             << std::max<int64_t>(tokens, 1)
                             << "] (the B*S tokens), got " << chunk;
  return success();
}

LogicalResult LinearCrossEntropyOp::verify() {
  return verifyLinearCrossEntropyOperands(
      *this, getHidden(), getWeight(), getLabels(), getLogsumexp(),
      getWeights(), static_cast<int64_t>(getChunkTokens()));
}

LogicalResult LinearCrossEntropyGradOp::verify() {
  if (failed(verifyLinearCrossEntropyOperands(
          *this, getHidden(), getWeight(), getLabels(), getLogsumexp(),
          getWeights(), static_cast<int64_t>(getChunkTokens()))))
    return failure();
  if (Value dh = getHiddenGrad(); dh.getType() != getHidden().getType())
    return emitOpError() << "expected hidden_grad of type "
                         << getHidden().getType() << ", got " << dh.getType();
  if (Value dw = getWeightGrad(); dw && dw.getType() != getWeight().getType())
    return emitOpError() << "expected weight_grad of type "
                         << getWeight().getType() << ", got " << dw.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

LogicalResult GlobalNormOp::verify() {
  if (getGrads().empty())
    return emitOpError() << "expected at least one gradient";
  return success();
}

LogicalResult ClipScaleOp::verify() {
  return expectPositive(*this, "max_norm", getMaxNorm().convertToDouble());
}

/// lr, betas, epsilon and weight decay of an AdamW op.
static LogicalResult verifyAdamWHyperparameters(Operation *op, double lr,
                                                double beta1, double beta2,
                                                double epsilon,
                                                double weightDecay) {
  std::pair<StringRef, double> betas[] = {{"beta1", beta1}, {"beta2", beta2}};
  for (auto [name, value] : betas)
    if (!(value >= 0.0 && value < 1.0))
      return op->emitOpError() << name << " must be in [0, 1), got " << value;
  if (failed(expectPositive(op, "epsilon", epsilon)))
    return failure();
  std::pair<StringRef, double> rates[] = {{"lr", lr},
                                          {"weight_decay", weightDecay}};
  for (auto [name, value] : rates)
    if (!(value >= 0.0 && std::isfinite(value)))
      return op->emitOpError()
             << name << " must be a non-negative finite number, got " << value;
  return success();
}

/// AdamW's state, gradient and results all have `shape`, and its
/// hyperparameters are in range (tg.adamw and tg.shard_adamw alike).
template <typename AdamWLike>
static LogicalResult verifyAdamWOperands(AdamWLike op,
                                         ArrayRef<int64_t> shape) {
  std::pair<StringRef, Value> sameShape[] = {
      {"master", op.getMaster()},
      {"exp_avg", op.getExpAvg()},
      {"exp_avg_sq", op.getExpAvgSq()},
      {"grad", op.getGrad()},
      {"new_master", op.getNewMaster()},
      {"new_exp_avg", op.getNewExpAvg()},
      {"new_exp_avg_sq", op.getNewExpAvgSq()},
      {"new_param", op.getNewParam()}};
  for (auto [name, v] : sameShape)
    if (failed(expectShape(op, name, v, shape)))
      return failure();
  return verifyAdamWHyperparameters(
      op, op.getLr().convertToDouble(), op.getBeta1().convertToDouble(),
      op.getBeta2().convertToDouble(), op.getEpsilon().convertToDouble(),
      op.getWeightDecay().convertToDouble());
}

LogicalResult AdamWOp::verify() {
  return verifyAdamWOperands(*this, shapeOf(getMaster()));
}

//===----------------------------------------------------------------------===//
// Data parallel
//===----------------------------------------------------------------------===//

static LogicalResult expectWorldSize(Operation *op, int64_t worldSize) {
  if (worldSize >= 1 && worldSize <= kMaxWorldSize)
    return success();
  return op->emitOpError() << "world_size must be in [1, " << kMaxWorldSize
                           << "], got " << worldSize;
}

/// The shard length of `elements` split over `worldSize` ranks.
static int64_t shardLength(int64_t elements, int64_t worldSize) {
  return elements / worldSize + (elements % worldSize != 0);
}

/// Elements of all `values` (each within the tensor ceiling), or nothing
/// when their sum overflows.
static std::optional<int64_t> totalElements(ValueRange values) {
  int64_t n = 0;
  for (Value v : values) {
    std::optional<int64_t> sum =
        ivl::checkedAdd(n, tensorOf(v).getNumElements());
    if (!sum)
      return std::nullopt;
    n = *sum;
  }
  return n;
}

/// The shard of the concatenation of `values` over `worldSize` ranks must be
/// `shard` [c].
static LogicalResult expectShardOf(Operation *op, StringRef what,
                                   ValueRange values, int64_t worldSize,
                                   Value shard) {
  std::optional<int64_t> total = totalElements(values);
  if (!total)
    return op->emitOpError() << "the elements of " << what
                             << " overflow 64-bit sizes";
  return expectShape(op, "shard", shard, {shardLength(*total, worldSize)});
}

/// All values have `element` as element type.
static LogicalResult expectSameElements(Operation *op, StringRef what,
                                        ValueRange values, Type element,
                                        StringRef reference) {
  for (Value v : values)
    if (failed(expectElementType(op, what, v, element, reference)))
      return failure();
  return success();
}

LogicalResult AllReduceMeanOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "expected at least one tensor";
  if (getInputs().getTypes() != getResults().getTypes())
    return emitOpError() << "expected each result to have its operand's type";
  return expectWorldSize(*this, getWorldSize());
}

LogicalResult ReduceScatterMeanOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "expected at least one tensor";
  if (failed(expectWorldSize(*this, getWorldSize())) ||
      failed(expectSameElements(*this, "every operand", getInputs(),
                                elementOf(getShard()), "the shard")))
    return failure();
  return expectShardOf(*this, "the operands", getInputs(), getWorldSize(),
                       getShard());
}

LogicalResult AllGatherOp::verify() {
  if (getResults().empty())
    return emitOpError() << "expected at least one result";
  if (!getDests().empty() &&
      getDests().getTypes() != getResults().getTypes())
    return emitOpError()
           << "expected each result to have its destination's type";
  if (failed(expectWorldSize(*this, getWorldSize())) ||
      failed(expectSameElements(*this, "every result", getResults(),
                                elementOf(getShard()), "the shard")))
    return failure();
  return expectShardOf(*this, "the results", getResults(), getWorldSize(),
                       getShard());
}

LogicalResult ShardAdamWOp::verify() {
  if (failed(expectWorldSize(*this, getWorldSize())))
    return failure();
  int64_t elements = 0;
  for (int64_t n : getSegments()) {
    if (n <= 0 || n > INT64_MAX - elements)
      return emitOpError() << "segments must be positive and sum to at most "
                           << INT64_MAX << ", got " << n;
    elements += n;
  }
  if (getDecay().size() != getSegments().size())
    return emitOpError() << "expected one decay flag per segment ("
                         << getSegments().size() << "), got "
                         << getDecay().size();
  if (getParam() && getParam().getType() != getNewParam().getType())
    return emitOpError() << "expected param to have new_param's type, got "
                         << getParam().getType();
  return verifyAdamWOperands(*this, {shardLength(elements, getWorldSize())});
}

LogicalResult OffloadOp::verify() {
  // Once in host memory a value is only waited for and brought back.
  for (Operation *user : getResult().getUsers())
    if (!isa<CommWaitOp>(user))
      return emitOpError() << "result may only be read by tg.comm_wait, not by "
                           << user->getName();
  return success();
}

LogicalResult PrefetchOp::verify() {
  Value source = getInput();
  if (auto wait = source.getDefiningOp<CommWaitOp>())
    source = wait.getOperand(cast<OpResult>(source).getResultNumber());
  if (!source.getDefiningOp<OffloadOp>())
    return emitOpError() << "expected an offloaded value (tg.offload, through "
                            "its tg.comm_wait)";
  return success();
}

LogicalResult CommWaitOp::verify() {
  if (getInputs().getTypes() != getResults().getTypes())
    return emitOpError() << "expected each result to have its operand's type";
  return success();
}
