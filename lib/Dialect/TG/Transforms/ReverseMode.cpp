//===- ReverseMode.cpp - reverse-mode differentiation of a block ----------===//
//
// Classic reverse sweep over a straight-line block: mark the values that
// depend on the differentiated inputs, walk the ops backwards from the loss,
// let each op's GradientOpInterface emit its operand gradients, and sum the
// contributions of values with several uses in the order they arrive.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Transforms/ReverseMode.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::tg;

namespace {

/// Gives every op created since `before` the scope of the op it
/// differentiates and the backward phase.
int64_t tagNewOps(Block &block, Operation *before, Operation *end,
                  StringAttr scope) {
  int64_t count = 0;
  Operation *it = before ? before->getNextNode() : &block.front();
  for (; it != end; it = it->getNextNode()) {
    if (scope && !it->hasAttr(TGDialect::getScopeAttrName()))
      it->setAttr(TGDialect::getScopeAttrName(), scope);
    setPhase(it, Phase::Backward);
    ++count;
  }
  return count;
}

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

} // namespace

FailureOr<SmallVector<Value>> mlir::tg::buildReverseMode(Block &block,
                                                         Value loss,
                                                         ArrayRef<Value> wrt,
                                                         int64_t *numOps) {
  int64_t emitted = 0;
  // Values that depend on what we differentiate with respect to.
  llvm::DenseSet<Value> active(wrt.begin(), wrt.end());
  SmallVector<Operation *> ops;
  for (Operation &op : block.without_terminator()) {
    ops.push_back(&op);
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return active.contains(v); }))
      active.insert(op.getResults().begin(), op.getResults().end());
  }
  SmallVector<Value> result(wrt.size());
  if (!active.contains(loss))
    return result;

  Operation *terminator = block.getTerminator();
  OpBuilder b(terminator);
  auto scopeOf = [&](Operation *op) {
    return op->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName());
  };

  llvm::DenseMap<Value, Value> grads;
  {
    Operation *before = terminator->getPrevNode();
    grads[loss] =
        b.create<FillOp>(loss.getLoc(), loss.getType(), b.getF64FloatAttr(1.0));
    Operation *def = loss.getDefiningOp();
    emitted += tagNewOps(block, before, terminator,
                         def ? scopeOf(def) : nullptr);
  }

  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> resultGrads;
    bool anyGrad = false;
    for (Value r : op->getResults()) {
      resultGrads.push_back(grads.lookup(r));
      anyGrad |= static_cast<bool>(resultGrads.back());
    }
    if (!anyGrad)
      continue;
    SmallVector<bool> needed;
    bool anyNeeded = false;
    for (Value v : op->getOperands()) {
      needed.push_back(active.contains(v) && isFloatTensor(v));
      anyNeeded |= needed.back();
    }
    if (!anyNeeded)
      continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule)
      return op->emitOpError()
             << "has no gradient rule, but the loss depends on a trainable "
                "parameter through it";

    Operation *before = terminator->getPrevNode();
    SmallVector<Value> operandGrads;
    if (failed(rule.buildGradient(b, resultGrads, needed, operandGrads)))
      return failure();
    for (auto [v, g] : llvm::zip(op->getOperands(), operandGrads)) {
      if (!g)
        continue;
      Value &slot = grads[v];
      slot =
          slot ? b.create<AddOp>(op->getLoc(), v.getType(), slot, g).getResult()
               : g;
    }
    emitted += tagNewOps(block, before, terminator, scopeOf(op));
  }

  for (auto [i, v] : llvm::enumerate(wrt))
    result[i] = grads.lookup(v);
  if (numOps)
    *numOps = emitted;
  return result;
}
