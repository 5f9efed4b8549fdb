//===- TGOps.h - training-graph operations ----------------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGOPS_H
#define INTERNVL_DIALECT_TG_IR_TGOPS_H

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "internvl/Dialect/TG/IR/TGEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "internvl/Dialect/TG/IR/TGAttrs.h.inc"

#include "internvl/Support/CostModel.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#define GET_OP_CLASSES
#include "internvl/Dialect/TG/IR/TGOps.h.inc"

namespace mlir::tg {
/// The sizes of a tg.linear_cross_entropy or its gradient, for their cost
/// and workspace.
template <typename OpTy>
internvl::cost::ChunkedLoss linearCrossEntropyShape(OpTy op) {
  auto hidden = llvm::cast<RankedTensorType>(op.getHidden().getType());
  auto weight = llvm::cast<RankedTensorType>(op.getWeight().getType());
  internvl::cost::ChunkedLoss loss;
  loss.hidden = weight.getDimSize(1);
  loss.vocab = weight.getDimSize(0);
  loss.tokens = loss.hidden ? hidden.getNumElements() / loss.hidden : 0;
  loss.elementBytes = (hidden.getElementTypeBitWidth() + 7) / 8;
  loss.chunk = static_cast<int64_t>(op.getChunkTokens());
  loss.weighted = op.getWeights() != nullptr;
  return loss;
}

/// The plan --tg-plan-memory recorded on `func`, or null.
MemoryPlanAttr getMemoryPlan(func::FuncOp func);
/// The settings --tg-data-parallel recorded on `func`, or null for a step
/// that is not (yet) one rank's.
DataParallelAttr getDataParallel(func::FuncOp func);

/// The phase of `op` (tg.phase), or none for a forward op.
std::optional<Phase> phaseOf(Operation *op);
/// Sets `op`'s tg.phase.
void setPhase(Operation *op, Phase phase);
/// "forward", "backward", "optimizer" or "recompute".
StringRef phaseName(Operation *op);
/// The module path of `op` (tg.scope), or "".
StringRef scopeOf(Operation *op);

/// Whether `op`'s kernel may write its (first) result over operand
/// `operand` when that operand dies at `op`: elementwise kernels whose output
/// element i depends only on input element i (or, for rope, on the pair it
/// rotates, which the kernel reads before writing), with the same size.
bool canWriteInPlace(Operation *op, unsigned operand);

/// The operand whose storage `result` takes by the op's definition, or null:
/// a reshape's input (a view); an all-reduce's or comm_wait's operand in the
/// same position; an all-gather's destination; AdamW's (and shard AdamW's)
/// master and moments, updated in place.
Value storageSource(OpResult result);

/// Whether `op` runs no kernel because its results are views of its
/// operands' storage (tg.reshape, tg.comm_wait: no kernelCall in ODS).
bool isStorageView(Operation *op);

/// The position of `result`'s location in its op's `tg.alloc`, which holds
/// one per result that owns storage (no storageSource), in result order.
unsigned allocIndex(OpResult result);

/// The parameter argument whose working copy AdamW's `new_param` replaces:
/// the argument `<name>` of the master argument `<name>.master`, or the
/// master itself when it is a parameter (f32 parameters are their own
/// master copy).
FailureOr<unsigned> updatedParameterArgument(func::FuncOp func, AdamWOp op);

/// Ops that communicate across data-parallel ranks.
bool isCollective(Operation *op);

/// Host copies (tg.offload, tg.prefetch), which run on a copy stream until
/// a tg.comm_wait takes their results.
bool isHostCopy(Operation *op);

/// The collectives and host copies whose results `wait` waits for: their
/// operands (and a collective's buffer) are in use until `wait`.
SmallVector<Operation *> waitedAsyncOps(CommWaitOp wait);

/// Emits an error naming `pass` when `func` is only a declaration: the
/// passes read and rewrite a body.
LogicalResult expectBody(func::FuncOp func, StringRef pass);

/// expectBody, and every argument, result and op result in `func` a step
/// tensor (isStepTensorType): the planner, the interpreter and the lowering
/// size each of them.
LogicalResult expectPlannableBody(func::FuncOp func, StringRef pass);
} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_TGOPS_H
