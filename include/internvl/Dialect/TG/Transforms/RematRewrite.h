//===- RematRewrite.h - recomputation applied to a step ---------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_REMATREWRITE_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_REMATREWRITE_H

#include "internvl/Dialect/TG/Analysis/RematLayers.h"

namespace mlir::tg {

/// Clones the ops that `recompute` marks (per layer, aligned with
/// collectRematLayers(func)) into backward, before the first backward op that
/// reads any of them, and points backward at the clones. Clones carry
/// tg.phase = "recompute". Returns the number of ops cloned.
int64_t applyRecompute(func::FuncOp func, llvm::ArrayRef<RematLayer> layers,
                       llvm::ArrayRef<std::vector<bool>> recompute);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_REMATREWRITE_H
