//===- RematRewrite.cpp - recomputation applied to a step -----------------===//
//
// The rewrites behind --tg-remat: the ops a layer's choice recomputes are
// cloned into backward, where backward first needs them, and so are the runs
// of layers whose outputs a segment drops (RematLayers.h finds the layers;
// the solver chooses).
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Transforms/RematRewrite.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::tg;

/// Ops of the backward pass (and recomputations): every op with a phase.
static bool isBackward(Operation *op) { return phaseOf(op).has_value(); }

int64_t mlir::tg::applyRecompute(func::FuncOp func,
                                 llvm::ArrayRef<RematLayer> layers,
                                 llvm::ArrayRef<std::vector<bool>> recompute) {
  int64_t cloned = 0;
  Block &body = func.getBody().front();
  llvm::DenseMap<Operation *, int64_t> step;
  for (auto [i, op] : llvm::enumerate(body))
    step[&op] = i;

  for (auto [layer, marks] : llvm::zip(layers, recompute)) {
    // The ops to run again, plus forward reshapes (free views) of them that
    // backward reads: otherwise the original view would keep the original
    // buffer alive.
    llvm::SetVector<Operation *> clone;
    for (auto [i, op] : llvm::enumerate(layer.ops))
      if (marks[i])
        clone.insert(op);
    if (clone.empty())
      continue;
    for (Operation *op : layer.ops)
      if (auto reshape = dyn_cast<ReshapeOp>(op))
        if (Operation *def = reshape.getInput().getDefiningOp())
          if (clone.contains(def) && readByBackward(reshape.getResult()))
            clone.insert(op);
    SmallVector<Operation *> ordered(clone.begin(), clone.end());
    llvm::sort(ordered,
               [&](Operation *a, Operation *b) { return step[a] < step[b]; });

    // Backward reads the clones, except of the layer's outputs: those are the
    // next layer's checkpoint (a whole-layer re-run recomputes them in vain,
    // as torch.utils.checkpoint does).
    llvm::DenseSet<Operation *> outputs;
    for (auto [i, op] : llvm::enumerate(layer.ops))
      if (layer.isOutput[i])
        outputs.insert(op);
    auto redirected = [&](Operation *op) { return !outputs.contains(op); };

    // Insert before the first backward op that reads a redirected value.
    Operation *first = nullptr;
    for (Operation *op : ordered)
      if (redirected(op))
        for (Value r : op->getResults())
          for (Operation *user : r.getUsers())
            if (isBackward(user) && step.count(user) &&
                (!first || step[user] < step[first]))
              first = user;
    if (!first)
      continue;

    OpBuilder b(first);
    IRMapping mapping;
    for (Operation *op : ordered) {
      Operation *copy = b.clone(*op, mapping);
      setPhase(copy, Phase::Recompute);
      ++cloned;
    }
    for (Operation *op : ordered) {
      if (!redirected(op))
        continue;
      for (Value r : op->getResults()) {
        Value copy = mapping.lookup(r);
        r.replaceUsesWithIf(copy, [&](OpOperand &use) {
          Operation *owner = use.getOwner();
          return isBackward(owner) && phaseOf(owner) != Phase::Recompute;
        });
      }
    }
  }
  return cloned;
}

int64_t mlir::tg::applySegments(func::FuncOp func,
                                llvm::ArrayRef<RematLayer> layers,
                                const std::vector<bool> &dropped) {
  int64_t cloned = 0;
  // Steps of the ops before any re-run is inserted: a run's clones read only
  // forward values and kept outputs, so no later run looks for them here.
  llvm::DenseMap<Operation *, int64_t> step;
  for (auto [i, op] : llvm::enumerate(func.getBody().front()))
    step[&op] = i;
  for (size_t begin = 0; begin < layers.size();) {
    if (!dropped[begin]) {
      ++begin;
      continue;
    }
    size_t end = begin + 1;
    while (end < layers.size() && dropped[end] &&
           layers[end].region == layers[begin].region)
      ++end;

    // The run's ops that make its layers' outputs, and the outputs with the
    // forward views of them that backward reads (a view keeps its buffer).
    llvm::SetVector<Operation *> clone;
    llvm::SetVector<Value> redirect;
    for (size_t l = begin; l < end; ++l) {
      const RematLayer &layer = layers[l];
      for (auto [i, op] : llvm::enumerate(layer.ops))
        if (layer.makesOutput[i])
          clone.insert(op);
      for (auto [i, op] : llvm::enumerate(layer.ops)) {
        if (!layer.isOutput[i])
          continue;
        for (Value r : op->getResults()) {
          redirect.insert(r);
          for (Operation *user : r.getUsers())
            if (auto view = dyn_cast<ReshapeOp>(user))
              if (!isBackward(view) && readByBackward(view.getResult())) {
                clone.insert(view);
                redirect.insert(view.getResult());
              }
        }
      }
    }
    begin = end;

    SmallVector<Operation *> ordered(clone.begin(), clone.end());
    llvm::sort(ordered,
               [&](Operation *a, Operation *b) { return step[a] < step[b]; });
    Operation *first = nullptr;
    for (Value v : redirect)
      for (Operation *user : v.getUsers())
        if (isBackward(user) && (!first || step[user] < step[first]))
          first = user;
    if (!first)
      continue;

    OpBuilder b(first);
    IRMapping mapping;
    llvm::DenseSet<Operation *> copies;
    for (Operation *op : ordered) {
      Operation *copy = b.clone(*op, mapping);
      setPhase(copy, Phase::Recompute);
      copies.insert(copy);
      ++cloned;
    }
    for (Value v : redirect)
      v.replaceUsesWithIf(mapping.lookup(v), [&](OpOperand &use) {
        Operation *owner = use.getOwner();
        return isBackward(owner) && !copies.contains(owner);
      });
  }
  return cloned;
}
