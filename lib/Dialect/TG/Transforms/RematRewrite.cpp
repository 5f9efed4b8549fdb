//===- RematRewrite.cpp - recomputation applied to a step -----------------===//
//
// The rewrites behind --tg-remat: the ops a layer's choice recomputes are
// cloned into backward, where backward first needs them, and so are the runs
// of layers whose outputs a segment drops (RematLayers.h finds the layers;
// the solver chooses).
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Transforms/RematRewrite.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#include <functional>
#include <map>

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

namespace {

/// The backward readers of `v`: backward ops (recomputations included)
/// that read it, directly or through forward reshapes of it.
void backwardReaders(Value v, SmallVectorImpl<OpOperand *> &uses) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (isBackward(user))
      uses.push_back(&use);
    else if (auto view = dyn_cast<ReshapeOp>(user))
      backwardReaders(view.getResult(), uses);
  }
}

} // namespace

std::vector<int64_t>
mlir::tg::applyOffload(func::FuncOp func, llvm::ArrayRef<RematLayer> layers,
                       llvm::ArrayRef<int64_t> offloadBytes) {
  std::vector<int64_t> moved(layers.size(), 0);
  if (llvm::all_of(offloadBytes, [](int64_t b) { return b <= 0; }))
    return moved;
  Block &body = func.getBody().front();
  llvm::DenseMap<Operation *, int64_t> step;
  for (auto [i, op] : llvm::enumerate(body))
    step[&op] = i;
  // Where each layer's backward begins: its first backward op (or
  // recomputation) in schedule order.
  std::map<std::pair<int, int64_t>, Operation *> backwardStart;
  for (Operation &op : body) {
    if (!isBackward(&op))
      continue;
    std::optional<internvl::LayerRef> ref = internvl::layerOf(scopeOf(&op));
    if (ref)
      backwardStart.try_emplace({static_cast<int>(ref->region), ref->index},
                                &op);
  }
  llvm::DenseSet<Value> returned;
  for (Value v : body.getTerminator()->getOperands())
    returned.insert(v);

  for (auto [i, layer] : llvm::enumerate(layers)) {
    if (offloadBytes[i] <= 0)
      continue;
    // The layer's outputs that backward reads (views go with their
    // storage), largest first.
    struct Candidate {
      Value value;
      int64_t bytes;
      SmallVector<OpOperand *> readers;
    };
    std::vector<Candidate> candidates;
    for (auto [k, op] : llvm::enumerate(layer.ops)) {
      // Only the layer's outputs (offloadFrontier says why).
      if (isa<ReshapeOp>(op) || !layer.isOutput[k])
        continue;
      for (Value r : op->getResults()) {
        if (returned.contains(r))
          continue;
        Candidate c{r, tensorBytes(r.getType()), {}};
        backwardReaders(r, c.readers);
        if (!c.readers.empty())
          candidates.push_back(std::move(c));
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate &a, const Candidate &b) {
                       return a.bytes > b.bytes;
                     });
    const RematLayer *next =
        i + 1 < layers.size() && layers[i + 1].region == layer.region
            ? &layers[i + 1]
            : nullptr;
    // The copy to the host is waited for once the next layer's forward has
    // run; the copy back starts where the next layer's backward does.
    Operation *hostReady = next ? next->ops.back() : layer.ops.back();
    Operation *nextBackward = nullptr;
    if (next)
      if (auto it = backwardStart.find(
              {static_cast<int>(next->region), next->index});
          it != backwardStart.end())
        nextBackward = it->second;

    for (Candidate &c : candidates) {
      if (moved[i] + c.bytes > offloadBytes[i])
        continue;
      moved[i] += c.bytes;
      Operation *def = c.value.getDefiningOp();
      Operation *firstReader = nullptr;
      for (OpOperand *use : c.readers)
        if (!firstReader || step[use->getOwner()] < step[firstReader])
          firstReader = use->getOwner();
      Operation *prefetchAt = firstReader;
      if (nextBackward && step[nextBackward] < step[firstReader])
        prefetchAt = nextBackward;
      auto scope = def->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName());
      auto tag = [&](Operation *op, std::optional<Phase> phase) {
        if (scope)
          op->setAttr(TGDialect::getScopeAttrName(), scope);
        if (phase)
          setPhase(op, *phase);
      };
      Location loc = def->getLoc();
      Type type = c.value.getType();

      OpBuilder b(def->getContext());
      b.setInsertionPointAfter(def);
      auto offload = b.create<OffloadOp>(loc, type, c.value);
      tag(offload, std::nullopt);
      b.setInsertionPointAfter(step[hostReady] > step[def] ? hostReady
                                                            : offload);
      auto onHost = b.create<CommWaitOp>(loc, TypeRange{type},
                                         ValueRange{offload.getResult()});
      tag(onHost, std::nullopt);
      b.setInsertionPoint(prefetchAt);
      auto prefetch = b.create<PrefetchOp>(loc, type, onHost.getResult(0));
      tag(prefetch, Phase::Backward);
      b.setInsertionPoint(firstReader);
      auto back = b.create<CommWaitOp>(loc, TypeRange{type},
                                       ValueRange{prefetch.getResult()});
      tag(back, Phase::Backward);

      // Backward reads the copy, through new views where it read views.
      llvm::DenseMap<Value, Value> copyOf;
      copyOf[c.value] = back.getResult(0);
      std::function<Value(Value)> copied = [&](Value v) -> Value {
        if (Value known = copyOf.lookup(v))
          return known;
        auto view = v.getDefiningOp<ReshapeOp>();
        Value input = copied(view.getInput());
        OpBuilder vb(input.getContext());
        vb.setInsertionPointAfterValue(input);
        Operation *clone = vb.clone(*view);
        clone->setOperand(0, input);
        setPhase(clone, Phase::Backward);
        copyOf[v] = clone->getResult(0);
        return copyOf[v];
      };
      for (OpOperand *use : c.readers)
        use->set(copied(use->get()));
    }
  }
  return moved;
}
