//===- ImportOptions.h - fine-tuning settings and derived shapes ----------===//
//
// The settings of InternVL's fine-tuning script that shape the training graph
// (named as its command-line flags), and the sizes they imply for one
// micro-batch: tiles, image tokens, sequence length, layers in use.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_IMPORTOPTIONS_H
#define INTERNVL_IMPORT_IMPORTOPTIONS_H

#include "internvl/Import/ModelConfig.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>

namespace internvl {

/// InternVL's --loss_reduction (len2weight): every labelled token of a
/// sample with n of them weighs 1, 1/n or 1/sqrt(n).
enum class LossReduction { Token, Sample, Square };

/// Flags of internvl_chat_finetune.py with their defaults there (batch size:
/// the HF TrainingArguments default).
struct ImportOptions {
  int64_t perDeviceTrainBatchSize = 8;
  int64_t maxDynamicPatch = 12;
  bool useThumbnail = false;
  int64_t maxSeqLength = 8192;
  /// A bucket's tiles per sample (unset: max_dynamic_patch + thumbnail).
  std::optional<int64_t> tilesPerSample;
  /// Unset: the config's force_image_size.
  std::optional<int64_t> forceImageSize;
  /// Unset: the config's downsample_ratio.
  std::optional<double> downSampleRatio;
  /// Unset: the config's select_layer.
  std::optional<int64_t> visionSelectLayer;
  double dropPathRate = 0.0;
  bool freezeBackbone = false;
  bool freezeLlm = false;
  bool freezeMlp = false;
  /// Python slice start: layers[unfreeze_vit_layers:] become trainable again.
  int64_t unfreezeVitLayers = 0;
  bool unfreezeLmHead = false;
  /// LoRA ranks of the LLM's and InternViT's linears (0: off), with
  /// InternVL's alpha = 2 * rank; the wrapped part's base weights freeze.
  int64_t useLlmLora = 0;
  int64_t useBackboneLora = 0;
  /// PEFT's lora_dropout on each LoRA branch's input (InternVL's 0.05).
  double loraDropout = 0.05;
  bool gradCheckpoint = true;
  /// Working precision of parameters and activations: bf16 or f32.
  bool bf16 = true;
  /// Unset: the config's IMG_CONTEXT id, else the last id of the vocabulary.
  std::optional<int64_t> imageTokenId;
  /// Seed of the drop_path masks.
  int64_t seed = 0;

  /// InternVL's packed dataset (--use_packed_ds): each of the
  /// per_device_train_batch_size rows is a pack of max_packed_tokens tokens
  /// holding whole samples, with num_images_expected tiles.
  bool usePackedDs = false;
  int64_t maxPackedTokens = 8192;
  int64_t numImagesExpected = 40;
  /// Pad every pack to exactly num_images_expected tiles. Off, InternVL's
  /// ViT batch varies up to that; the compiled step always pads (the plan
  /// is the bound either way).
  bool strictMode = true;
  LossReduction lossReduction = LossReduction::Token;
  /// internvl-opt's own (not InternVL's): the samples a pack may hold, the
  /// capacity of its cu_seqlens (unset: max_packed_tokens, every sample at
  /// least one token); and the samples the cost model assumes a pack holds
  /// (unset: num_images_expected / tiles per image, rounded up).
  std::optional<int64_t> maxSamplesPerPack;
  std::optional<int64_t> expectedSamplesPerPack;
};

/// Sizes of one micro-batch, derived and checked by `computeImportShape`.
struct ImportShape {
  int64_t batch = 0;
  int64_t tilesPerSample = 0;
  int64_t numTiles = 0;
  int64_t imageSize = 0;
  /// Patches per side of a tile (448 / 14 = 32).
  int64_t patchGrid = 0;
  /// Patch tokens per side after pixel shuffle (16 at ratio 0.5).
  int64_t shuffledGrid = 0;
  int64_t tokensPerTile = 0;
  int64_t imageTokensPerSample = 0;
  int64_t seqLen = 0;
  double downsampleRatio = 0.5;
  /// InternViT layers whose output reaches the projector.
  int64_t vitLayersUsed = 0;
  int64_t imageTokenId = 0;
  /// drop_path rate of each ViT layer (linear schedule from 0).
  llvm::SmallVector<double> dropPathRates;
  /// The rotary setting for this sequence length (dynamic NTK and LongRoPE
  /// depend on it): base and per-frequency divisors.
  double ropeTheta = 10000.0;
  llvm::SmallVector<double> ropeFreqFactors;
  double ropeAttentionFactor = 1.0;

  /// Packed sequences: seqLen is max_packed_tokens, tilesPerSample the
  /// tiles of a pack; cu_seqlens has packCapacity + 1 entries per pack.
  bool packed = false;
  int64_t packCapacity = 0;
  int64_t expectedSamples = 1;
};

/// What one tile becomes: its size, patch grid, pixel-shuffle ratio and
/// grid, and the LLM tokens it takes.
struct TileGeometry {
  int64_t imageSize = 0, patchGrid = 0, shuffledGrid = 0, tokensPerTile = 0;
  double downsampleRatio = 0.5;
};

/// The tile of `options` on `config` (--force_image_size and
/// --down_sample_ratio checked); computeImportShape starts from it.
llvm::Expected<TileGeometry> tileGeometry(const ModelConfig &config,
                                          const ImportOptions &options);

/// Checks the options against the model and derives the shapes; errors name
/// the flag or config field and the allowed values.
llvm::Expected<ImportShape> computeImportShape(const ModelConfig &config,
                                               const ImportOptions &options);

} // namespace internvl

#endif // INTERNVL_IMPORT_IMPORTOPTIONS_H
