//===- ParamNames.cpp - module paths of both checkpoint layouts -----------===//

#include "internvl/Import/ParamNames.h"

using namespace internvl;

/// InternVLChatModel: vision_model.* (InternViT), mlp1.*, language_model.*
/// with the LLM's own remote-code names.
static ParamNames internVLChatNames(LlmFamily family) {
  ParamNames n;
  n.visionEmbeddings = "vision_model.embeddings";
  n.classEmbedding = "vision_model.embeddings.class_embedding";
  n.patchEmbedding = "vision_model.embeddings.patch_embedding";
  n.positionEmbedding = "vision_model.embeddings.position_embedding";
  n.visionLayer = "vision_model.encoder.layers.{0}";
  n.visionNorm1 = "norm1";
  n.visionNorm2 = "norm2";
  n.visionAttn = "attn";
  n.visionQkv = "attn.qkv";
  n.visionQNorm = "attn.q_norm";
  n.visionKNorm = "attn.k_norm";
  n.visionProj = "attn.proj";
  n.visionMlp = "mlp";
  n.visionFc1 = "mlp.fc1";
  n.visionFc2 = "mlp.fc2";
  n.visionLs1 = "ls1";
  n.visionLs2 = "ls2";
  n.visionQkvLayout = QkvLayout::Stacked;

  n.projector = "mlp1";
  n.projectorNorm = "mlp1.0";
  n.projectorFc1 = "mlp1.1";
  n.projectorAct = "mlp1.2";
  n.projectorFc2 = "mlp1.3";

  if (family == LlmFamily::InternLM2) {
    n.llmEmbedTokens = "language_model.model.tok_embeddings";
    n.llmLayer = "language_model.model.layers.{0}";
    n.llmInputNorm = "attention_norm";
    n.llmAttn = "attention";
    n.llmQkv = "attention.wqkv";
    n.llmO = "attention.wo";
    n.llmPostNorm = "ffn_norm";
    n.llmMlp = "feed_forward";
    n.llmGate = "feed_forward.w1";
    n.llmUp = "feed_forward.w3";
    n.llmDown = "feed_forward.w2";
    n.llmFinalNorm = "language_model.model.norm";
    n.lmHead = "language_model.output";
    n.llmQkvLayout = QkvLayout::GroupedInterleaved;
    return n;
  }
  n.llmEmbedTokens = "language_model.model.embed_tokens";
  n.llmLayer = "language_model.model.layers.{0}";
  n.llmInputNorm = "input_layernorm";
  n.llmAttn = "self_attn";
  n.llmQ = "self_attn.q_proj";
  n.llmK = "self_attn.k_proj";
  n.llmV = "self_attn.v_proj";
  n.llmQNorm = "self_attn.q_norm";
  n.llmKNorm = "self_attn.k_norm";
  n.llmO = "self_attn.o_proj";
  n.llmPostNorm = "post_attention_layernorm";
  n.llmMlp = "mlp";
  n.llmGate = "mlp.gate_proj";
  n.llmUp = "mlp.up_proj";
  n.llmDown = "mlp.down_proj";
  n.llmFinalNorm = "language_model.model.norm";
  n.lmHead = "language_model.lm_head";
  if (family == LlmFamily::Phi3) {
    n.llmQkv = "self_attn.qkv_proj";
    n.llmQkvLayout = QkvLayout::Concatenated;
    n.llmGateUp = "mlp.gate_up_proj";
    n.llmFusedGateUp = true;
  }
  return n;
}

/// transformers' InternVLForConditionalGeneration: model.vision_tower.*,
/// model.multi_modal_projector.*, model.language_model.* and lm_head.
static ParamNames huggingFaceNames(LlmFamily family) {
  ParamNames n;
  n.visionEmbeddings = "model.vision_tower.embeddings";
  n.classEmbedding = "model.vision_tower.embeddings.cls_token";
  n.patchEmbedding =
      "model.vision_tower.embeddings.patch_embeddings.projection";
  n.positionEmbedding = "model.vision_tower.embeddings.position_embeddings";
  n.visionLayer = "model.vision_tower.encoder.layer.{0}";
  n.visionNorm1 = "layernorm_before";
  n.visionNorm2 = "layernorm_after";
  n.visionAttn = "attention";
  n.visionQ = "attention.q_proj";
  n.visionK = "attention.k_proj";
  n.visionV = "attention.v_proj";
  n.visionQNorm = "attention.q_norm";
  n.visionKNorm = "attention.k_norm";
  n.visionProj = "attention.projection_layer";
  n.visionMlp = "mlp";
  n.visionFc1 = "mlp.fc1";
  n.visionFc2 = "mlp.fc2";
  n.visionLs1 = "lambda_1";
  n.visionLs2 = "lambda_2";
  n.visionQkvLayout = QkvLayout::Separate;

  n.projector = "model.multi_modal_projector";
  n.projectorNorm = "model.multi_modal_projector.layer_norm";
  n.projectorFc1 = "model.multi_modal_projector.linear_1";
  n.projectorAct = "model.multi_modal_projector.act";
  n.projectorFc2 = "model.multi_modal_projector.linear_2";

  n.llmEmbedTokens = "model.language_model.embed_tokens";
  n.llmLayer = "model.language_model.layers.{0}";
  n.llmInputNorm = "input_layernorm";
  n.llmAttn = "self_attn";
  n.llmQ = "self_attn.q_proj";
  n.llmK = "self_attn.k_proj";
  n.llmV = "self_attn.v_proj";
  n.llmQNorm = "self_attn.q_norm";
  n.llmKNorm = "self_attn.k_norm";
  n.llmO = "self_attn.o_proj";
  n.llmPostNorm = "post_attention_layernorm";
  n.llmMlp = "mlp";
  n.llmGate = "mlp.gate_proj";
  n.llmUp = "mlp.up_proj";
  n.llmDown = "mlp.down_proj";
  n.llmFinalNorm = "model.language_model.norm";
  n.lmHead = "lm_head";
  n.llmQkvLayout = QkvLayout::Separate;
  if (family == LlmFamily::Phi3) {
    n.llmQkv = "self_attn.qkv_proj";
    n.llmQkvLayout = QkvLayout::Concatenated;
    n.llmGateUp = "mlp.gate_up_proj";
    n.llmFusedGateUp = true;
  }
  return n;
}

ParamNames ParamNames::get(ConfigFormat format, LlmFamily family) {
  return format == ConfigFormat::HuggingFace ? huggingFaceNames(family)
                                             : internVLChatNames(family);
}
