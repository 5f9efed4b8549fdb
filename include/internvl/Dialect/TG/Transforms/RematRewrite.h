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

/// Drops the outputs of the layers `dropped` marks (aligned with
/// collectRematLayers(func)): each run of consecutive dropped layers of a
/// region is re-run once in backward (the ops that make their outputs,
/// cloned with tg.phase = "recompute"), before the first backward op that
/// reads one of those outputs, and backward, recomputations included, reads
/// the re-run's outputs instead. Apply after applyRecompute, whose clones
/// read the layers' inputs. Returns the number of ops cloned.
int64_t applySegments(func::FuncOp func, llvm::ArrayRef<RematLayer> layers,
                      const std::vector<bool> &dropped);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_REMATREWRITE_H
