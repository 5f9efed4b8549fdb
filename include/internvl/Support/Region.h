//===- Region.h - which part of the model a module path belongs to --------===//
//
// Reports, freeze flags and recomputation policies speak of three regions:
// the vision encoder, the projector and the LLM. Both parameter naming schemes
// (InternVLChatModel and transformers' InternVLForConditionalGeneration) map
// onto them here.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_REGION_H
#define INTERNVL_SUPPORT_REGION_H

#include "llvm/ADT/StringRef.h"

#include <optional>

namespace internvl {

enum class ModelRegion { Vision, Projector, Llm, Other };

/// The region of a module path or parameter name ("vision_model.encoder...",
/// "mlp1.1.weight", "language_model.model.layers.3", "model.vision_tower...",
/// "model.multi_modal_projector...", "model.language_model...", "lm_head...").
ModelRegion regionOf(llvm::StringRef path);

/// "vision", "projector", "llm" or "other".
llvm::StringRef stringifyRegion(ModelRegion region);

/// The transformer layer a module path lies in, e.g. ("vision", 3) for
/// "vision_model.encoder.layers.3.attn.qkv"; std::nullopt outside layers.
struct LayerRef {
  ModelRegion region;
  int64_t index;
};
std::optional<LayerRef> layerOf(llvm::StringRef path);

/// Whether a parameter name is a LoRA adapter's ("<module>.lora_A.weight" or
/// "<module>.lora_B.weight", as internvl-import names them).
inline bool isLoraAdapter(llvm::StringRef name) {
  return name.contains(".lora_A.") || name.contains(".lora_B.");
}

} // namespace internvl

#endif // INTERNVL_SUPPORT_REGION_H
