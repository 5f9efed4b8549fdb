//===- ImportLimits.h - the largest model the importer takes ---*- C++ -*-===//
//
// A config.json or a flag can say anything; the importer refuses a model or a
// micro-batch that no device could ever hold, naming the field. Each ceiling
// is far above every released InternVL model (the largest value there is in
// the comment) and far below int64 overflow in the shapes the graph builds
// from it. docs/import.md lists them.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_IMPORTLIMITS_H
#define INTERNVL_IMPORT_IMPORTLIMITS_H

#include "internvl/runtime/CheckedMath.h"

#include <cstdint>

namespace internvl::limits {

/// num_hidden_layers of InternViT and of the LLM (InternVL3-78B: 80).
inline constexpr int64_t kMaxLayers = 1024;
/// hidden_size, intermediate_size and head_dim (Qwen2.5-72B's MLP: 29568).
inline constexpr int64_t kMaxWidth = int64_t(1) << 20;
/// num_attention_heads and num_key_value_heads (64).
inline constexpr int64_t kMaxHeads = 4096;
/// vocab_size (Qwen2.5: 151674; InternLM2: 92553).
inline constexpr int64_t kMaxVocab = int64_t(1) << 24;
/// image_size of a tile in pixels (448).
inline constexpr int64_t kMaxImageSize = 16384;
/// num_channels of the pixels (RGB: 3).
inline constexpr int64_t kMaxChannels = 64;
/// max_position_embeddings and original_max_position_embeddings (131072).
inline constexpr int64_t kMaxPositions = int64_t(1) << 30;
/// --per_device_train_batch_size (InternVL's scripts: 1..4).
inline constexpr int64_t kMaxBatch = 65536;
/// --max_dynamic_patch, tiles per image (InternVL: 6..12, 40 for video).
inline constexpr int64_t kMaxTiles = 4096;
/// --max_seq_length in tokens (InternVL3.5 packs 32768).
inline constexpr int64_t kMaxSeqLength = int64_t(1) << 24;
/// One tensor of the graph, activation or parameter (ivl::kMaxTensorBytes).
inline constexpr int64_t kMaxTensorBytes = ivl::kMaxTensorBytes;
/// All parameters in their working precision: 16 TiB, 8.8e12 bf16
/// parameters (InternVL3.5-241B: 0.45 TiB).
inline constexpr int64_t kMaxParameterBytes = int64_t(1) << 44;

} // namespace internvl::limits

#endif // INTERNVL_IMPORT_IMPORTLIMITS_H
