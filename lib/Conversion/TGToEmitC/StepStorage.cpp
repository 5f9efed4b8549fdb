//===- StepStorage.cpp - where each value of a planned step lives ---------===//

#include "internvl/Conversion/TGToEmitC/StepStorage.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"

using namespace mlir;
using namespace mlir::tg;

bool Storage::overlaps(const Storage &other) const {
  if (space != other.space)
    return false;
  if (space == Space::Argument)
    return argument == other.argument;
  return offset < other.offset + other.bytes &&
         other.offset < offset + bytes;
}

FailureOr<StepStorage> StepStorage::read(func::FuncOp func) {
  StepStorage result;
  auto &storage = result.storage;
  for (BlockArgument arg : func.getArguments()) {
    Storage s;
    s.space = Storage::Space::Argument;
    s.argument = arg.getArgNumber();
    s.bytes = tensorBytes(arg.getType());
    storage[arg] = s;
  }
  auto argumentOf = [&](Operation *op, Value v) -> FailureOr<Storage> {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg)
      return op->emitError("updates a value in place that is not a step "
                           "argument");
    return storage[arg];
  };

  for (Operation &op : func.getBody().front().without_terminator()) {
    // Results that are an operand's storage (views, in-place updates).
    SmallVector<OpResult> planned;
    for (OpResult result : op.getResults()) {
      if (Value source = storageSource(result)) {
        if (isa<AdamWOp, ShardAdamWOp>(op) && failed(argumentOf(&op, source)))
          return failure();
        // Copied first: inserting may grow the map under a reference.
        Storage shared = storage.lookup(source);
        storage[result] = shared;
        continue;
      }
      planned.push_back(result);
    }
    if (auto adamw = dyn_cast<AdamWOp>(op)) {
      FailureOr<unsigned> param = updatedParameterArgument(func, adamw);
      if (failed(param))
        return failure();
      Storage shared = storage.lookup(func.getArgument(*param));
      storage[adamw.getNewParam()] = shared;
      continue;
    }
    if (planned.empty())
      continue;
    auto allocs = op.getAttrOfType<ArrayAttr>(kAllocAttr);
    if (!allocs || allocs.size() != planned.size())
      return op.emitError("has no planned storage (")
             << kAllocAttr << "): run --tg-plan-memory before lowering";
    for (auto [result, attr] : llvm::zip(planned, allocs)) {
      auto alloc = dyn_cast<AllocAttr>(attr);
      if (!alloc)
        return op.emitError("has a ")
               << kAllocAttr << " entry that is not a #tg.alloc: " << attr;
      Storage s;
      switch (alloc.getSpace()) {
      case MemorySpace::Arena:
        s.space = Storage::Space::Arena;
        break;
      case MemorySpace::Grads:
        s.space = Storage::Space::Grads;
        break;
      case MemorySpace::Host:
        s.space = Storage::Space::Host;
        break;
      }
      s.offset = alloc.getOffset();
      s.bytes = tensorBytes(result.getType());
      if (s.bytes > alloc.getSize())
        return op.emitError("result needs ")
               << s.bytes << " bytes but its planned buffer has "
               << alloc.getSize();
      storage[result] = s;
    }
  }
  return result;
}
