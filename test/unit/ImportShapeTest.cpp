//===- ImportShapeTest.cpp - config parsing and micro-batch shapes --------===//

#include "internvl/Import/ImportOptions.h"
#include "internvl/Import/ModelConfig.h"

#include <gtest/gtest.h>

using namespace internvl;

namespace {

/// A tiny InternVL2-style config (InternViT-300M layout, Qwen2 LLM).
constexpr const char *kTiny = R"({
  "architectures": ["InternVLChatModel"],
  "vision_config": {"hidden_size": 32, "intermediate_size": 64,
    "num_attention_heads": 2, "num_hidden_layers": 5, "image_size": 56,
    "patch_size": 14, "norm_type": "layer_norm", "qkv_bias": true},
  "llm_config": {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
    "intermediate_size": 96, "num_attention_heads": 4,
    "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 128},
  "downsample_ratio": 0.5, "ps_version": "v2"
})";

ModelConfig parse(const char *text) {
  llvm::Expected<ModelConfig> config = parseModelConfig(text, "tiny.json");
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return {};
  }
  return *config;
}

TEST(ModelConfig, ReadsTheOriginalLayout) {
  ModelConfig config = parse(kTiny);
  EXPECT_EQ(config.format, ConfigFormat::InternVLChat);
  EXPECT_EQ(config.llm.family, LlmFamily::Qwen2);
  EXPECT_EQ(config.llm.headDim, 16);
  EXPECT_TRUE(config.llm.qkvBias);
  EXPECT_FALSE(config.llm.outputBias);
  EXPECT_EQ(config.vision.imageSize, 56);
  EXPECT_EQ(config.forceImageSize, 56);
  EXPECT_EQ(config.psVersion, 2);
}

TEST(ModelConfig, ErrorsNameFileAndField) {
  llvm::Expected<ModelConfig> config =
      parseModelConfig(R"({"vision_config": {}, "llm_config": 3})", "x.json");
  ASSERT_FALSE(static_cast<bool>(config));
  EXPECT_EQ(llvm::toString(config.takeError()),
            "x.json: llm_config: expected an object, got 3");
}

TEST(ImportShape, ThumbnailOnlyWhenAnImageIsSplit) {
  ModelConfig config = parse(kTiny);
  ImportOptions options;
  options.maxSeqLength = 64;
  options.useThumbnail = true;
  options.maxDynamicPatch = 1;
  options.perDeviceTrainBatchSize = 3;
  llvm::Expected<ImportShape> one = computeImportShape(config, options);
  ASSERT_TRUE(static_cast<bool>(one)) << llvm::toString(one.takeError());
  EXPECT_EQ(one->tilesPerSample, 1);
  options.maxDynamicPatch = 4;
  llvm::Expected<ImportShape> split = computeImportShape(config, options);
  ASSERT_TRUE(static_cast<bool>(split)) << llvm::toString(split.takeError());
  EXPECT_EQ(split->tilesPerSample, 5);
  EXPECT_EQ(split->numTiles, 15);
  EXPECT_EQ(split->tokensPerTile, 4);
  EXPECT_EQ(split->imageTokensPerSample, 20);
}

TEST(ImportShape, DropPathScheduleIsLinear) {
  ModelConfig config = parse(kTiny);
  ImportOptions options;
  options.maxSeqLength = 64;
  options.maxDynamicPatch = 1;
  options.dropPathRate = 0.4;
  llvm::Expected<ImportShape> shape = computeImportShape(config, options);
  ASSERT_TRUE(static_cast<bool>(shape)) << llvm::toString(shape.takeError());
  ASSERT_EQ(shape->dropPathRates.size(), 5u);
  EXPECT_DOUBLE_EQ(shape->dropPathRates[0], 0.0);
  EXPECT_DOUBLE_EQ(shape->dropPathRates[2], 0.2);
  EXPECT_DOUBLE_EQ(shape->dropPathRates[4], 0.4);
}

TEST(ImportShape, SelectLayerCountsFromTheEmbeddings) {
  ModelConfig config = parse(kTiny);
  ImportOptions options;
  options.maxSeqLength = 64;
  options.maxDynamicPatch = 1;
  for (auto [select, used] :
       {std::pair<int64_t, int64_t>{-1, 5}, {-2, 4}, {-6, 0}, {0, 0}, {3, 3}}) {
    options.visionSelectLayer = select;
    llvm::Expected<ImportShape> shape = computeImportShape(config, options);
    ASSERT_TRUE(static_cast<bool>(shape)) << llvm::toString(shape.takeError());
    EXPECT_EQ(shape->vitLayersUsed, used) << "select " << select;
  }
  options.visionSelectLayer = -7;
  llvm::Expected<ImportShape> bad = computeImportShape(config, options);
  ASSERT_FALSE(static_cast<bool>(bad));
  llvm::consumeError(bad.takeError());
}

} // namespace
