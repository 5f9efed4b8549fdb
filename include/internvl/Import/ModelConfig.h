//===- ModelConfig.h - InternVL config.json, parsed and checked -----------===//
//
// The architecture of an InternVL model as read from its Hugging Face
// config.json, in either of the two formats users have on disk:
//  - the original one (`InternVLChatModel`: `vision_config` + `llm_config`),
//  - the transformers-native one (`InternVLForConditionalGeneration`:
//    `vision_config` + `text_config`, the `-hf` checkpoints).
// Parsing checks every field it reads and names file, field and allowed values
// in its errors.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_MODELCONFIG_H
#define INTERNVL_IMPORT_MODELCONFIG_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace internvl {

/// Which config.json layout a model came from; it also fixes the parameter
/// names (`vision_model.encoder.layers.0.attn.qkv.weight` versus
/// `model.vision_tower.encoder.layer.0.attention.q_proj.weight`).
enum class ConfigFormat { InternVLChat, HuggingFace };

enum class VisionNorm { LayerNorm, RmsNorm };

/// InternViT-300M-448px or InternViT-6B-448px.
struct VisionConfig {
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numHeads = 0;
  int64_t numLayers = 0;
  int64_t imageSize = 0;
  int64_t patchSize = 0;
  int64_t numChannels = 3;
  VisionNorm norm = VisionNorm::LayerNorm;
  double normEps = 1e-6;
  bool qkvBias = true;
  bool qkNorm = false;
  /// Initial value of the layer-scale vectors ls1/ls2.
  double layerScaleInit = 1.0;
  double initializerRange = 0.02;
  double dropPathRate = 0.0;
};

/// The decoder-only LLM families InternVL pairs with InternViT.
enum class LlmFamily { Qwen2, Qwen3, InternLM2, Llama, Phi3 };

/// How rotary frequencies are rescaled (config `rope_scaling.type`).
enum class RopeScaling { None, Linear, Dynamic, LongRope, Llama3 };

struct RopeConfig {
  double theta = 10000.0;
  RopeScaling scaling = RopeScaling::None;
  double factor = 1.0;
  /// LongRoPE (Phi-3 "su"/"longrope") per-frequency factors.
  llvm::SmallVector<double> shortFactor, longFactor;
  /// Llama-3 scaling parameters.
  double lowFreqFactor = 1.0, highFreqFactor = 4.0;
  int64_t originalMaxPositions = 0;
};

struct LlmConfig {
  LlmFamily family = LlmFamily::Qwen2;
  /// The `architectures[0]` string, for messages and the summary.
  std::string architecture;
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  int64_t numLayers = 0;
  int64_t vocabSize = 0;
  int64_t maxPositions = 0;
  double rmsNormEps = 1e-6;
  double initializerRange = 0.02;
  RopeConfig rope;
  /// Bias on the q/k/v projections (Qwen2; Llama's attention_bias).
  bool qkvBias = false;
  /// Bias on the output projection (Llama's attention_bias).
  bool outputBias = false;
  /// RMSNorm over each head of q and of k (weights [head_dim], eps
  /// rms_norm_eps) before RoPE (Qwen3).
  bool qkNorm = false;
};

struct ModelConfig {
  /// The file it was read from (for messages).
  std::string path;
  ConfigFormat format = ConfigFormat::InternVLChat;
  VisionConfig vision;
  LlmConfig llm;
  double downsampleRatio = 0.5;
  int64_t forceImageSize = 0;
  int64_t selectLayer = -1;
  /// InternVL's ps_version: 1 or 2.
  int psVersion = 2;
  std::string templateName;
  /// The IMG_CONTEXT token id when the config records it.
  std::optional<int64_t> imageTokenId;
};

/// Parses and checks a config.json given as text; `path` names it in errors.
llvm::Expected<ModelConfig> parseModelConfig(llvm::StringRef text,
                                             llvm::StringRef path);

/// Reads and parses a config.json file.
llvm::Expected<ModelConfig> loadModelConfig(llvm::StringRef path);

/// "Qwen2ForCausalLM"-style family name.
llvm::StringRef stringifyLlmFamily(LlmFamily family);

} // namespace internvl

#endif // INTERNVL_IMPORT_MODELCONFIG_H
