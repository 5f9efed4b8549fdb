//===- ImportShape.cpp - check fine-tuning settings, derive the shapes
//------===//

#include "internvl/Import/ImportOptions.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdio>

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

/// Integer value of `x` when it is one (up to rounding), else nullopt.
static std::optional<int64_t> exactInteger(double x) {
  double r = std::round(x);
  if (std::fabs(x - r) > 1e-9 * std::max(1.0, std::fabs(x)))
    return std::nullopt;
  return static_cast<int64_t>(r);
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

llvm::Expected<ImportShape>
internvl::computeImportShape(const ModelConfig &config,
                             const ImportOptions &options) {
  const VisionConfig &vision = config.vision;
  const LlmConfig &llm = config.llm;
  ImportShape shape;

  if (options.perDeviceTrainBatchSize < 1)
    return fail(config, llvm::formatv("--per_device_train_batch_size must be "
                                      ">= 1, got {0}",
                                      options.perDeviceTrainBatchSize));
  if (options.maxDynamicPatch < 1)
    return fail(config,
                llvm::formatv("--max_dynamic_patch must be >= 1, got {0}",
                              options.maxDynamicPatch));
  if (options.maxSeqLength < 2)
    return fail(config, llvm::formatv("--max_seq_length must be >= 2, got {0}",
                                      options.maxSeqLength));
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
  int64_t imageSize = options.forceImageSize.value_or(config.forceImageSize);
  if (imageSize != vision.imageSize)
    return fail(config,
                llvm::formatv("image size {0} (--force_image_size or "
                              "force_image_size) differs from "
                              "vision_config.image_size {1}; interpolating "
                              "InternViT's position embedding is not supported",
                              imageSize, vision.imageSize));
  if (llm.headDim % 2 != 0)
    return fail(config, llvm::formatv("the LLM head dimension {0} must be even "
                                      "for rotary embeddings",
                                      llm.headDim));

  shape.batch = options.perDeviceTrainBatchSize;
  // InternVL's dynamic_preprocess adds a thumbnail only when an image was
  // split into more than one tile.
  shape.tilesPerSample = options.maxDynamicPatch +
                         (options.useThumbnail && options.maxDynamicPatch > 1);
  shape.numTiles = shape.batch * shape.tilesPerSample;
  shape.imageSize = imageSize;
  shape.patchGrid = imageSize / vision.patchSize;

  double ratio = options.downSampleRatio.value_or(config.downsampleRatio);
  std::optional<int64_t> shuffled = exactInteger(shape.patchGrid * ratio);
  std::optional<int64_t> inverse = exactInteger(1.0 / ratio);
  if (!(ratio > 0 && ratio <= 1) || !shuffled || *shuffled < 1 || !inverse)
    return fail(config,
                llvm::formatv("down-sample ratio {0} (--down_sample_ratio or "
                              "downsample_ratio) must be 1/n and divide the "
                              "{1}x{1} patch grid",
                              num(ratio), shape.patchGrid));
  shape.downsampleRatio = ratio;
  shape.shuffledGrid = *shuffled;
  shape.tokensPerTile = *shuffled * *shuffled;
  shape.imageTokensPerSample = shape.tilesPerSample * shape.tokensPerTile;
  shape.seqLen = options.maxSeqLength;
  // <img> + the IMG_CONTEXT tokens + </img>.
  int64_t needed = shape.imageTokensPerSample + 2;
  if (shape.seqLen < needed)
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
  return shape;
}
