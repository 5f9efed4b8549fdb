//===- ImportShape.cpp - check fine-tuning settings, derive the shapes ----===//

#include "internvl/Import/ImportOptions.h"
#include "internvl/Import/ImportLimits.h"
#include "internvl/Import/ParamNames.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdio>
#include <tuple>
#include <vector>

using namespace internvl;

static llvm::Error fail(const ModelConfig &config, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 config.path + ": " + message);
}

/// A number as a user wrote it ("0.3", "1e-05"), for messages.
static std::string num(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", x);
  return buffer;
}

/// Integer value of `x` when it is one (up to rounding) in int64 range,
/// else nullopt.
static std::optional<int64_t> exactInteger(double x) {
  double r = std::round(x);
  if (!std::isfinite(x) || std::fabs(x - r) > 1e-9 * std::max(1.0, std::fabs(x)) ||
      std::fabs(r) > 0x1p62)
    return std::nullopt;
  return static_cast<int64_t>(r);
}

namespace {
/// One factor of a tensor's size, named after the flag or config field it
/// comes from.
struct Factor {
  int64_t value;
  std::string name;
};
} // namespace

/// Fails unless the tensor `what`, of `elementBytes`-byte elements and the
/// product of `factors` elements, is within the ceiling of one tensor; the
/// message spells the product out by name.
static llvm::Error checkTensor(const ModelConfig &config, llvm::StringRef what,
                               llvm::ArrayRef<Factor> factors,
                               int64_t elementBytes) {
  std::optional<int64_t> bytes = elementBytes;
  std::string product;
  for (const Factor &f : factors) {
    if (bytes)
      bytes = ivl::checkedMul(*bytes, f.value);
    product += (f.name.empty() ? "" : f.name + " ") + std::to_string(f.value) +
               " x ";
  }
  product += std::to_string(elementBytes) + " bytes";
  if (bytes && *bytes <= limits::kMaxTensorBytes)
    return llvm::Error::success();
  return fail(config,
              llvm::formatv("{0} would take {1} ({2}), above the ceiling of "
                            "one tensor, 1 TiB; no device holds it",
                            what,
                            bytes ? std::to_string(*bytes) + " bytes"
                                  : std::string("more than 2^63 bytes"),
                            product));
}

/// Rotary base and per-frequency divisors for a sequence of `seqLen` tokens,
/// as transformers computes them (rope_init_fn with that length).
static void computeRope(const LlmConfig &llm, int64_t seqLen,
                        ImportShape &shape) {
  const RopeConfig &rope = llm.rope;
  int64_t half = llm.headDim / 2;
  shape.ropeTheta = rope.theta;
  shape.ropeFreqFactors.clear();
  shape.ropeAttentionFactor = 1.0;
  switch (rope.scaling) {
  case RopeScaling::None:
    return;
  case RopeScaling::Linear:
    shape.ropeFreqFactors.assign(half, rope.factor);
    return;
  case RopeScaling::Dynamic:
    // Dynamic NTK only changes the base beyond the trained context.
    if (seqLen > llm.maxPositions) {
      double d = static_cast<double>(llm.headDim);
      shape.ropeTheta =
          rope.theta *
          std::pow(rope.factor * seqLen / llm.maxPositions - (rope.factor - 1),
                   d / (d - 2));
    }
    return;
  case RopeScaling::LongRope: {
    bool isLong = seqLen > rope.originalMaxPositions;
    shape.ropeFreqFactors.assign(
        isLong ? rope.longFactor.begin() : rope.shortFactor.begin(),
        isLong ? rope.longFactor.end() : rope.shortFactor.end());
    double scale = static_cast<double>(llm.maxPositions) /
                   static_cast<double>(rope.originalMaxPositions);
    if (scale > 1.0)
      shape.ropeAttentionFactor = std::sqrt(
          1.0 + std::log(scale) /
                    std::log(static_cast<double>(rope.originalMaxPositions)));
    return;
  }
  case RopeScaling::Llama3: {
    // Low frequencies are divided by `factor`, high ones kept, and the band
    // between them interpolated (transformers' _compute_llama3_parameters).
    double lowWavelen = rope.originalMaxPositions / rope.lowFreqFactor;
    double highWavelen = rope.originalMaxPositions / rope.highFreqFactor;
    for (int64_t i = 0; i < half; ++i) {
      double invFreq = std::pow(rope.theta, -2.0 * i / llm.headDim);
      double wavelen = 2 * M_PI / invFreq;
      double scaled;
      if (wavelen < highWavelen) {
        scaled = invFreq;
      } else if (wavelen > lowWavelen) {
        scaled = invFreq / rope.factor;
      } else {
        double smooth =
            (rope.originalMaxPositions / wavelen - rope.lowFreqFactor) /
            (rope.highFreqFactor - rope.lowFreqFactor);
        scaled = (1 - smooth) * invFreq / rope.factor + smooth * invFreq;
      }
      shape.ropeFreqFactors.push_back(invFreq / scaled);
    }
    return;
  }
  }
}

/// The largest tensors one micro-batch and the model make, each within the
/// ceiling of one tensor: a model or batch beyond it is refused with the
/// fields that make it that large. (Every field is within its own ceiling
/// here, so no product overflows before it is checked.)
static llvm::Error checkTensors(const ModelConfig &config,
                               const ImportOptions &options,
                               const ImportShape &shape) {
  const VisionConfig &v = config.vision;
  const LlmConfig &l = config.llm;
  int64_t act = options.bf16 ? 2 : 4, master = 4;
  Factor batch{shape.batch, "--per_device_train_batch_size"};
  Factor tiles{shape.tilesPerSample, shape.packed ? "--num_images_expected"
                                                 : "tiles per sample"};
  Factor tokens{shape.patchGrid * shape.patchGrid + 1, "tokens per tile"};
  Factor seq{shape.seqLen, shape.packed ? "--max_packed_tokens"
                                        : "--max_seq_length"};
  Factor vHidden{v.hiddenSize, "vision_config.hidden_size"};
  std::string llmKey = config.format == ConfigFormat::HuggingFace
                           ? "text_config."
                           : "llm_config.";
  Factor hidden{l.hiddenSize, llmKey + "hidden_size"};
  Factor vocab{l.vocabSize, llmKey + "vocab_size"};
  Factor qkvHeads{l.numHeads + 2 * l.numKvHeads, "q, k and v heads"};
  Factor headDim{l.headDim, "head_dim"};
  Factor mlp{l.intermediateSize, llmKey + "intermediate_size"};
  struct Check {
    const char *what;
    std::vector<Factor> factors;
    int64_t bytes;
  };
  Check checks[] = {
      {"pixel_values",
       {batch, tiles, {v.numChannels, "vision_config.num_channels"},
        {shape.imageSize, "image size"}, {shape.imageSize, "image size"}},
       act},
      {"the patch embedding's master copy",
       {vHidden, {v.numChannels, "vision_config.num_channels"},
        {v.patchSize * v.patchSize, "vision_config.patch_size^2"}},
       master},
      {"an InternViT layer's hidden states",
       {batch, tiles, tokens, vHidden}, act},
      {"an InternViT layer's MLP activations",
       {batch, tiles, tokens,
        {v.intermediateSize, "vision_config.intermediate_size"}},
       act},
      {"an InternViT layer's q, k and v", {batch, tiles, tokens, {3, ""}, vHidden},
       act},
      {"an InternViT MLP weight's master copy",
       {{v.intermediateSize, "vision_config.intermediate_size"}, vHidden},
       master},
      {"the projector's input",
       {batch, tiles, {shape.tokensPerTile, "image tokens per tile"},
        {v.hiddenSize * shape.patchGrid * shape.patchGrid /
             std::max<int64_t>(1, shape.tokensPerTile),
         "shuffled channels"}},
       act},
      {"an LLM layer's hidden states", {batch, seq, hidden}, act},
      {"an LLM layer's MLP activations",
       {batch, seq, {2, ""}, mlp}, act},
      {"an LLM layer's q, k and v", {batch, seq, qkvHeads, headDim}, act},
      {"an LLM MLP weight's master copy", {{2, ""}, mlp, hidden}, master},
      {"an LLM attention weight's master copy", {qkvHeads, headDim, hidden},
       master},
      {"the embedding table's master copy", {vocab, hidden}, master},
      {"the logits", {batch, seq, vocab}, act},
  };
  for (const Check &c : checks)
    if (llvm::Error e = checkTensor(config, c.what, c.factors, c.bytes))
      return e;
  return llvm::Error::success();
}

/// LoRA ranks within the narrowest linear they adapt, a dropout rate, and
/// no flag that trains what LoRA freezes.
static llvm::Error checkLora(const ModelConfig &config,
                             const ImportOptions &options) {
  const VisionConfig &v = config.vision;
  const LlmConfig &l = config.llm;
  struct Width {
    const char *linear;
    int64_t in, out;
  };
  // The adapted linears of each part (where the layout fuses q, k and v,
  // InternLM2's and Phi-3's, they are one linear).
  int64_t q = l.numHeads * l.headDim, kv = l.numKvHeads * l.headDim;
  bool fusedQkv = ParamNames::get(config.format, l.family).llmQkvLayout !=
                  QkvLayout::Separate;
  llvm::SmallVector<Width> llmWidths;
  if (fusedQkv)
    llmWidths.push_back({"the fused qkv projection", l.hiddenSize, q + 2 * kv});
  else
    llmWidths.append({{"the q projection", l.hiddenSize, q},
                      {"the k and v projections", l.hiddenSize, kv}});
  llmWidths.append({{"the output projection", q, l.hiddenSize},
                    {"the MLP", l.hiddenSize, l.intermediateSize}});
  Width visionWidths[] = {{"attention", v.hiddenSize, v.hiddenSize},
                          {"the MLP", v.hiddenSize, v.intermediateSize}};
  auto check = [&](const char *flag, int64_t rank, const char *part,
                   llvm::ArrayRef<Width> widths) -> llvm::Error {
    if (rank < 0)
      return fail(config, llvm::formatv("{0} must be a LoRA rank (at least 1; "
                                        "0 leaves LoRA off), got {1}",
                                        flag, rank));
    const Width *narrowest = nullptr;
    for (const Width &w : widths)
      if (!narrowest ||
          std::min(w.in, w.out) < std::min(narrowest->in, narrowest->out))
        narrowest = &w;
    int64_t limit = std::min(narrowest->in, narrowest->out);
    if (rank > limit)
      return fail(config,
                  llvm::formatv("{0} {1} is beyond the width of the {2}'s "
                                "narrowest adapted linear ({3}: {4} -> {5}); "
                                "the rank must be at most {6}",
                                flag, rank, part, narrowest->linear,
                                narrowest->in, narrowest->out, limit));
    return llvm::Error::success();
  };
  if (llvm::Error e =
          check("--use_llm_lora", options.useLlmLora, "LLM", llmWidths))
    return e;
  if (llvm::Error e = check("--use_backbone_lora", options.useBackboneLora,
                            "vision encoder", visionWidths))
    return e;
  if (!(options.loraDropout >= 0.0 && options.loraDropout < 1.0))
    return fail(config, llvm::formatv("--lora_dropout must be in [0, 1), "
                                      "got {0}",
                                      num(options.loraDropout)));
  if (options.useLlmLora > 0 && options.unfreezeLmHead)
    return fail(config,
                "--unfreeze_lm_head with --use_llm_lora: LoRA freezes every "
                "base weight of the wrapped LLM, lm_head included, and does "
                "not adapt lm_head (InternVL's script would train no "
                "lm_head); drop one of the two");
  return llvm::Error::success();
}

/// A pack: max_packed_tokens tokens, num_images_expected tiles (of which a
/// sample's image needs at most tilesPerSample), the cu_seqlens capacity
/// and the samples the cost model assumes.
static llvm::Error packShape(const ModelConfig &config,
                             const ImportOptions &options, ImportShape &shape) {
  for (auto [flag, value, min, max] :
       {std::tuple<const char *, int64_t, int64_t, int64_t>{
            "--max_packed_tokens", options.maxPackedTokens, 2,
            limits::kMaxSeqLength},
        {"--num_images_expected", options.numImagesExpected, 1,
         limits::kMaxTiles}})
    if (value < min || value > max)
      return fail(config, llvm::formatv("{0} must be in [{1}, {2}] (the "
                                        "importer's ceiling, docs/import.md), "
                                        "got {3}",
                                        flag, min, max, value));
  int64_t imageTiles = shape.tilesPerSample;
  // <img> + one tile's IMG_CONTEXT tokens + </img> must fit a pack.
  if (options.maxPackedTokens < shape.tokensPerTile + 2)
    return fail(config,
                llvm::formatv("--max_packed_tokens {0} cannot hold one tile's "
                              "{1} image tokens plus <img> and </img>; it must "
                              "be at least {2}",
                              options.maxPackedTokens, shape.tokensPerTile,
                              shape.tokensPerTile + 2));
  shape.packed = true;
  shape.seqLen = options.maxPackedTokens;
  shape.tilesPerSample = options.numImagesExpected;
  shape.numTiles = shape.batch * shape.tilesPerSample;
  shape.imageTokensPerSample = shape.tilesPerSample * shape.tokensPerTile;
  shape.packCapacity = options.maxSamplesPerPack.value_or(shape.seqLen);
  if (shape.packCapacity < 1 || shape.packCapacity > shape.seqLen)
    return fail(config, llvm::formatv("--max_samples_per_pack must be in "
                                      "[1, {0}] (--max_packed_tokens: every "
                                      "sample has a token), got {1}",
                                      shape.seqLen, shape.packCapacity));
  shape.expectedSamples = options.expectedSamplesPerPack.value_or(
      std::min(shape.packCapacity,
               (options.numImagesExpected + imageTiles - 1) / imageTiles));
  if (shape.expectedSamples < 1 || shape.expectedSamples > shape.packCapacity)
    return fail(config, llvm::formatv("--expected_samples_per_pack must be in "
                                      "[1, {0}] (--max_samples_per_pack), got "
                                      "{1}",
                                      shape.packCapacity,
                                      shape.expectedSamples));
  return llvm::Error::success();
}

llvm::Expected<TileGeometry>
internvl::tileGeometry(const ModelConfig &config, const ImportOptions &options) {
  const VisionConfig &vision = config.vision;
  TileGeometry tile;
  tile.imageSize = options.forceImageSize.value_or(config.forceImageSize);
  if (tile.imageSize != vision.imageSize)
    return fail(config,
                llvm::formatv("image size {0} (--force_image_size or "
                              "force_image_size) differs from "
                              "vision_config.image_size {1}; interpolating "
                              "InternViT's position embedding is not supported",
                              tile.imageSize, vision.imageSize));
  tile.patchGrid = tile.imageSize / vision.patchSize;
  double ratio = options.downSampleRatio.value_or(config.downsampleRatio);
  std::optional<int64_t> shuffled = exactInteger(tile.patchGrid * ratio);
  std::optional<int64_t> inverse = exactInteger(1.0 / ratio);
  if (!(ratio > 0 && ratio <= 1) || !shuffled || *shuffled < 1 || !inverse)
    return fail(config,
                llvm::formatv("down-sample ratio {0} (--down_sample_ratio or "
                              "downsample_ratio) must be 1/n and divide the "
                              "{1}x{1} patch grid",
                              num(ratio), tile.patchGrid));
  tile.downsampleRatio = ratio;
  tile.shuffledGrid = *shuffled;
  tile.tokensPerTile = *shuffled * *shuffled;
  return tile;
}

llvm::Expected<ImportShape>
internvl::computeImportShape(const ModelConfig &config,
                             const ImportOptions &options) {
  const VisionConfig &vision = config.vision;
  const LlmConfig &llm = config.llm;
  ImportShape shape;

  for (auto [flag, value, min, max] :
       {std::tuple<const char *, int64_t, int64_t, int64_t>{
            "--per_device_train_batch_size", options.perDeviceTrainBatchSize,
            1, limits::kMaxBatch},
        {"--max_dynamic_patch", options.maxDynamicPatch, 1, limits::kMaxTiles},
        {"--max_seq_length", options.maxSeqLength, 2, limits::kMaxSeqLength}})
    if (value < min || value > max)
      return fail(config, llvm::formatv("{0} must be in [{1}, {2}] (the "
                                        "importer's ceiling, docs/import.md), "
                                        "got {3}",
                                        flag, min, max, value));
  if (!(options.dropPathRate >= 0.0 && options.dropPathRate < 1.0))
    return fail(config, llvm::formatv("--drop_path_rate must be in [0, 1), "
                                      "got {0}",
                                      num(options.dropPathRate)));

  if (vision.hiddenSize % vision.numHeads != 0)
    return fail(config,
                llvm::formatv("vision_config.num_attention_heads {0} does not "
                              "divide vision_config.hidden_size {1}",
                              vision.numHeads, vision.hiddenSize));
  if (vision.imageSize % vision.patchSize != 0)
    return fail(config,
                llvm::formatv("vision_config.image_size {0} is not a "
                              "multiple of vision_config.patch_size {1}",
                              vision.imageSize, vision.patchSize));
  llvm::Expected<TileGeometry> tile = tileGeometry(config, options);
  if (!tile)
    return tile.takeError();
  if (llvm::Error e = checkLora(config, options))
    return std::move(e);

  shape.batch = options.perDeviceTrainBatchSize;
  // InternVL's dynamic_preprocess adds a thumbnail only when an image was
  // split into more than one tile.
  shape.tilesPerSample = options.maxDynamicPatch +
                         (options.useThumbnail && options.maxDynamicPatch > 1);
  if (options.tilesPerSample) {
    // Several images per sample may exceed one image's tiles.
    if (*options.tilesPerSample < 1 ||
        *options.tilesPerSample > limits::kMaxTiles)
      return fail(config, llvm::formatv("a bucket's {0} tiles per sample are "
                                        "outside [1, {1}] (the importer's "
                                        "ceiling, docs/import.md)",
                                        *options.tilesPerSample,
                                        limits::kMaxTiles));
    shape.tilesPerSample = *options.tilesPerSample;
  }
  shape.numTiles = shape.batch * shape.tilesPerSample;
  shape.imageSize = tile->imageSize;
  shape.patchGrid = tile->patchGrid;
  shape.downsampleRatio = tile->downsampleRatio;
  shape.shuffledGrid = tile->shuffledGrid;
  shape.tokensPerTile = tile->tokensPerTile;
  shape.imageTokensPerSample = shape.tilesPerSample * shape.tokensPerTile;
  shape.seqLen = options.maxSeqLength;
  // <img> + the IMG_CONTEXT tokens + </img>.
  int64_t needed = shape.imageTokensPerSample + 2;
  if (options.usePackedDs) {
    if (llvm::Error e = packShape(config, options, shape))
      return std::move(e);
  } else if (shape.seqLen < needed)
    return fail(config, llvm::formatv(
                            "--max_seq_length {0} is too short for {1} image "
                            "tokens ({2} tiles x {3}) plus <img> and </img>; "
                            "it must be at least {4}",
                            shape.seqLen, shape.imageTokensPerSample,
                            shape.tilesPerSample, shape.tokensPerTile, needed));

  int64_t select = options.visionSelectLayer.value_or(config.selectLayer);
  int64_t layers = vision.numLayers;
  if (select < -layers - 1 || select > layers)
    return fail(config,
                llvm::formatv("vision select layer {0} (--vision_select_layer "
                              "or select_layer) is out of range for {1} "
                              "InternViT layers; allowed: {2}..{1}",
                              select, layers, -layers - 1));
  // hidden_states[k] is the output of layer k (0 = the embeddings).
  shape.vitLayersUsed = select < 0 ? layers + 1 + select : select;

  shape.imageTokenId = options.imageTokenId.value_or(
      config.imageTokenId.value_or(llm.vocabSize - 1));
  if (shape.imageTokenId < 0 || shape.imageTokenId >= llm.vocabSize)
    return fail(config, llvm::formatv("IMG_CONTEXT token id {0} is outside the "
                                      "vocabulary [0, {1})",
                                      shape.imageTokenId, llm.vocabSize));

  // timm-style linear schedule: layer i drops with rate * i / (L - 1).
  for (int64_t i = 0; i < layers; ++i)
    shape.dropPathRates.push_back(
        layers > 1 ? options.dropPathRate * i / (layers - 1) : 0.0);

  computeRope(llm, shape.seqLen, shape);
  auto positiveFinite = [](double x) { return x > 0 && std::isfinite(x); };
  if (!positiveFinite(shape.ropeTheta) ||
      !positiveFinite(shape.ropeAttentionFactor) ||
      !llvm::all_of(shape.ropeFreqFactors, positiveFinite))
    return fail(config, llvm::formatv("the rotary frequencies of {0} "
                                      "(rope_theta and rope_scaling) at "
                                      "--max_seq_length {1} are not positive "
                                      "finite numbers",
                                      llm.architecture, shape.seqLen));
  if (llvm::Error e = checkTensors(config, options, shape))
    return std::move(e);
  return shape;
}
