//===- TGGradients.cpp - reverse-mode rules of the forward tg ops ---------===//
//
// Each rule emits the operand gradients from the result gradients with the
// forward op's own operands and results (never a recomputation), so the
// values backward reads are exactly the activations the forward produced.
// Gradients have the type of the value they belong to.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Support/Shape.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::tg;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return typeOf(v).getShape(); }

RankedTensorType withShape(Value like, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, typeOf(like).getElementType());
}

/// Builds gradient ops at the insertion point of `b`.
struct GradBuilder {
  OpBuilder &b;
  Location loc;

  template <typename OpTy, typename... Args> OpTy create(Args &&...args) {
    return b.create<OpTy>(loc, std::forward<Args>(args)...);
  }

  Value reshape(Value v, ArrayRef<int64_t> shape) {
    if (shapeOf(v) == shape)
      return v;
    return create<ReshapeOp>(withShape(v, shape), v);
  }

  /// Sums `grad` over the dimensions a broadcast to its shape added or
  /// stretched, giving the gradient of an operand of shape `target`.
  Value unbroadcast(Value grad, Type target) {
    auto targetType = cast<RankedTensorType>(target);
    if (typeOf(grad).getShape() == targetType.getShape())
      return grad;
    SmallVector<int64_t> dims =
        internvl::broadcastedDims(targetType.getShape(), shapeOf(grad));
    SmallVector<int64_t> reduced;
    for (auto [i, d] : llvm::enumerate(shapeOf(grad)))
      if (!llvm::is_contained(dims, static_cast<int64_t>(i)))
        reduced.push_back(d);
    Value sum = create<ReduceSumOp>(
        RankedTensorType::get(reduced, targetType.getElementType()), grad,
        b.getDenseI64ArrayAttr(dims), UnitAttr());
    return reshape(sum, targetType.getShape());
  }
};

/// The one result gradient of a single-result op (null if none).
Value onlyGrad(ValueRange resultGrads) { return resultGrads.front(); }

} // namespace

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult AddOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(2, Value());
  if (needed[0])
    grads[0] = g.unbroadcast(dy, getLhs().getType());
  if (needed[1])
    grads[1] = g.unbroadcast(dy, getRhs().getType());
  return success();
}

LogicalResult SubOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(2, Value());
  if (needed[0])
    grads[0] = g.unbroadcast(dy, getLhs().getType());
  if (needed[1])
    grads[1] = g.unbroadcast(g.create<NegOp>(dy), getRhs().getType());
  return success();
}

LogicalResult MulOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(2, Value());
  if (needed[0])
    grads[0] = g.unbroadcast(g.create<MulOp>(dy.getType(), dy, getRhs()),
                             getLhs().getType());
  if (needed[1])
    grads[1] = g.unbroadcast(g.create<MulOp>(dy.getType(), dy, getLhs()),
                             getRhs().getType());
  return success();
}

LogicalResult DivOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(2, Value());
  Value dyOverB = g.create<DivOp>(dy.getType(), dy, getRhs());
  if (needed[0])
    grads[0] = g.unbroadcast(dyOverB, getLhs().getType());
  if (needed[1]) {
    // d(a/b)/db = -(a/b)/b: -dy/b * y.
    Value t = g.create<MulOp>(dy.getType(), dyOverB, getResult());
    grads[1] = g.unbroadcast(g.create<NegOp>(t), getRhs().getType());
  }
  return success();
}

LogicalResult NegOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] =
        GradBuilder{builder, getLoc()}.create<NegOp>(onlyGrad(resultGrads));
  return success();
}

LogicalResult ScaleOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<ScaleOp>(
        onlyGrad(resultGrads), getFactorAttr());
  return success();
}

LogicalResult CastOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<CastOp>(
        getInput().getType(), onlyGrad(resultGrads));
  return success();
}

LogicalResult GeluOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<GeluGradOp>(
        onlyGrad(resultGrads), getInput(), getApproximateAttr());
  return success();
}

LogicalResult SiluOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<SiluGradOp>(
        onlyGrad(resultGrads), getInput());
  return success();
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::buildGradient(OpBuilder &builder,
                                      ValueRange resultGrads,
                                      ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(getNumOperands(), Value());
  int64_t n = shapeOf(getWeight())[0], k = shapeOf(getWeight())[1];
  int64_t rows = typeOf(getInput()).getNumElements() / k;
  // dX = dY · W.
  if (needed[0])
    grads[0] = g.create<MatmulOp>(getInput().getType(), dy, getWeight(),
                                  UnitAttr(), UnitAttr());
  // dW = dYᵀ · X over all rows.
  if (needed[1]) {
    Value dyRows = g.reshape(dy, {rows, n});
    Value xRows = g.reshape(getInput(), {rows, k});
    grads[1] = g.create<MatmulOp>(getWeight().getType(), dyRows, xRows,
                                  builder.getUnitAttr(), UnitAttr());
  }
  // db = Σ_rows dY.
  if (getBias() && needed[2]) {
    SmallVector<int64_t> dims;
    for (int64_t d = 0; d + 1 < typeOf(dy).getRank(); ++d)
      dims.push_back(d);
    grads[2] =
        g.create<ReduceSumOp>(getBias().getType(), dy,
                              builder.getDenseI64ArrayAttr(dims), UnitAttr());
  }
  return success();
}

LogicalResult MatmulOp::buildGradient(OpBuilder &builder,
                                      ValueRange resultGrads,
                                      ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dc = onlyGrad(resultGrads);
  Value a = getLhs(), bm = getRhs();
  bool ta = getTransposeLhs(), tb = getTransposeRhs();
  UnitAttr yes = builder.getUnitAttr(), no;
  auto flag = [&](bool f) { return f ? yes : no; };
  grads.assign(2, Value());
  bool shared = typeOf(bm).getRank() == 2 && typeOf(a).getRank() > 2;
  if (shared) {
    // A matrix rhs shared by all rows: differentiate the flattened product
    // [rows, K] · op(B) and reshape dA back.
    int64_t k = shapeOf(a).back();
    int64_t rows = typeOf(a).getNumElements() / k;
    int64_t n = shapeOf(dc).back();
    Value a2 = g.reshape(a, {rows, k});
    Value dc2 = g.reshape(dc, {rows, n});
    if (needed[0])
      grads[0] = g.reshape(
          g.create<MatmulOp>(withShape(a, {rows, k}), dc2, bm, no, flag(!tb)),
          shapeOf(a));
    if (needed[1])
      grads[1] =
          tb ? g.create<MatmulOp>(bm.getType(), dc2, a2, yes, no).getResult()
             : g.create<MatmulOp>(bm.getType(), a2, dc2, yes, no).getResult();
    return success();
  }
  // C = op(A)·op(B); see the four cases of the transposition flags.
  if (needed[0]) {
    if (!ta)
      grads[0] = g.create<MatmulOp>(a.getType(), dc, bm, no, flag(!tb));
    else
      grads[0] = g.create<MatmulOp>(a.getType(), bm, dc, flag(tb), yes);
  }
  if (needed[1]) {
    if (!tb)
      grads[1] = g.create<MatmulOp>(bm.getType(), a, dc, flag(!ta), no);
    else
      grads[1] = g.create<MatmulOp>(bm.getType(), dc, a, yes, flag(ta));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::buildGradient(OpBuilder &builder,
                                       ValueRange resultGrads,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<ReshapeOp>(
        getInput().getType(), onlyGrad(resultGrads));
  return success();
}

LogicalResult TransposeOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (!needed[0])
    return success();
  ArrayRef<int64_t> perm = getPermutation();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  grads[0] = GradBuilder{builder, getLoc()}.create<TransposeOp>(
      getInput().getType(), onlyGrad(resultGrads),
      builder.getDenseI64ArrayAttr(inverse));
  return success();
}

LogicalResult BroadcastOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.unbroadcast(onlyGrad(resultGrads),
                                                          getInput().getType());
  return success();
}

LogicalResult ConcatOp::buildGradient(OpBuilder &builder,
                                      ValueRange resultGrads,
                                      ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(getNumOperands(), Value());
  int64_t dim = static_cast<int64_t>(getDim());
  int64_t start = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    if (needed[i]) {
      SmallVector<int64_t> offsets(typeOf(dy).getRank(), 0);
      offsets[dim] = start;
      grads[i] = g.create<SliceOp>(input.getType(), dy,
                                   builder.getDenseI64ArrayAttr(offsets));
    }
    start += shapeOf(input)[dim];
  }
  return success();
}

LogicalResult SliceOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (!needed[0])
    return success();
  ArrayRef<int64_t> in = shapeOf(getInput()), out = shapeOf(getResult());
  SmallVector<int64_t> high;
  for (auto [d, offset] : llvm::enumerate(getOffsets()))
    high.push_back(in[d] - offset - out[d]);
  grads[0] = GradBuilder{builder, getLoc()}.create<PadOp>(
      getInput().getType(), onlyGrad(resultGrads), getOffsetsAttr(),
      builder.getDenseI64ArrayAttr(high));
  return success();
}

LogicalResult PadOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  grads.assign(1, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<SliceOp>(
        getInput().getType(), onlyGrad(resultGrads), getLowAttr());
  return success();
}

LogicalResult ReduceSumOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  grads.assign(1, Value());
  if (!needed[0])
    return success();
  // Put the summed dimensions back as size 1, then broadcast.
  SmallVector<int64_t> kept(shapeOf(getInput()));
  for (int64_t d : getDims())
    kept[d] = 1;
  Value dy = onlyGrad(resultGrads);
  auto inType = typeOf(getInput());
  Value asKept = g.reshape(dy, kept);
  if (typeOf(dy).getElementType() != inType.getElementType())
    asKept = g.create<CastOp>(
        RankedTensorType::get(kept, inType.getElementType()), asKept);
  grads[0] = g.create<BroadcastOp>(inType, asKept);
  return success();
}

LogicalResult PixelShuffleOp::buildGradient(OpBuilder &builder,
                                            ValueRange resultGrads,
                                            ArrayRef<bool> needed,
                                            SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  grads.assign(1, Value());
  if (!needed[0])
    return success();
  // Undo InternVL's steps in reverse: [v2: swap spatial dims], view
  // [n, h*s, w, c/s], swap dims 1 and 2, view [n, w, h, c].
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t n = in[0], w = in[1], h = in[2], c = in[3];
  double s = getScaleFactor().convertToDouble();
  int64_t hs = static_cast<int64_t>(h * s + 0.5);
  int64_t cs = static_cast<int64_t>(c / s + 0.5);
  DenseI64ArrayAttr swap = builder.getDenseI64ArrayAttr({0, 2, 1, 3});
  Value dy = onlyGrad(resultGrads);
  if (getVersion() == PixelShuffleVersion::V2) {
    ArrayRef<int64_t> out = shapeOf(dy);
    dy = g.create<TransposeOp>(withShape(dy, {out[0], out[2], out[1], out[3]}),
                               dy, swap);
  }
  Value viewed = g.reshape(dy, {n, hs, w, cs});
  Value swapped =
      g.create<TransposeOp>(withShape(dy, {n, w, hs, cs}), viewed, swap);
  grads[0] = g.reshape(swapped, in);
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisation and attention
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(3, Value());
  Value dy = resultGrads[0];
  if (resultGrads[1] || resultGrads[2])
    return emitOpError() << "has a gradient flowing into its statistics "
                            "(mean/rstd), which is not supported";
  auto grad = GradBuilder{builder, getLoc()}.create<LayerNormGradOp>(
      getInput().getType(), getWeight().getType(), getBias().getType(), dy,
      getInput(), getWeight(), getMean(), getRstd());
  for (int i = 0; i < 3; ++i)
    if (needed[i])
      grads[i] = grad->getResult(i);
  return success();
}

LogicalResult RmsNormOp::buildGradient(OpBuilder &builder,
                                       ValueRange resultGrads,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  grads.assign(2, Value());
  if (resultGrads[1])
    return emitOpError() << "has a gradient flowing into its rstd statistic, "
                            "which is not supported";
  auto grad = GradBuilder{builder, getLoc()}.create<RmsNormGradOp>(
      getInput().getType(), getWeight().getType(), resultGrads[0], getInput(),
      getWeight(), getRstd());
  for (int i = 0; i < 2; ++i)
    if (needed[i])
      grads[i] = grad->getResult(i);
  return success();
}

LogicalResult AttentionOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(getNumOperands(), Value());
  if (resultGrads[1])
    return emitOpError() << "has a gradient flowing into its logsumexp, which "
                            "is not supported";
  auto grad = GradBuilder{builder, getLoc()}.create<AttentionGradOp>(
      getQuery().getType(), getKey().getType(), getValue().getType(),
      resultGrads[0], getQuery(), getKey(), getValue(), getOutput(),
      getLogsumexp(), getCuSeqlens(), getCausalAttr(), getScaleAttr(),
      getExpectedSamplesAttr());
  for (int i = 0; i < 3; ++i)
    if (needed[i])
      grads[i] = grad->getResult(i);
  return success();
}

LogicalResult RopeOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  grads.assign(getNumOperands(), Value());
  if (!needed[0])
    return success();
  // The transposed rotation (same scale, same positions) is the gradient.
  UnitAttr inverse = getInverse() ? UnitAttr() : builder.getUnitAttr();
  grads[0] = GradBuilder{builder, getLoc()}.create<RopeOp>(
      getInput().getType(), onlyGrad(resultGrads), getCuSeqlens(),
      getThetaAttr(), inverse, getFreqFactorsAttr(),
      getAttentionFactorAttr());
  return success();
}

//===----------------------------------------------------------------------===//
// Embeddings, image scatter, drop_path, loss
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::buildGradient(OpBuilder &builder,
                                         ValueRange resultGrads,
                                         ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.assign(2, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<EmbeddingGradOp>(
        getTable().getType(), onlyGrad(resultGrads), getIndices());
  return success();
}

LogicalResult
ScatterImageEmbedsOp::buildGradient(OpBuilder &builder, ValueRange resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder g{builder, getLoc()};
  Value dy = onlyGrad(resultGrads);
  grads.assign(getNumOperands(), Value());
  if (needed[0])
    grads[0] = g.create<MaskImagePositionsOp>(
        getEmbeds().getType(), dy, getInputIds(), getImageTokenIdAttr());
  if (needed[2])
    grads[2] = g.create<GatherImageEmbedsOp>(
        getImageEmbeds().getType(), dy, getInputIds(), getImageFlags(),
        getImageTokenIdAttr());
  return success();
}

/// drop_path and dropout are linear in their input with a mask that (seed,
/// offset, step) fixes: the gradient is the same op on the incoming gradient.
template <typename MaskOp>
static LogicalResult buildMaskGradient(MaskOp op, OpBuilder &builder,
                                       ValueRange resultGrads,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  grads.assign(2, Value());
  if (needed[0])
    grads[0] = GradBuilder{builder, op.getLoc()}.template create<MaskOp>(
        op.getInput().getType(), onlyGrad(resultGrads), op.getStep(),
        op.getRateAttr(), op.getSeedAttr(), op.getOffsetAttr());
  return success();
}

LogicalResult DropPathOp::buildGradient(OpBuilder &builder,
                                        ValueRange resultGrads,
                                        ArrayRef<bool> needed,
                                        SmallVectorImpl<Value> &grads) {
  return buildMaskGradient(*this, builder, resultGrads, needed, grads);
}

LogicalResult DropoutOp::buildGradient(OpBuilder &builder,
                                       ValueRange resultGrads,
                                       ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  return buildMaskGradient(*this, builder, resultGrads, needed, grads);
}

LogicalResult LinearCrossEntropyOp::buildGradient(
    OpBuilder &builder, ValueRange resultGrads, ArrayRef<bool> needed,
    SmallVectorImpl<Value> &grads) {
  grads.assign(getNumOperands(), Value());
  if (resultGrads[1])
    return emitOpError() << "has a gradient flowing into its logsumexp, which "
                            "is not supported";
  if (getWeights() && needed[3])
    return emitOpError() << "has trainable loss weights, which is not "
                            "supported (InternVL's loss_weight is data)";
  if (!needed[0] && !needed[1])
    return success();
  // The hidden state's gradient is always computed (only a step that trains
  // lm_head alone would not need it).
  auto grad = GradBuilder{builder, getLoc()}.create<LinearCrossEntropyGradOp>(
      getHidden().getType(), needed[1] ? getWeight().getType() : Type(),
      resultGrads[0], getHidden(),
      getWeight(), getLabels(), getLogsumexp(), getWeights(),
      getIgnoreIndexAttr(), getChunkTokensAttr());
  if (needed[0])
    grads[0] = grad.getHiddenGrad();
  grads[1] = grad.getWeightGrad();
  return success();
}

LogicalResult CrossEntropyOp::buildGradient(OpBuilder &builder,
                                            ValueRange resultGrads,
                                            ArrayRef<bool> needed,
                                            SmallVectorImpl<Value> &grads) {
  grads.assign(getNumOperands(), Value());
  if (resultGrads[1])
    return emitOpError() << "has a gradient flowing into its logsumexp, which "
                            "is not supported";
  if (getWeights() && needed[2])
    return emitOpError() << "has trainable loss weights, which is not "
                            "supported (InternVL's loss_weight is data)";
  if (needed[0])
    grads[0] = GradBuilder{builder, getLoc()}.create<CrossEntropyGradOp>(
        getLogits().getType(), resultGrads[0], getLogits(), getLabels(),
        getLogsumexp(), getWeights(), getIgnoreIndexAttr());
  return success();
}
