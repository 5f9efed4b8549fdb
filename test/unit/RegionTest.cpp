//===- RegionTest.cpp - regions and layers of module paths ----------------===//

#include "internvl/Support/Region.h"

#include <gtest/gtest.h>

using namespace internvl;

namespace {

TEST(Region, BothNamingSchemes) {
  EXPECT_EQ(regionOf("vision_model.encoder.layers.3.attn.qkv"),
            ModelRegion::Vision);
  EXPECT_EQ(regionOf("model.vision_tower.embeddings.cls_token"),
            ModelRegion::Vision);
  EXPECT_EQ(regionOf("mlp1.1.weight"), ModelRegion::Projector);
  EXPECT_EQ(regionOf("model.multi_modal_projector.linear_1"),
            ModelRegion::Projector);
  EXPECT_EQ(regionOf("language_model.lm_head.weight"), ModelRegion::Llm);
  EXPECT_EQ(regionOf("model.language_model.norm"), ModelRegion::Llm);
  EXPECT_EQ(regionOf("lm_head.weight"), ModelRegion::Llm);
  EXPECT_EQ(regionOf("loss"), ModelRegion::Llm);
  // A prefix that merely starts like a region is not one.
  EXPECT_EQ(regionOf("mlp10.weight"), ModelRegion::Other);
}

TEST(Region, LayerIndex) {
  std::optional<LayerRef> layer =
      layerOf("vision_model.encoder.layers.13.mlp.fc1");
  ASSERT_TRUE(layer.has_value());
  EXPECT_EQ(layer->region, ModelRegion::Vision);
  EXPECT_EQ(layer->index, 13);
  layer = layerOf("model.language_model.layers.7");
  ASSERT_TRUE(layer.has_value());
  EXPECT_EQ(layer->region, ModelRegion::Llm);
  EXPECT_EQ(layer->index, 7);
  EXPECT_FALSE(layerOf("language_model.model.norm").has_value());
  EXPECT_FALSE(layerOf("language_model.model.layers.x").has_value());
  EXPECT_FALSE(layerOf("language_model.model.layers.1x").has_value());
}

} // namespace
