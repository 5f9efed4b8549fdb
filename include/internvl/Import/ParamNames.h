//===- ParamNames.h - Hugging Face parameter and module names ---*- C++ -*-===//
//
// The two checkpoint layouts of InternVL name the same modules differently
// and split some projections differently (InternViT's fused qkv versus
// transformers' q/k/v; InternLM2's grouped wqkv; Phi-3's fused qkv and
// gate_up). This table holds the module paths of one layout; the graph builder
// appends ".weight"/".bias" and asks it how projections are fused.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_PARAMNAMES_H
#define INTERNVL_IMPORT_PARAMNAMES_H

#include "internvl/Import/ModelConfig.h"

#include <string>

namespace internvl {

/// How an attention block's q, k and v projections are stored.
enum class QkvLayout {
  /// Separate q_proj, k_proj, v_proj.
  Separate,
  /// One linear whose output is [q; k; v] (Phi-3 qkv_proj).
  Concatenated,
  /// One linear whose output is [3, H, Dh] (InternViT attn.qkv).
  Stacked,
  /// One linear whose output is [Hkv, groups + 2, Dh]: each KV head's query
  /// heads, then its key and value (InternLM2 wqkv).
  GroupedInterleaved,
};

/// Module paths; "{0}" stands for the layer index.
struct ParamNames {
  // InternViT embeddings.
  std::string visionEmbeddings, classEmbedding, patchEmbedding,
      positionEmbedding;
  // InternViT layer (relative names under `visionLayer`).
  std::string visionLayer, visionNorm1, visionNorm2, visionAttn, visionQkv,
      visionQ, visionK, visionV, visionQNorm, visionKNorm, visionProj,
      visionMlp, visionFc1, visionFc2, visionLs1, visionLs2;
  QkvLayout visionQkvLayout = QkvLayout::Stacked;
  // Projector.
  std::string projector, projectorNorm, projectorFc1, projectorAct,
      projectorFc2;
  // LLM (relative names under `llmLayer`).
  std::string llmEmbedTokens, llmLayer, llmInputNorm, llmAttn, llmQkv, llmQ,
      llmK, llmV, llmQNorm, llmKNorm, llmO, llmPostNorm, llmMlp, llmGate, llmUp,
      llmGateUp, llmDown, llmFinalNorm, lmHead;
  QkvLayout llmQkvLayout = QkvLayout::Separate;
  bool llmFusedGateUp = false;

  /// The names of a model in `format` with an LLM of `family`.
  static ParamNames get(ConfigFormat format, LlmFamily family);
};

} // namespace internvl

#endif // INTERNVL_IMPORT_PARAMNAMES_H
