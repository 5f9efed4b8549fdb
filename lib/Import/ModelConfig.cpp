//===- ModelConfig.cpp - read and check an InternVL config.json -----------===//
//
// nlohmann/json does the parsing; this file is compiled with exceptions on and
// turns every JSON exception into an llvm::Error before it can reach LLVM code
// (which is built without exceptions).
//
//===----------------------------------------------------------------------===//

#include "internvl/Import/ModelConfig.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include "internvl/Import/ImportLimits.h"
#include "internvl/Import/JsonText.h"

#include <nlohmann/json.hpp>

#include <cmath>

using namespace internvl;
using json = nlohmann::json;

namespace {

/// Reads typed fields from JSON objects and keeps the first problem, phrased
/// as `<file>: <dotted.field>: <what is wrong>, got <value>`.
class FieldReader {
public:
  explicit FieldReader(llvm::StringRef path) : path(path.str()) {}

  bool failed() const { return error.has_value(); }
  llvm::Error takeError() {
    if (!error)
      return llvm::Error::success();
    return llvm::createStringError(llvm::inconvertibleErrorCode(), *error);
  }

  void fail(llvm::StringRef field, const llvm::Twine &message) {
    if (!error)
      error = path + ": " + field.str() + ": " + message.str();
  }

  /// The member `key` of `obj` (whose dotted name is `prefix`), or null. A
  /// missing required member is an error.
  const json *find(const json &obj, llvm::StringRef prefix, llvm::StringRef key,
                   bool required) {
    auto it = obj.find(key.str());
    if (it == obj.end() || (it->is_null() && required)) {
      if (required)
        fail(join(prefix, key), "missing required field");
      return nullptr;
    }
    return &*it;
  }

  const json *object(const json &obj, llvm::StringRef prefix,
                     llvm::StringRef key) {
    const json *v = find(obj, prefix, key, /*required=*/true);
    if (v && !v->is_object()) {
      fail(join(prefix, key), "expected an object, got " + jsonText(*v));
      return nullptr;
    }
    return v;
  }

  /// A positive integer of at most `max` (a ceiling of ImportLimits.h).
  int64_t positiveInt(const json &obj, llvm::StringRef prefix,
                      llvm::StringRef key, int64_t max,
                      std::optional<int64_t> fallback = {}) {
    const json *v = find(obj, prefix, key, !fallback.has_value());
    if (!v)
      return fallback.value_or(1);
    std::optional<int64_t> value = integerIn(*v, 1, max);
    if (!value) {
      fail(join(prefix, key),
           "expected a positive integer of at most " + std::to_string(max) +
               " (the importer's ceiling, docs/import.md), got " +
               jsonText(*v));
      return fallback.value_or(1);
    }
    return *value;
  }

  /// `v` as an int64 in [lo, hi], or nothing (JSON keeps non-negative
  /// integers unsigned, up to 2^64 - 1).
  static std::optional<int64_t> integerIn(const json &v, int64_t lo,
                                          int64_t hi) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX) &&
          static_cast<int64_t>(u) >= lo && static_cast<int64_t>(u) <= hi)
        return static_cast<int64_t>(u);
      return std::nullopt;
    }
    if (v.is_number_integer()) {
      int64_t i = v.get<int64_t>();
      if (i >= lo && i <= hi)
        return i;
    }
    return std::nullopt;
  }

  int64_t integer(const json &obj, llvm::StringRef prefix, llvm::StringRef key,
                  int64_t fallback) {
    const json *v = find(obj, prefix, key, /*required=*/false);
    if (!v || v->is_null())
      return fallback;
    std::optional<int64_t> value = integerIn(*v, INT64_MIN, INT64_MAX);
    if (!value) {
      fail(join(prefix, key), "expected a 64-bit integer, got " + jsonText(*v));
      return fallback;
    }
    return *value;
  }

  double positiveNumber(const json &obj, llvm::StringRef prefix,
                        llvm::StringRef key, std::optional<double> fallback) {
    const json *v = find(obj, prefix, key, !fallback.has_value());
    if (!v || v->is_null())
      return fallback.value_or(1.0);
    if (!v->is_number() || !(v->get<double>() > 0) ||
        !std::isfinite(v->get<double>())) {
      fail(join(prefix, key), "expected a positive number, got " + jsonText(*v));
      return fallback.value_or(1.0);
    }
    return v->get<double>();
  }

  double rate(const json &obj, llvm::StringRef prefix, llvm::StringRef key) {
    const json *v = find(obj, prefix, key, /*required=*/false);
    if (!v || v->is_null())
      return 0.0;
    if (!v->is_number() || v->get<double>() < 0 || v->get<double>() >= 1) {
      fail(join(prefix, key), "expected a number in [0, 1), got " + jsonText(*v));
      return 0.0;
    }
    return v->get<double>();
  }

  bool boolean(const json &obj, llvm::StringRef prefix, llvm::StringRef key,
               bool fallback) {
    const json *v = find(obj, prefix, key, /*required=*/false);
    if (!v || v->is_null())
      return fallback;
    if (!v->is_boolean()) {
      fail(join(prefix, key), "expected true or false, got " + jsonText(*v));
      return fallback;
    }
    return v->get<bool>();
  }

  std::string string(const json &obj, llvm::StringRef prefix,
                     llvm::StringRef key, std::optional<std::string> fallback) {
    const json *v = find(obj, prefix, key, !fallback.has_value());
    if (!v || v->is_null())
      return fallback.value_or("");
    if (!v->is_string()) {
      fail(join(prefix, key), "expected a string, got " + jsonText(*v));
      return fallback.value_or("");
    }
    return v->get<std::string>();
  }

  /// A size given either as one integer or as a square [h, w] pair (the
  /// native config writes image_size and patch_size as lists).
  int64_t squareSize(const json &obj, llvm::StringRef prefix,
                     llvm::StringRef key, int64_t max) {
    const json *v = find(obj, prefix, key, /*required=*/true);
    if (!v)
      return 1;
    std::optional<int64_t> side;
    if (v->is_array() && v->size() == 2 && (*v)[0] == (*v)[1])
      side = integerIn((*v)[0], 1, max);
    else
      side = integerIn(*v, 1, max);
    if (side)
      return *side;
    fail(join(prefix, key),
         "expected a positive integer or a square [n, n] pair of at most " +
             std::to_string(max) +
             " (the importer's ceiling, docs/import.md), got " + jsonText(*v));
    return 1;
  }

  llvm::SmallVector<double> numberList(const json &obj, llvm::StringRef prefix,
                                       llvm::StringRef key) {
    llvm::SmallVector<double> values;
    const json *v = find(obj, prefix, key, /*required=*/true);
    if (!v)
      return values;
    if (!v->is_array()) {
      fail(join(prefix, key), "expected a list of numbers, got " + jsonText(*v));
      return values;
    }
    for (const json &x : *v) {
      if (!x.is_number() || !(x.get<double>() > 0) ||
          !std::isfinite(x.get<double>())) {
        fail(join(prefix, key),
             "expected a list of positive numbers, got " + jsonText(*v));
        return {};
      }
      values.push_back(x.get<double>());
    }
    return values;
  }

  static std::string join(llvm::StringRef prefix, llvm::StringRef key) {
    return prefix.empty() ? key.str() : (prefix + "." + key).str();
  }

private:
  std::string path;
  std::optional<std::string> error;
};

} // namespace

llvm::StringRef internvl::stringifyLlmFamily(LlmFamily family) {
  switch (family) {
  case LlmFamily::Qwen2:
    return "Qwen2ForCausalLM";
  case LlmFamily::Qwen3:
    return "Qwen3ForCausalLM";
  case LlmFamily::InternLM2:
    return "InternLM2ForCausalLM";
  case LlmFamily::Llama:
    return "LlamaForCausalLM";
  case LlmFamily::Phi3:
    return "Phi3ForCausalLM";
  }
  llvm_unreachable("unknown LLM family");
}

//===----------------------------------------------------------------------===//
// Vision encoder
//===----------------------------------------------------------------------===//

static void readVision(FieldReader &r, const json &v, llvm::StringRef p,
                       ConfigFormat format, VisionConfig &out) {
  out.hiddenSize = r.positiveInt(v, p, "hidden_size", limits::kMaxWidth);
  out.intermediateSize =
      r.positiveInt(v, p, "intermediate_size", limits::kMaxWidth);
  out.numHeads = r.positiveInt(v, p, "num_attention_heads", limits::kMaxHeads);
  out.numLayers = r.positiveInt(v, p, "num_hidden_layers", limits::kMaxLayers);
  out.imageSize = r.squareSize(v, p, "image_size", limits::kMaxImageSize);
  out.patchSize = r.squareSize(v, p, "patch_size", limits::kMaxImageSize);
  out.numChannels =
      r.positiveInt(v, p, "num_channels", limits::kMaxChannels, 3);
  out.normEps = r.positiveNumber(v, p, "layer_norm_eps", 1e-6);
  out.initializerRange = r.positiveNumber(v, p, "initializer_range", 0.02);
  out.dropPathRate = r.rate(v, p, "drop_path_rate");

  std::string norm = r.string(v, p, "norm_type", std::string("layer_norm"));
  if (norm == "layer_norm")
    out.norm = VisionNorm::LayerNorm;
  else if (norm == "rms_norm")
    out.norm = VisionNorm::RmsNorm;
  else
    r.fail(FieldReader::join(p, "norm_type"),
           "expected \"layer_norm\" or \"rms_norm\", got \"" + norm + "\"");

  std::string act = r.string(v, p, "hidden_act", std::string("gelu"));
  if (act != "gelu")
    r.fail(FieldReader::join(p, "hidden_act"),
           "only \"gelu\" (InternViT's activation) is supported, got \"" + act +
               "\"");

  if (format == ConfigFormat::InternVLChat) {
    out.qkvBias = r.boolean(v, p, "qkv_bias", true);
    out.qkNorm = r.boolean(v, p, "qk_normalization", false);
    // InternViT initialises ls1/ls2 to initializer_factor.
    out.layerScaleInit = r.positiveNumber(v, p, "initializer_factor", 1.0);
  } else {
    out.qkvBias = r.boolean(v, p, "attention_bias", false);
    out.qkNorm = r.boolean(v, p, "use_qk_norm", false);
    out.layerScaleInit = r.positiveNumber(v, p, "layer_scale_init_value", 0.1);
    if (r.boolean(v, p, "use_mean_pooling", true) &&
        r.boolean(v, p, "use_absolute_position_embeddings", true) == false)
      r.fail(FieldReader::join(p, "use_absolute_position_embeddings"),
             "InternViT needs absolute position embeddings, got false");
  }
}

//===----------------------------------------------------------------------===//
// LLM
//===----------------------------------------------------------------------===//

static std::optional<LlmFamily> familyOf(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<LlmFamily>>(name)
      .Cases("Qwen2ForCausalLM", "qwen2", LlmFamily::Qwen2)
      .Cases("Qwen3ForCausalLM", "qwen3", LlmFamily::Qwen3)
      .Cases("InternLM2ForCausalLM", "internlm2", LlmFamily::InternLM2)
      .Cases("LlamaForCausalLM", "llama", LlmFamily::Llama)
      .Cases("Phi3ForCausalLM", "phi3", LlmFamily::Phi3)
      .Default(std::nullopt);
}

/// The MoE decoders InternVL3.5 pairs with InternViT (and their model_type).
static bool isMixtureOfExperts(llvm::StringRef name) {
  return llvm::StringSwitch<bool>(name)
      .Cases("Qwen3MoeForCausalLM", "qwen3_moe", true)
      .Cases("GptOssForCausalLM", "gpt_oss", true)
      .Cases("Qwen2MoeForCausalLM", "qwen2_moe", true)
      .Default(false);
}

static void readRope(FieldReader &r, const json &l, llvm::StringRef p,
                     RopeConfig &rope) {
  rope.theta = r.positiveNumber(l, p, "rope_theta", 10000.0);
  const json *s = r.find(l, p, "rope_scaling", /*required=*/false);
  if (!s || s->is_null())
    return;
  std::string sp = FieldReader::join(p, "rope_scaling");
  if (!s->is_object()) {
    r.fail(sp, "expected an object or null, got " + jsonText(*s));
    return;
  }
  // transformers writes the kind as "rope_type", older configs as "type".
  std::string type = r.string(*s, sp, "rope_type", std::string());
  if (type.empty())
    type = r.string(*s, sp, "type", std::string());
  if (type == "default" || type.empty())
    return;
  if (type == "linear" || type == "dynamic") {
    rope.scaling =
        type == "linear" ? RopeScaling::Linear : RopeScaling::Dynamic;
    rope.factor = r.positiveNumber(*s, sp, "factor", std::nullopt);
  } else if (type == "su" || type == "longrope") {
    rope.scaling = RopeScaling::LongRope;
    rope.shortFactor = r.numberList(*s, sp, "short_factor");
    rope.longFactor = r.numberList(*s, sp, "long_factor");
    rope.originalMaxPositions =
        r.positiveInt(l, p, "original_max_position_embeddings",
                      limits::kMaxPositions);
  } else if (type == "llama3") {
    rope.scaling = RopeScaling::Llama3;
    rope.factor = r.positiveNumber(*s, sp, "factor", std::nullopt);
    rope.lowFreqFactor = r.positiveNumber(*s, sp, "low_freq_factor", 1.0);
    rope.highFreqFactor = r.positiveNumber(*s, sp, "high_freq_factor", 4.0);
    rope.originalMaxPositions =
        r.positiveInt(*s, sp, "original_max_position_embeddings",
                      limits::kMaxPositions);
  } else {
    r.fail(sp + ".type", "unsupported rope scaling \"" + type +
                             "\"; supported: linear, dynamic, su/longrope, "
                             "llama3 or null");
  }
}

static void readLlm(FieldReader &r, const json &l, llvm::StringRef p,
                    LlmConfig &out) {
  // The family comes from `architectures` (original configs) or `model_type`
  // (the text_config of native configs).
  std::string name;
  if (const json *arch = r.find(l, p, "architectures", /*required=*/false)) {
    if (!arch->is_array() || arch->empty() || !(*arch)[0].is_string()) {
      r.fail(FieldReader::join(p, "architectures"),
             "expected a list with the model class name, got " + jsonText(*arch));
      return;
    }
    name = (*arch)[0].get<std::string>();
  } else {
    name = r.string(l, p, "model_type", std::nullopt);
  }
  // The field that named the family, for messages.
  std::string familyField = FieldReader::join(
      p, l.contains("architectures") ? "architectures" : "model_type");
  if (isMixtureOfExperts(name)) {
    r.fail(familyField,
           "\"" + name +
               "\" has mixture-of-experts layers, which are not supported "
               "yet (InternVL3.5-30B-A3B, -241B-A28B, -GPT-OSS-20B-A4B); "
               "InternVL3.5's dense models (1B to 38B, Qwen3ForCausalLM) "
               "import");
    return;
  }
  std::optional<LlmFamily> family = familyOf(name);
  if (!family) {
    if (!r.failed())
      r.fail(familyField,
             "unknown LLM architecture \"" + name +
                 "\"; supported: Qwen2ForCausalLM (Qwen2/2.5), "
                 "Qwen3ForCausalLM (Qwen3, InternVL3.5), "
                 "InternLM2ForCausalLM (InternLM2/2.5/3), LlamaForCausalLM "
                 "(Llama-3, Yi), Phi3ForCausalLM");
    return;
  }
  out.family = *family;
  out.architecture = stringifyLlmFamily(*family).str();
  out.hiddenSize = r.positiveInt(l, p, "hidden_size", limits::kMaxWidth);
  out.intermediateSize =
      r.positiveInt(l, p, "intermediate_size", limits::kMaxWidth);
  out.numHeads = r.positiveInt(l, p, "num_attention_heads", limits::kMaxHeads);
  out.numKvHeads = r.positiveInt(l, p, "num_key_value_heads",
                                 limits::kMaxHeads, out.numHeads);
  out.numLayers = r.positiveInt(l, p, "num_hidden_layers", limits::kMaxLayers);
  out.vocabSize = r.positiveInt(l, p, "vocab_size", limits::kMaxVocab);
  out.maxPositions = r.positiveInt(l, p, "max_position_embeddings",
                                   limits::kMaxPositions, 4096);
  // Qwen3's q/k norms use rms_norm_eps too, and its head_dim is its own
  // (transformers' default 128, not hidden_size / heads): both are stated.
  bool qwen3 = out.family == LlmFamily::Qwen3;
  out.rmsNormEps = r.positiveNumber(
      l, p, "rms_norm_eps",
      qwen3 ? std::nullopt : std::optional<double>(1e-6));
  if (qwen3 && !r.failed() && !l.contains("head_dim"))
    r.fail(FieldReader::join(p, "head_dim"),
           "is required for Qwen3ForCausalLM (its head width need not be "
           "hidden_size / num_attention_heads)");
  out.initializerRange = r.positiveNumber(l, p, "initializer_range", 0.02);
  std::string act = r.string(l, p, "hidden_act", std::string("silu"));
  if (act != "silu")
    r.fail(FieldReader::join(p, "hidden_act"),
           "only \"silu\" (SwiGLU) is supported, got \"" + act + "\"");
  if (!r.failed() && out.hiddenSize % out.numHeads != 0 &&
      !l.contains("head_dim"))
    r.fail(FieldReader::join(p, "num_attention_heads"),
           llvm::formatv("{0} heads do not divide hidden_size {1}",
                         out.numHeads, out.hiddenSize));
  out.headDim =
      r.positiveInt(l, p, "head_dim", limits::kMaxWidth,
                    out.hiddenSize / std::max<int64_t>(1, out.numHeads));
  if (!r.failed() && out.headDim % 2 != 0)
    r.fail(FieldReader::join(p, "head_dim"),
           llvm::formatv("must be even (rotary embeddings rotate pairs), got "
                         "{0}",
                         out.headDim));
  if (!r.failed() && out.numHeads % out.numKvHeads != 0)
    r.fail(FieldReader::join(p, "num_key_value_heads"),
           llvm::formatv("{0} key/value heads do not divide the {1} query "
                         "heads",
                         out.numKvHeads, out.numHeads));

  switch (out.family) {
  case LlmFamily::Qwen2:
    out.qkvBias = true;
    break;
  case LlmFamily::Qwen3:
    out.qkvBias = out.outputBias = r.boolean(l, p, "attention_bias", false);
    out.qkNorm = true;
    if (r.boolean(l, p, "use_sliding_window", false))
      r.fail(FieldReader::join(p, "use_sliding_window"),
             "sliding-window attention is not supported; InternVL3.5 trains "
             "with full attention (false)");
    break;
  case LlmFamily::InternLM2:
    out.qkvBias = out.outputBias = r.boolean(l, p, "bias", false);
    break;
  case LlmFamily::Llama:
    out.qkvBias = out.outputBias = r.boolean(l, p, "attention_bias", false);
    break;
  case LlmFamily::Phi3:
    break;
  }
  readRope(r, l, p, out.rope);
  // Phi-3 keeps original_max_position_embeddings at the top of its config.
  if (out.rope.scaling == RopeScaling::LongRope)
    for (auto [key, factors] :
         {std::pair<const char *, const llvm::SmallVector<double> &>{
              "short_factor", out.rope.shortFactor},
          {"long_factor", out.rope.longFactor}})
      if (factors.size() != static_cast<size_t>(out.headDim / 2) &&
          !r.failed())
        r.fail(FieldReader::join(p, std::string("rope_scaling.") + key),
               llvm::formatv("expected {0} factors (head_dim {1} / 2), got {2}",
                             out.headDim / 2, out.headDim, factors.size()));
  if (out.rope.scaling == RopeScaling::Llama3 &&
      !(out.rope.highFreqFactor > out.rope.lowFreqFactor) && !r.failed())
    r.fail(FieldReader::join(p, "rope_scaling.high_freq_factor"),
           llvm::formatv("must be larger than low_freq_factor {0}, got {1}",
                         out.rope.lowFreqFactor, out.rope.highFreqFactor));
}

//===----------------------------------------------------------------------===//
// Whole config
//===----------------------------------------------------------------------===//

static llvm::Expected<ModelConfig> readConfig(const json &root,
                                              llvm::StringRef path) {
  FieldReader r(path);
  ModelConfig config;
  config.path = path.str();
  if (!root.is_object()) {
    r.fail("(top level)", "expected a JSON object, got " + jsonText(root));
    return r.takeError();
  }
  // The native format nests the LLM as text_config, the original as llm_config.
  bool native = root.contains("text_config") && !root.contains("llm_config");
  config.format =
      native ? ConfigFormat::HuggingFace : ConfigFormat::InternVLChat;
  llvm::StringRef llmKey = native ? "text_config" : "llm_config";

  if (const json *arch = r.find(root, "", "architectures", false)) {
    std::string name =
        arch->is_array() && !arch->empty() && (*arch)[0].is_string()
            ? (*arch)[0].get<std::string>()
            : "";
    llvm::StringRef expected =
        native ? "InternVLForConditionalGeneration" : "InternVLChatModel";
    if (name != expected)
      r.fail("architectures", "expected [\"" + expected.str() +
                                  "\"] for a config with " + llmKey.str() +
                                  ", got " + jsonText(*arch));
  }

  const json *vision = r.object(root, "", "vision_config");
  const json *llm = r.object(root, "", llmKey);
  if (r.failed())
    return r.takeError();
  readVision(r, *vision, "vision_config", config.format, config.vision);
  readLlm(r, *llm, llmKey, config.llm);
  if (r.failed())
    return r.takeError();
  if (native && config.llm.family == LlmFamily::InternLM2)
    r.fail("text_config.model_type",
           "InternLM2 has no transformers-native implementation; use the "
           "original InternVLChatModel config (llm_config) for it");

  if (native) {
    config.downsampleRatio =
        r.positiveNumber(root, "", "downsample_ratio", 0.5);
    config.selectLayer = r.integer(root, "", "vision_feature_layer", -1);
    config.psVersion = 2;
    config.forceImageSize = config.vision.imageSize;
    config.imageTokenId = r.integer(root, "", "image_token_id", 151667);
    std::string strategy =
        r.string(root, "", "vision_feature_select_strategy", "default");
    if (strategy != "default")
      r.fail("vision_feature_select_strategy",
             "only \"default\" (drop the class token) is supported, got \"" +
                 strategy + "\"");
    std::string act = r.string(root, "", "projector_hidden_act", "gelu");
    if (act != "gelu")
      r.fail("projector_hidden_act",
             "only \"gelu\" is supported, got \"" + act + "\"");
  } else {
    config.downsampleRatio =
        r.positiveNumber(root, "", "downsample_ratio", 0.5);
    config.selectLayer = r.integer(root, "", "select_layer", -1);
    config.forceImageSize =
        r.positiveInt(root, "", "force_image_size", limits::kMaxImageSize,
                      config.vision.imageSize);
    std::string ps = r.string(root, "", "ps_version", std::string("v1"));
    if (ps == "v1")
      config.psVersion = 1;
    else if (ps == "v2")
      config.psVersion = 2;
    else
      r.fail("ps_version", "expected \"v1\" or \"v2\", got \"" + ps + "\"");
    config.templateName = r.string(root, "", "template", std::string());
    if (root.contains("img_context_token_id") &&
        !root["img_context_token_id"].is_null())
      config.imageTokenId = r.integer(root, "", "img_context_token_id", 0);
    if (r.integer(root, "", "use_backbone_lora", 0) != 0 ||
        r.integer(root, "", "use_llm_lora", 0) != 0)
      r.fail("use_backbone_lora",
             "LoRA fine-tuning is not supported; expected 0");
  }
  if (r.failed())
    return r.takeError();
  return config;
}

llvm::Expected<ModelConfig> internvl::parseModelConfig(llvm::StringRef text,
                                                       llvm::StringRef path) {
  try {
    json root = json::parse(text.begin(), text.end());
    return readConfig(root, path);
  } catch (const json::exception &e) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: invalid JSON: %s", path.str().c_str(),
                                   e.what());
  }
}

llvm::Expected<ModelConfig> internvl::loadModelConfig(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "%s: cannot read: %s",
                                   path.str().c_str(),
                                   buffer.getError().message().c_str());
  return parseModelConfig((*buffer)->getBuffer(), path);
}
