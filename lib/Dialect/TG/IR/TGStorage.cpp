//===- TGStorage.cpp - how op results share storage -----------------------===//
//
// What the memory plan, its checker, the lowering and the interpreter ask
// about storage: which kernels may overwrite an operand and which results
// are an operand's storage (read from each op's ODS entry through
// StorageOpInterface), what a collective keeps in use until it is waited
// for, and the typed step attributes.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"

using namespace mlir;
using namespace mlir::tg;

bool mlir::tg::canWriteInPlace(Operation *op, unsigned operand) {
  auto storage = dyn_cast<StorageOpInterface>(op);
  if (!storage || op->getNumResults() == 0 ||
      operand >= op->getNumOperands())
    return false;
  auto in = dyn_cast<RankedTensorType>(op->getOperand(operand).getType());
  auto out = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!in || !out || in.getShape() != out.getShape() ||
      in.getElementTypeBitWidth() != out.getElementTypeBitWidth())
    return false;
  return storage.mayOverwriteOperand(operand);
}

Value mlir::tg::storageSource(OpResult result) {
  auto storage = dyn_cast<StorageOpInterface>(result.getOwner());
  return storage ? storage.getStorageSource(result.getResultNumber())
                 : Value();
}

bool mlir::tg::isStorageView(Operation *op) {
  auto kernelOp = dyn_cast<KernelOpInterface>(op);
  if (!kernelOp)
    return false;
  KernelCall call;
  kernelOp.describeKernelCall(call);
  return !call.entry;
}

unsigned mlir::tg::allocIndex(OpResult result) {
  unsigned index = 0;
  for (OpResult r : result.getOwner()->getResults().take_front(
           result.getResultNumber()))
    index += !storageSource(r);
  return index;
}

FailureOr<unsigned> mlir::tg::updatedParameterArgument(func::FuncOp func,
                                                       AdamWOp op) {
  auto master = dyn_cast<BlockArgument>(op.getMaster());
  // An f32 parameter is its own master copy.
  if (master && func.getArgAttrOfType<StringAttr>(master.getArgNumber(),
                                                  TGDialect::getKindAttrName()) ==
                    StringAttr::get(func.getContext(), "param"))
    return master.getArgNumber();
  auto masterName =
      master ? func.getArgAttrOfType<StringAttr>(master.getArgNumber(),
                                                 TGDialect::getNameAttrName())
             : StringAttr();
  if (!masterName || !masterName.getValue().ends_with(".master"))
    return op.emitError("the master copy AdamW updates is not a step argument "
                        "named '<parameter>.master'");
  StringRef param = masterName.getValue().drop_back(strlen(".master"));
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (auto name = func.getArgAttrOfType<StringAttr>(
            i, TGDialect::getNameAttrName());
        name && name.getValue() == param)
      return i;
  return op.emitError("no step argument is the parameter '")
         << param << "' whose master AdamW updates";
}

MemoryPlanAttr mlir::tg::getMemoryPlan(func::FuncOp func) {
  return func->getAttrOfType<MemoryPlanAttr>(
      TGDialect::getMemoryPlanAttrName());
}

DataParallelAttr mlir::tg::getDataParallel(func::FuncOp func) {
  return func->getAttrOfType<DataParallelAttr>(
      TGDialect::getDataParallelAttrName());
}

std::optional<Phase> mlir::tg::phaseOf(Operation *op) {
  if (auto phase =
          op->getAttrOfType<PhaseAttr>(TGDialect::getPhaseAttrName()))
    return phase.getValue();
  return std::nullopt;
}

void mlir::tg::setPhase(Operation *op, Phase phase) {
  op->setAttr(TGDialect::getPhaseAttrName(),
              PhaseAttr::get(op->getContext(), phase));
}

StringRef mlir::tg::phaseName(Operation *op) {
  std::optional<Phase> phase = phaseOf(op);
  return phase ? stringifyPhase(*phase) : StringRef("forward");
}

StringRef mlir::tg::scopeOf(Operation *op) {
  auto scope = op->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName());
  return scope ? scope.getValue() : StringRef();
}

bool mlir::tg::isCollective(Operation *op) {
  return isa<AllReduceMeanOp, ReduceScatterMeanOp, AllGatherOp>(op) ||
         (isa<GlobalNormOp>(op) && cast<GlobalNormOp>(op).getAcrossRanks());
}

bool mlir::tg::isHostCopy(Operation *op) {
  return isa<OffloadOp, PrefetchOp>(op);
}

SmallVector<Operation *> mlir::tg::waitedAsyncOps(CommWaitOp wait) {
  SmallVector<Operation *> ops;
  for (Value v : wait.getInputs())
    if (Operation *def = v.getDefiningOp();
        def && (isCollective(def) || isHostCopy(def)) &&
        !llvm::is_contained(ops, def))
      ops.push_back(def);
  return ops;
}

LogicalResult mlir::tg::expectBody(func::FuncOp func, StringRef pass) {
  if (!func.isExternal())
    return success();
  return func.emitError() << pass << ": @" << func.getName()
                          << " is a declaration without a body";
}

LogicalResult mlir::tg::expectPlannableBody(func::FuncOp func, StringRef pass) {
  if (failed(expectBody(func, pass)))
    return failure();
  auto rule = [&](InFlightDiagnostic &&diag) -> LogicalResult {
    return diag << "; " << pass
                << " takes statically shaped tensors of bf16, f16, f32, i64 "
                   "or i1 of at most 1 TiB";
  };
  FunctionType type = func.getFunctionType();
  for (auto [i, t] : llvm::enumerate(type.getInputs()))
    if (!isStepTensorType(t))
      return rule(func.emitError() << "argument #" << i << " of @"
                                   << func.getName() << " has type " << t);
  for (auto [i, t] : llvm::enumerate(type.getResults()))
    if (!isStepTensorType(t))
      return rule(func.emitError() << "result #" << i << " of @"
                                   << func.getName() << " has type " << t);
  WalkResult walk = func.walk([&](Operation *op) {
    for (Type t : op->getResultTypes())
      if (!isStepTensorType(t)) {
        (void)rule(op->emitOpError() << "has a result of type " << t);
        return WalkResult::interrupt();
      }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}
