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

/// Moves layer outputs (the next layers' checkpoints) to host memory between
/// forward and backward. Of each layer's outputs that backward
/// (recomputations included) still reads, the largest are taken first while
/// their sum stays
/// within `offloadBytes[i]` (aligned with collectRematLayers(func)). Each is
/// copied to the host right after it is made (`tg.offload`), waited for
/// (`tg.comm_wait`) once the next layer's forward has run, copied back
/// (`tg.prefetch`) when the next layer's backward begins and waited for
/// before its first backward reader, which then reads the copy. Apply after
/// applySegments. Returns the bytes offloaded per layer.
std::vector<int64_t> applyOffload(func::FuncOp func,
                                  llvm::ArrayRef<RematLayer> layers,
                                  llvm::ArrayRef<int64_t> offloadBytes);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_REMATREWRITE_H
