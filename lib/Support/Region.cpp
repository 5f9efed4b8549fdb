//===- Region.cpp - regions and layers of module paths --------------------===//

#include "internvl/Support/Region.h"

using namespace internvl;

ModelRegion internvl::regionOf(llvm::StringRef path) {
  if (path.starts_with("vision_model.") ||
      path.starts_with("model.vision_tower."))
    return ModelRegion::Vision;
  if (path == "mlp1" || path.starts_with("mlp1.") ||
      path.starts_with("model.multi_modal_projector"))
    return ModelRegion::Projector;
  if (path.starts_with("language_model.") ||
      path.starts_with("model.language_model.") || path == "lm_head" ||
      path.starts_with("lm_head.") || path == "loss")
    return ModelRegion::Llm;
  return ModelRegion::Other;
}

llvm::StringRef internvl::stringifyRegion(ModelRegion region) {
  switch (region) {
  case ModelRegion::Vision:
    return "vision";
  case ModelRegion::Projector:
    return "projector";
  case ModelRegion::Llm:
    return "llm";
  case ModelRegion::Other:
    return "other";
  }
  return "other";
}

std::optional<LayerRef> internvl::layerOf(llvm::StringRef path) {
  // The layer lists of both naming schemes; the index follows the prefix.
  static constexpr llvm::StringLiteral prefixes[] = {
      "vision_model.encoder.layers.", "model.vision_tower.encoder.layer.",
      "language_model.model.layers.", "model.language_model.layers."};
  for (llvm::StringRef prefix : prefixes) {
    if (!path.starts_with(prefix))
      continue;
    llvm::StringRef rest = path.drop_front(prefix.size());
    llvm::StringRef digits =
        rest.take_while([](char c) { return c >= '0' && c <= '9'; });
    int64_t index;
    if (digits.empty() || digits.getAsInteger(10, index))
      return std::nullopt;
    if (rest.size() > digits.size() && rest[digits.size()] != '.')
      return std::nullopt;
    return LayerRef{regionOf(path), index};
  }
  return std::nullopt;
}
