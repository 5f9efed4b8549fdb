//===- MemoryPlan.h - the memory plan of a tg function -------------------===//
//
// --tg-plan-memory computes a plan (placeBuffers) and records it in the IR:
// `tg.alloc` on ops (one entry per result), `tg.workspace` on attention
// backward ops, and `#tg.memory_plan` on the function. MemoryPlan::read
// reads it back, together with the buffer analysis, for the reports: the
// same struct either way.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_ANALYSIS_MEMORYPLAN_H
#define INTERNVL_DIALECT_TG_ANALYSIS_MEMORYPLAN_H

#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <optional>

namespace mlir::tg {

/// Name of the op attribute holding one #tg.alloc per result.
inline constexpr llvm::StringLiteral kAllocAttr = "tg.alloc";
/// Name of the function attribute holding what --tg-remat did.
inline constexpr llvm::StringLiteral kRematAttr = "tg.remat";
/// Name of the op attribute holding an op's scratch #tg.alloc.
inline constexpr llvm::StringLiteral kWorkspaceAttr = "tg.workspace";

struct MemoryPlan {
  std::unique_ptr<BufferAnalysis> analysis;
  PlanOptions options;
  /// Offset of each buffer of the analysis in its space.
  std::vector<int64_t> offsets;
  int64_t arenaBytes = 0;
  int64_t liveLowerBound = 0;
  /// Bytes of the buffer the gradients fill in the order they are made.
  int64_t gradsBufferBytes = 0;
  /// Bytes of the pinned host buffer of offloaded activations (not part of
  /// the device peak).
  int64_t hostBytes = 0;
  /// The budget --tg-remat planned for, when it had one.
  std::optional<int64_t> budgetBytes;

  int64_t peakBytes() const {
    return analysis->getPersistent().total() + arenaBytes;
  }
  /// Live arena bytes at each step.
  std::vector<int64_t> liveBytesPerStep() const;
  /// The step with the most live arena bytes.
  int64_t peakStep() const;
  /// FLOPs of all ops, and of the ops recomputed in backward.
  int64_t totalFlops() const;
  int64_t recomputeFlops() const;

  /// Reads the plan of a function that --tg-plan-memory planned; fails with
  /// a message on `func` otherwise.
  static FailureOr<MemoryPlan> read(func::FuncOp func);
};

/// Checks the plan recorded on `func` independently of the planner: every
/// field the lowering and the runtime trust (PlanVerifier.cpp); errors go
/// to `func` and its ops.
LogicalResult verifyMemoryPlan(func::FuncOp func);

/// The planned function of a module: `name` if given, else @train_step, else
/// @forward; emits an error on the module when there is none.
func::FuncOp findPlannedFunction(ModuleOp module, StringRef name);

/// The plan of `func` computed afresh (what --tg-plan-memory records; the
/// budget is left for the pass to fill in).
MemoryPlan placeBuffers(func::FuncOp func, const PlanOptions &options);

/// Plan options: the given value unless it is -1 (unset), else the module's
/// tg.zero_stage / tg.world_size, else 0 and 1.
PlanOptions planOptionsFor(ModuleOp module, int64_t zeroStage,
                           int64_t worldSize);
/// Emits an error on `module` (naming `pass`) when the ZeRO stage is not 0-3,
/// the world size not in [1, kMaxWorldSize], the alignment not a power of
/// two up to 1 GiB or the cuBLAS workspace not in [0, 1 TiB].
LogicalResult checkPlanOptions(ModuleOp module, const PlanOptions &options,
                               StringRef pass);

/// findPlannedFunction and MemoryPlan::read together.
FailureOr<MemoryPlan> readModulePlan(ModuleOp module, StringRef functionName);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_ANALYSIS_MEMORYPLAN_H
