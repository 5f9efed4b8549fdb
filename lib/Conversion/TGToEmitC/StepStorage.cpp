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

FailureOr<unsigned> StepStorage::updatedParameter(func::FuncOp func,
                                                  AdamWOp op) {
  auto master = dyn_cast<BlockArgument>(op.getMaster());
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
    if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      storage[reshape.getResult()] = storage[reshape.getInput()];
      continue;
    }
    if (auto adamw = dyn_cast<AdamWOp>(op)) {
      FailureOr<unsigned> param = updatedParameter(func, adamw);
      if (failed(param))
        return failure();
      FailureOr<Storage> master = argumentOf(&op, adamw.getMaster()),
                         avg = argumentOf(&op, adamw.getExpAvg()),
                         avgSq = argumentOf(&op, adamw.getExpAvgSq());
      if (failed(master) || failed(avg) || failed(avgSq))
        return failure();
      storage[adamw.getResult(0)] = *master;
      storage[adamw.getResult(1)] = *avg;
      storage[adamw.getResult(2)] = *avgSq;
      storage[adamw.getResult(3)] = storage[func.getArgument(*param)];
      continue;
    }
    auto allocs = op.getAttrOfType<ArrayAttr>(kAllocAttr);
    if (!allocs || allocs.size() != op.getNumResults())
      return op.emitError("has no planned storage (")
             << kAllocAttr << "): run --tg-plan-memory before lowering";
    for (auto [result, attr] : llvm::zip(op.getResults(), allocs)) {
      auto alloc = dyn_cast<AllocAttr>(attr);
      if (!alloc)
        return op.emitError("has a ")
               << kAllocAttr << " entry that is not a #tg.alloc: " << attr;
      Storage s;
      s.space = alloc.getSpace() == MemorySpace::Grads ? Storage::Space::Grads
                                                       : Storage::Space::Arena;
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
