//===- ForwardGraph.cpp - InternVL forward pass as a tg function ----------===//
//
// Mirrors InternVLChatModel.forward (and transformers' InternVL, which has the
// same arithmetic under other names) op by op, so that the interpreter can be
// checked against PyTorch and the memory plan sees every tensor the real
// training step materialises.
//
//===----------------------------------------------------------------------===//

#include "internvl/Import/ForwardGraph.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Import/ParamNames.h"
#include "internvl/Support/Region.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <cmath>

using namespace mlir;
using namespace internvl;

namespace {

/// Builds @forward. Arguments are appended to the entry block as the graph
/// needs them (inputs first, then parameters in module order); the function
/// type is fixed at the end.
class ForwardBuilder {
public:
  ForwardBuilder(MLIRContext &context, const ModelConfig &config,
                 const ImportOptions &options, const ImportShape &shape)
      : context(context), b(&context), loc(UnknownLoc::get(&context)),
        config(config), options(options), shape(shape),
        names(ParamNames::get(config.format, config.llm.family)) {
    act = options.bf16 ? Type(b.getBF16Type()) : Type(b.getF32Type());
  }

  OwningOpRef<ModuleOp> build();

private:
  //===--------------------------------------------------------------------===//
  // Arguments
  //===--------------------------------------------------------------------===//

  RankedTensorType tensor(ArrayRef<int64_t> dims, Type element) {
    return RankedTensorType::get(dims, element);
  }
  RankedTensorType tensor(ArrayRef<int64_t> dims) { return tensor(dims, act); }

  Value addArgument(StringRef name, StringRef kind, RankedTensorType type,
                    bool trainable, StringRef init = {}) {
    SmallVector<NamedAttribute> attrs = {
        b.getNamedAttr(tg::TGDialect::getNameAttrName(), b.getStringAttr(name)),
        b.getNamedAttr(tg::TGDialect::getKindAttrName(),
                       b.getStringAttr(kind))};
    if (!init.empty())
      attrs.push_back(b.getNamedAttr(tg::TGDialect::getInitAttrName(),
                                     b.getStringAttr(init)));
    if (trainable)
      attrs.push_back(b.getNamedAttr(tg::TGDialect::getTrainableAttrName(),
                                     b.getUnitAttr()));
    argAttrs.push_back(b.getDictionaryAttr(attrs));
    return entry->addArgument(type, loc);
  }

  Value input(StringRef name, RankedTensorType type) {
    return addArgument(name, "input", type, /*trainable=*/false);
  }

  /// A parameter argument; `init` says how internvl-run initialises it when
  /// no checkpoint is given (the model's own initialisation).
  Value param(const std::string &name, ArrayRef<int64_t> dims, bool trainable,
              StringRef init) {
    return addArgument(name, "param", tensor(dims), trainable, init);
  }

  /// Linear weights are drawn from N(0, initializer_range) of their part of
  /// the model; the projector uses the LLM's range.
  std::string normalInit(const std::string &module) const {
    double range = regionOf(module) == ModelRegion::Vision
                       ? config.vision.initializerRange
                       : config.llm.initializerRange;
    return "normal:" + std::to_string(range);
  }

  //===--------------------------------------------------------------------===//
  // Ops
  //===--------------------------------------------------------------------===//

  template <typename OpTy, typename... Args>
  OpTy create(StringRef scope, Args &&...args) {
    auto op = b.create<OpTy>(loc, std::forward<Args>(args)...);
    op->setAttr(tg::TGDialect::getScopeAttrName(), b.getStringAttr(scope));
    return op;
  }

  ArrayRef<int64_t> dims(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }

  Value reshape(StringRef scope, Value v, ArrayRef<int64_t> to) {
    return create<tg::ReshapeOp>(
        scope, tensor(to, cast<RankedTensorType>(v.getType()).getElementType()),
        v);
  }

  /// `x · Wᵀ + b` with a new [out, in] weight (and [out] bias) named after
  /// `module`.
  Value linear(const std::string &module, Value x, int64_t out, bool bias,
               bool trainable) {
    int64_t in = dims(x).back();
    Value w =
        param(module + ".weight", {out, in}, trainable, normalInit(module));
    Value bv =
        bias ? param(module + ".bias", {out}, trainable, "zeros") : Value();
    SmallVector<int64_t> resultDims(dims(x).drop_back());
    resultDims.push_back(out);
    return create<tg::LinearOp>(module, tensor(resultDims), x, w, bv);
  }

  /// Slice of `v` along `dim` from `start` with `size` entries.
  Value sliceDim(StringRef scope, Value v, int64_t dim, int64_t start,
                 int64_t size) {
    SmallVector<int64_t> offsets(dims(v).size(), 0);
    offsets[dim] = start;
    SmallVector<int64_t> resultDims(dims(v));
    resultDims[dim] = size;
    auto type = cast<RankedTensorType>(v.getType());
    return create<tg::SliceOp>(scope, tensor(resultDims, type.getElementType()),
                               v, b.getDenseI64ArrayAttr(offsets));
  }

  Value add(StringRef scope, Value lhs, Value rhs) {
    return create<tg::AddOp>(scope, lhs.getType(), lhs, rhs);
  }
  Value mul(StringRef scope, Value lhs, Value rhs) {
    return create<tg::MulOp>(scope, lhs.getType(), lhs, rhs);
  }

  Value layerNorm(const std::string &module, Value x, double eps,
                  bool trainable) {
    int64_t d = dims(x).back();
    Value w = param(module + ".weight", {d}, trainable, "ones");
    Value bias = param(module + ".bias", {d}, trainable, "zeros");
    auto stats = tensor(dims(x).drop_back(), b.getF32Type());
    return create<tg::LayerNormOp>(module, x.getType(), stats, stats, x, w,
                                   bias, b.getF64FloatAttr(eps))
        .getResult();
  }

  Value rmsNorm(const std::string &module, Value x, double eps,
                bool trainable) {
    int64_t d = dims(x).back();
    Value w = param(module + ".weight", {d}, trainable, "ones");
    auto stats = tensor(dims(x).drop_back(), b.getF32Type());
    return create<tg::RmsNormOp>(module, x.getType(), stats, x, w,
                                 b.getF64FloatAttr(eps))
        .getResult();
  }

  Value visionNorm(const std::string &module, Value x, bool trainable) {
    return config.vision.norm == VisionNorm::LayerNorm
               ? layerNorm(module, x, config.vision.normEps, trainable)
               : rmsNorm(module, x, config.vision.normEps, trainable);
  }

  /// Per-sample stochastic depth; a rate of 0 is the identity.
  Value dropPath(StringRef scope, Value x, double rate, int64_t offset) {
    if (rate <= 0.0)
      return x;
    return create<tg::DropPathOp>(
        scope, x.getType(), x, stepInput(), b.getF64FloatAttr(rate),
        b.getI64IntegerAttr(options.seed), b.getI64IntegerAttr(offset));
  }

  Value stepInput() {
    if (!step)
      step = input("step", tensor({}, b.getI64Type()));
    return step;
  }

  //===--------------------------------------------------------------------===//
  // LoRA (PEFT's, as InternVL's wrap_llm_lora / wrap_backbone_lora set it)
  //===--------------------------------------------------------------------===//

  /// The LoRA rank of the LLM's or InternViT's linears (0: none).
  int64_t llmLoraRank() const { return options.useLlmLora; }
  /// The LLM's own weights train unless frozen or wrapped by LoRA (PEFT
  /// freezes every base weight of the model it wraps, embeddings and
  /// lm_head included).
  bool llmBaseTrainable() const {
    return !options.freezeLlm && llmLoraRank() == 0;
  }
  int64_t visionLoraRank() const { return options.useBackboneLora; }

  /// A's and B's parameters for `module` ([rank, in], [out, rank]): A drawn
  /// with the variance of PEFT's kaiming_uniform(a=sqrt(5)), U(+-1/sqrt(in)),
  /// and B zero, so the adapted model starts as the base model.
  std::pair<Value, Value> loraParams(const std::string &module, int64_t in,
                                     int64_t out, int64_t rank) {
    Value a = param(module + ".lora_A.weight", {rank, in}, /*trainable=*/true,
                    "normal:" + std::to_string(1.0 / std::sqrt(3.0 * in)));
    Value bw = param(module + ".lora_B.weight", {out, rank},
                     /*trainable=*/true, "zeros");
    return {a, bw};
  }

  /// `linear` plus, with a LoRA rank, PEFT's branch
  /// `(alpha / rank) * B(A(dropout(x)))` with alpha = 2 * rank.
  Value adaptedLinear(const std::string &module, Value x, int64_t out,
                      bool bias, bool trainable, int64_t rank) {
    Value y = linear(module, x, out, bias, trainable);
    if (rank == 0)
      return y;
    int64_t in = dims(x).back();
    auto [a, bw] = loraParams(module, in, out, rank);
    Value dropped = x;
    if (options.loraDropout > 0)
      dropped = create<tg::DropoutOp>(
          module + ".lora_dropout", x.getType(), x, stepInput(),
          b.getF64FloatAttr(options.loraDropout),
          b.getI64IntegerAttr(options.seed), b.getI64IntegerAttr(loraBranches));
    ++loraBranches;
    SmallVector<int64_t> hidden(dims(x).drop_back());
    hidden.push_back(rank);
    Value h = create<tg::LinearOp>(module + ".lora_A", tensor(hidden), dropped,
                                   a, Value());
    Value z = create<tg::LinearOp>(module + ".lora_B", y.getType(), h, bw,
                                   Value());
    Value scaled = create<tg::ScaleOp>(module, z.getType(), z,
                                       b.getF64FloatAttr(2.0));
    return add(module, y, scaled);
  }

  //===--------------------------------------------------------------------===//
  // Model parts
  //===--------------------------------------------------------------------===//

  bool visionLayerTrainable(int64_t layer) const;
  Value visionEmbeddings(Value pixels);
  Value visionLayer(int64_t layer, Value x);
  void unusedVisionLayer(int64_t layer);
  Value projector(Value vit);
  Value llmAttention(const std::string &layer, Value h, bool trainable);
  Value llmMlp(const std::string &layer, Value h, bool trainable);
  Value llmLayer(int64_t layer, Value x);
  Value loss(Value hidden, Value labels, Value weights);

  std::string layerScaleInit() const {
    return "constant:" + std::to_string(config.vision.layerScaleInit);
  }

  std::string visionLayerPath(int64_t layer) const {
    return llvm::formatv(names.visionLayer.c_str(), layer).str();
  }
  std::string llmLayerPath(int64_t layer) const {
    return llvm::formatv(names.llmLayer.c_str(), layer).str();
  }

  MLIRContext &context;
  OpBuilder b;
  Location loc;
  const ModelConfig &config;
  const ImportOptions &options;
  const ImportShape &shape;
  ParamNames names;
  Type act;
  Block *entry = nullptr;
  SmallVector<Attribute> argAttrs;
  Value step;
  /// Packed sequences: each pack's sample boundaries (else null).
  Value cuSeqlens;
  /// LoRA branches built so far: each one's dropout offset.
  int64_t loraBranches = 0;
};

} // namespace

//===----------------------------------------------------------------------===//
// InternViT
//===----------------------------------------------------------------------===//

/// freeze_backbone freezes the whole encoder; unfreeze_vit_layers then makes
/// `layers[unfreeze_vit_layers:]` trainable again (a Python slice, as in
/// internvl_chat_finetune.py).
bool ForwardBuilder::visionLayerTrainable(int64_t layer) const {
  // Backbone LoRA freezes InternViT's base weights like freeze_backbone;
  // InternVL unfreezes layers[unfreeze_vit_layers:] after wrapping.
  if (!options.freezeBackbone && visionLoraRank() == 0)
    return true;
  int64_t k = options.unfreezeVitLayers;
  if (k == 0)
    return false;
  int64_t layers = config.vision.numLayers;
  int64_t start = k >= 0 ? k : std::max<int64_t>(0, layers + k);
  return layer >= start;
}

Value ForwardBuilder::visionEmbeddings(Value pixels) {
  const VisionConfig &v = config.vision;
  bool trainable = !options.freezeBackbone && visionLoraRank() == 0;
  int64_t n = shape.numTiles, c = v.numChannels, p = v.patchSize,
          g = shape.patchGrid, d = v.hiddenSize;
  std::string patchScope = names.patchEmbedding;

  // The stride-14 convolution is a patchify (pure data movement) and a linear
  // over the C·P·P values of each patch.
  Value grid = reshape(patchScope, pixels, {n, c, g, p, g, p});
  Value patches =
      create<tg::TransposeOp>(patchScope, tensor({n, g, g, c, p, p}), grid,
                              b.getDenseI64ArrayAttr({0, 2, 4, 1, 3, 5}));
  patches = reshape(patchScope, patches, {n, g * g, c * p * p});
  Value w = param(names.patchEmbedding + ".weight", {d, c, p, p}, trainable,
                  normalInit(names.patchEmbedding));
  Value bias = param(names.patchEmbedding + ".bias", {d}, trainable, "zeros");
  Value w2 = reshape(patchScope, w, {d, c * p * p});
  Value embeds = create<tg::LinearOp>(patchScope, tensor({n, g * g, d}),
                                      patches, w2, bias);

  StringRef scope = names.visionEmbeddings;
  // InternViT draws the class and position embeddings from N(0, 1).
  Value cls = param(names.classEmbedding, {1, 1, d}, trainable, "normal:1");
  Value clsTiles = create<tg::BroadcastOp>(scope, tensor({n, 1, d}), cls);
  Value tokens = create<tg::ConcatOp>(scope, tensor({n, 1 + g * g, d}),
                                      ValueRange{clsTiles, embeds},
                                      b.getI64IntegerAttr(1));
  Value pos =
      param(names.positionEmbedding, {1, 1 + g * g, d}, trainable, "normal:1");
  return add(scope, tokens, pos);
}

Value ForwardBuilder::visionLayer(int64_t layer, Value x) {
  const VisionConfig &v = config.vision;
  bool trainable = visionLayerTrainable(layer);
  std::string path = visionLayerPath(layer);
  auto sub = [&](const std::string &rel) { return path + "." + rel; };
  int64_t n = dims(x)[0], t = dims(x)[1], d = v.hiddenSize, h = v.numHeads,
          hd = d / h;
  std::string attn = sub(names.visionAttn);

  // Attention branch.
  Value normed = visionNorm(sub(names.visionNorm1), x, trainable);
  Value q, k, val;
  if (names.visionQkvLayout == QkvLayout::Stacked) {
    Value qkv =
        adaptedLinear(sub(names.visionQkv), normed, 3 * d, v.qkvBias, trainable,
                      visionLoraRank());
    Value split = reshape(attn, qkv, {n, t, 3, h, hd});
    auto part = [&](int64_t i) {
      return reshape(attn, sliceDim(attn, split, 2, i, 1), {n, t, d});
    };
    q = part(0);
    k = part(1);
    val = part(2);
  } else {
    q = adaptedLinear(sub(names.visionQ), normed, d, v.qkvBias, trainable,
                      visionLoraRank());
    k = adaptedLinear(sub(names.visionK), normed, d, v.qkvBias, trainable,
                      visionLoraRank());
    val = adaptedLinear(sub(names.visionV), normed, d, v.qkvBias, trainable,
                        visionLoraRank());
  }
  if (v.qkNorm) {
    // RMSNorm over all heads together, as InternViT-6B does.
    q = rmsNorm(sub(names.visionQNorm), q, v.normEps, trainable);
    k = rmsNorm(sub(names.visionKNorm), k, v.normEps, trainable);
  }
  q = reshape(attn, q, {n, t, h, hd});
  k = reshape(attn, k, {n, t, h, hd});
  val = reshape(attn, val, {n, t, h, hd});
  auto attention = create<tg::AttentionOp>(
      attn, tensor({n, t, h, hd}), tensor({n, h, t}, b.getF32Type()), q, k, val,
      /*cu_seqlens=*/Value(), /*causal=*/UnitAttr(),
      b.getF64FloatAttr(1.0 / std::sqrt(double(hd))),
      /*expected_samples=*/b.getI64IntegerAttr(1));
  Value o = reshape(attn, attention.getOutput(), {n, t, d});
  o = adaptedLinear(sub(names.visionProj), o, d, /*bias=*/true, trainable,
                    visionLoraRank());
  Value ls1 = param(sub(names.visionLs1), {d}, trainable, layerScaleInit());
  o = mul(sub(names.visionLs1), o, ls1);
  o = dropPath(path, o, shape.dropPathRates[layer], 2 * layer);
  x = add(path, x, o);

  // MLP branch.
  normed = visionNorm(sub(names.visionNorm2), x, trainable);
  Value f = adaptedLinear(sub(names.visionFc1), normed, v.intermediateSize,
                          /*bias=*/true, trainable, visionLoraRank());
  f = create<tg::GeluOp>(sub(names.visionMlp) + ".act", f);
  f = adaptedLinear(sub(names.visionFc2), f, d, /*bias=*/true, trainable,
                    visionLoraRank());
  Value ls2 = param(sub(names.visionLs2), {d}, trainable, layerScaleInit());
  f = mul(sub(names.visionLs2), f, ls2);
  f = dropPath(path, f, shape.dropPathRates[layer], 2 * layer + 1);
  return add(path, x, f);
}

/// Layers after the selected one do not influence the loss, but their
/// parameters exist in the checkpoint (and in the parameter count).
void ForwardBuilder::unusedVisionLayer(int64_t layer) {
  const VisionConfig &v = config.vision;
  bool trainable = visionLayerTrainable(layer);
  std::string path = visionLayerPath(layer);
  auto sub = [&](const std::string &rel) { return path + "." + rel; };
  int64_t d = v.hiddenSize, i = v.intermediateSize;
  auto norm = [&](const std::string &module) {
    param(module + ".weight", {d}, trainable, "ones");
    if (v.norm == VisionNorm::LayerNorm)
      param(module + ".bias", {d}, trainable, "zeros");
  };
  auto linearParams = [&](const std::string &module, int64_t out, int64_t in,
                          bool bias) {
    param(module + ".weight", {out, in}, trainable, normalInit(module));
    if (bias)
      param(module + ".bias", {out}, trainable, "zeros");
    // PEFT wraps the unused layers too: their adapters are parameters.
    if (visionLoraRank() > 0)
      loraParams(module, in, out, visionLoraRank());
  };
  norm(sub(names.visionNorm1));
  if (names.visionQkvLayout == QkvLayout::Stacked) {
    linearParams(sub(names.visionQkv), 3 * d, d, v.qkvBias);
  } else {
    linearParams(sub(names.visionQ), d, d, v.qkvBias);
    linearParams(sub(names.visionK), d, d, v.qkvBias);
    linearParams(sub(names.visionV), d, d, v.qkvBias);
  }
  if (v.qkNorm) {
    param(sub(names.visionQNorm) + ".weight", {d}, trainable, "ones");
    param(sub(names.visionKNorm) + ".weight", {d}, trainable, "ones");
  }
  linearParams(sub(names.visionProj), d, d, true);
  param(sub(names.visionLs1), {d}, trainable, layerScaleInit());
  norm(sub(names.visionNorm2));
  linearParams(sub(names.visionFc1), i, d, true);
  linearParams(sub(names.visionFc2), d, i, true);
  param(sub(names.visionLs2), {d}, trainable, layerScaleInit());
}

//===----------------------------------------------------------------------===//
// Projector
//===----------------------------------------------------------------------===//

Value ForwardBuilder::projector(Value vit) {
  int64_t n = shape.numTiles, g = shape.patchGrid, s = shape.shuffledGrid,
          d = config.vision.hiddenSize;
  int64_t c = d * (g / s) * (g / s);
  bool trainable = !options.freezeMlp;
  StringRef scope = names.projector;

  // Drop the class token, lay the patches out as a grid, shuffle space into
  // channels.
  Value patches = sliceDim(scope, vit, 1, 1, g * g);
  Value grid = reshape(scope, patches, {n, g, g, d});
  auto version = config.psVersion == 1 ? tg::PixelShuffleVersion::V1
                                       : tg::PixelShuffleVersion::V2;
  Value shuffled = create<tg::PixelShuffleOp>(
      scope, tensor({n, s, s, c}), grid,
      b.getF64FloatAttr(shape.downsampleRatio),
      tg::PixelShuffleVersionAttr::get(&context, version));
  Value tokens = reshape(scope, shuffled, {n * s * s, c});

  // mlp1: LayerNorm (PyTorch's default eps) -> Linear -> GELU -> Linear.
  Value x = layerNorm(names.projectorNorm, tokens, 1e-5, trainable);
  x = linear(names.projectorFc1, x, config.llm.hiddenSize, true, trainable);
  x = create<tg::GeluOp>(names.projectorAct, x);
  return linear(names.projectorFc2, x, config.llm.hiddenSize, true, trainable);
}

//===----------------------------------------------------------------------===//
// LLM
//===----------------------------------------------------------------------===//

Value ForwardBuilder::llmAttention(const std::string &path, Value h,
                                   bool trainable) {
  const LlmConfig &l = config.llm;
  auto sub = [&](const std::string &rel) { return path + "." + rel; };
  int64_t bsz = dims(h)[0], s = dims(h)[1], hq = l.numHeads, hkv = l.numKvHeads,
          hd = l.headDim, groups = hq / hkv;
  std::string attn = sub(names.llmAttn);

  Value q, k, v;
  switch (names.llmQkvLayout) {
  case QkvLayout::Separate:
    q = adaptedLinear(sub(names.llmQ), h, hq * hd, l.qkvBias, trainable,
                      llmLoraRank());
    k = adaptedLinear(sub(names.llmK), h, hkv * hd, l.qkvBias, trainable,
                      llmLoraRank());
    v = adaptedLinear(sub(names.llmV), h, hkv * hd, l.qkvBias, trainable,
                      llmLoraRank());
    break;
  case QkvLayout::Concatenated: {
    Value qkv = adaptedLinear(sub(names.llmQkv), h, (hq + 2 * hkv) * hd,
                              l.qkvBias, trainable, llmLoraRank());
    q = sliceDim(attn, qkv, 2, 0, hq * hd);
    k = sliceDim(attn, qkv, 2, hq * hd, hkv * hd);
    v = sliceDim(attn, qkv, 2, (hq + hkv) * hd, hkv * hd);
    break;
  }
  case QkvLayout::GroupedInterleaved: {
    Value qkv = adaptedLinear(sub(names.llmQkv), h, hkv * (groups + 2) * hd,
                              l.qkvBias, trainable, llmLoraRank());
    Value split = reshape(attn, qkv, {bsz, s, hkv, groups + 2, hd});
    q = sliceDim(attn, split, 3, 0, groups);
    k = sliceDim(attn, split, 3, groups, 1);
    v = sliceDim(attn, split, 3, groups + 1, 1);
    break;
  }
  case QkvLayout::Stacked:
    llvm_unreachable("no LLM stores q, k and v stacked");
  }
  q = reshape(attn, q, {bsz, s, hq, hd});
  k = reshape(attn, k, {bsz, s, hkv, hd});
  v = reshape(attn, v, {bsz, s, hkv, hd});
  if (l.qkNorm) {
    // Qwen3: RMSNorm over each head's head_dim values, before RoPE.
    q = rmsNorm(sub(names.llmQNorm), q, l.rmsNormEps, trainable);
    k = rmsNorm(sub(names.llmKNorm), k, l.rmsNormEps, trainable);
  }

  DenseF64ArrayAttr factors;
  if (!shape.ropeFreqFactors.empty())
    factors = b.getDenseF64ArrayAttr(shape.ropeFreqFactors);
  auto rope = [&](Value x) {
    return create<tg::RopeOp>(attn, x.getType(), x, cuSeqlens,
                              b.getF64FloatAttr(shape.ropeTheta),
                              /*inverse=*/UnitAttr(), factors,
                              b.getF64FloatAttr(shape.ropeAttentionFactor));
  };
  q = rope(q);
  k = rope(k);
  // Packed: varlen attention within each sample (flash_attn_varlen_func in
  // InternVL's packed-training patches).
  auto attention = create<tg::AttentionOp>(
      attn, q.getType(), tensor({bsz, hq, s}, b.getF32Type()), q, k, v,
      cuSeqlens, /*causal=*/b.getUnitAttr(),
      b.getF64FloatAttr(1.0 / std::sqrt(double(hd))),
      b.getI64IntegerAttr(shape.packed ? shape.expectedSamples : 1));
  Value o = reshape(attn, attention.getOutput(), {bsz, s, hq * hd});
  return adaptedLinear(sub(names.llmO), o, l.hiddenSize, l.outputBias,
                       trainable, llmLoraRank());
}

Value ForwardBuilder::llmMlp(const std::string &path, Value h, bool trainable) {
  const LlmConfig &l = config.llm;
  auto sub = [&](const std::string &rel) { return path + "." + rel; };
  std::string mlp = sub(names.llmMlp);
  int64_t inter = l.intermediateSize;
  Value gate, up;
  if (names.llmFusedGateUp) {
    Value gateUp = adaptedLinear(sub(names.llmGateUp), h, 2 * inter, false,
                                 trainable, llmLoraRank());
    gate = sliceDim(mlp, gateUp, 2, 0, inter);
    up = sliceDim(mlp, gateUp, 2, inter, inter);
  } else {
    gate = adaptedLinear(sub(names.llmGate), h, inter, false, trainable,
                         llmLoraRank());
    up = adaptedLinear(sub(names.llmUp), h, inter, false, trainable,
                       llmLoraRank());
  }
  Value act = create<tg::SiluOp>(mlp + ".act_fn", gate);
  Value product = mul(mlp, act, up);
  return adaptedLinear(sub(names.llmDown), product, l.hiddenSize, false,
                       trainable, llmLoraRank());
}

Value ForwardBuilder::llmLayer(int64_t layer, Value x) {
  bool trainable = llmBaseTrainable();
  std::string path = llmLayerPath(layer);
  double eps = config.llm.rmsNormEps;
  Value h = rmsNorm(path + "." + names.llmInputNorm, x, eps, trainable);
  x = add(path, x, llmAttention(path, h, trainable));
  h = rmsNorm(path + "." + names.llmPostNorm, x, eps, trainable);
  return add(path, x, llmMlp(path, h, trainable));
}

/// Final norm, untied lm_head, and the next-token cross-entropy: logits at
/// position t predict the label at t + 1, one fused op that shifts the labels
/// rather than slicing the logits (its chunk is --tg-remat's to choose; here
/// one chunk of every token). Packed, InternVL's weighted loss:
/// sum_t w_t ce_t / sum_t w_t over the shifted loss_weight.
Value ForwardBuilder::loss(Value hidden, Value labels, Value weights) {
  const LlmConfig &l = config.llm;
  int64_t bsz = shape.batch, s = shape.seqLen, vocab = l.vocabSize;
  Value h =
      rmsNorm(names.llmFinalNorm, hidden, l.rmsNormEps, llmBaseTrainable());
  // unfreeze_lm_head with LLM LoRA is refused (checkLora).
  Value head = param(names.lmHead + ".weight", {vocab, dims(h).back()},
                     llmBaseTrainable() || options.unfreezeLmHead,
                     normalInit(names.lmHead));
  StringRef scope = "loss";
  Value shiftedWeights;
  auto ce = create<tg::LinearCrossEntropyOp>(
      scope, tensor({}, b.getF32Type()), tensor({bsz, s}, b.getF32Type()), h,
      head, labels, weights, b.getI64IntegerAttr(-100),
      b.getI64IntegerAttr(std::max<int64_t>(bsz * s, 1)));
  if (weights) {
    shiftedWeights = sliceDim(scope, weights, 1, 1, s - 1);
    shiftedWeights = reshape(scope, shiftedWeights, {bsz * (s - 1)});
  }
  if (!weights)
    return ce.getLoss();
  Value total = create<tg::ReduceSumOp>(scope, tensor({}, b.getF32Type()),
                                        shiftedWeights,
                                        b.getDenseI64ArrayAttr({0}),
                                        /*keep_dims=*/UnitAttr());
  return create<tg::DivOp>(scope, ce.getLoss().getType(), ce.getLoss(), total);
}

//===----------------------------------------------------------------------===//
// Whole model
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> ForwardBuilder::build() {
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  module->getOperation()->setAttr(
      "tg.model", b.getStringAttr(llvm::sys::path::stem(config.path)));
  // InternVL 1.x-3 always checkpoint the ViT; InternVL3.5's training code
  // (internvl_chat_gpt_oss/, the Qwen3 models) gates it on grad_checkpoint.
  // Recorded only where it is off.
  if (config.llm.family == LlmFamily::Qwen3 && !options.gradCheckpoint)
    module->getOperation()->setAttr("tg.vision_grad_checkpoint",
                                    b.getBoolAttr(false));
  module->getOperation()->setAttr("tg.grad_checkpoint",
                                  b.getBoolAttr(options.gradCheckpoint));
  if (shape.packed) {
    tg::LossReduction reduction = tg::LossReduction::Token;
    switch (options.lossReduction) {
    case LossReduction::Token:
      break;
    case LossReduction::Sample:
      reduction = tg::LossReduction::Sample;
      break;
    case LossReduction::Square:
      reduction = tg::LossReduction::Square;
      break;
    }
    module->getOperation()->setAttr(
        "tg.loss_reduction", tg::LossReductionAttr::get(&context, reduction));
  }
  b.setInsertionPointToEnd(module->getBody());
  auto func = b.create<func::FuncOp>(loc, "forward", b.getFunctionType({}, {}));
  entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  const VisionConfig &v = config.vision;
  int64_t bsz = shape.batch, s = shape.seqLen;
  Value pixels =
      input("pixel_values", tensor({shape.numTiles, v.numChannels,
                                    shape.imageSize, shape.imageSize}));
  Value ids = input("input_ids", tensor({bsz, s}, b.getI64Type()));
  Value labels = input("labels", tensor({bsz, s}, b.getI64Type()));
  // A pack's layout, as InternVL's packed_collate_fn hands it to the model.
  Value imageFlags, lossWeight;
  if (shape.packed) {
    cuSeqlens = input("cu_seqlens",
                      tensor({bsz, shape.packCapacity + 1}, b.getI64Type()));
    imageFlags = input("image_flags", tensor({shape.numTiles}, b.getI64Type()));
    lossWeight = input("loss_weight", tensor({bsz, s}, b.getF32Type()));
  }

  Value x = visionEmbeddings(pixels);
  for (int64_t i = 0; i < shape.vitLayersUsed; ++i)
    x = visionLayer(i, x);
  for (int64_t i = shape.vitLayersUsed; i < v.numLayers; ++i)
    unusedVisionLayer(i);
  Value image = projector(x);

  const LlmConfig &l = config.llm;
  Value table =
      param(names.llmEmbedTokens + ".weight", {l.vocabSize, l.hiddenSize},
            llmBaseTrainable(), normalInit(names.llmEmbedTokens));
  Value h = create<tg::EmbeddingOp>(names.llmEmbedTokens,
                                    tensor({bsz, s, l.hiddenSize}), table, ids);
  h = create<tg::ScatterImageEmbedsOp>(names.llmEmbedTokens, h.getType(), h,
                                       ids, image, imageFlags,
                                       b.getI64IntegerAttr(shape.imageTokenId));
  for (int64_t i = 0; i < l.numLayers; ++i)
    h = llmLayer(i, h);
  Value lossValue = loss(h, labels, lossWeight);
  b.create<func::ReturnOp>(loc, lossValue);

  func.setType(
      b.getFunctionType(entry->getArgumentTypes(), {lossValue.getType()}));
  func.setAllArgAttrs(argAttrs);
  func.setResultAttrs(
      0, b.getDictionaryAttr({b.getNamedAttr(tg::TGDialect::getNameAttrName(),
                                             b.getStringAttr("loss")),
                              b.getNamedAttr(tg::TGDialect::getKindAttrName(),
                                             b.getStringAttr("loss"))}));
  return module;
}

OwningOpRef<ModuleOp> internvl::buildForwardModule(MLIRContext &context,
                                                   const ModelConfig &config,
                                                   const ImportOptions &options,
                                                   const ImportShape &shape) {
  context.loadDialect<tg::TGDialect, func::FuncDialect>();
  return ForwardBuilder(context, config, options, shape).build();
}
