//===- RematLayers.cpp - the checkpointable layers of a training step -----===//

#include "internvl/Dialect/TG/Analysis/RematLayers.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;
using namespace mlir::tg;
using internvl::ModelRegion;

static bool isForward(Operation *op) { return !phaseOf(op); }

static bool isBackward(Operation *op) { return !isForward(op); }

/// Whether backward reads `v`, directly or through forward reshapes of it.
static bool readByBackward(Value v) {
  for (Operation *user : v.getUsers()) {
    if (isBackward(user))
      return true;
    if (auto reshape = dyn_cast<ReshapeOp>(user))
      if (isForward(reshape) && readByBackward(reshape.getResult()))
        return true;
  }
  return false;
}

std::vector<RematLayer>
mlir::tg::collectRematLayers(func::FuncOp func,
                             const internvl::cost::Roofline &gpu) {
  // Group forward ops by (region, layer index), keeping execution order.
  std::map<std::pair<int, int64_t>, RematLayer> byLayer;
  for (Operation &op : func.getBody().front().without_terminator()) {
    if (!isForward(&op))
      continue;
    auto scope = op.getAttrOfType<StringAttr>(TGDialect::getScopeAttrName());
    if (!scope)
      continue;
    std::optional<internvl::LayerRef> ref = internvl::layerOf(scope.getValue());
    if (!ref ||
        (ref->region != ModelRegion::Vision && ref->region != ModelRegion::Llm))
      continue;
    RematLayer &layer = byLayer[{static_cast<int>(ref->region), ref->index}];
    layer.region = ref->region;
    layer.index = ref->index;
    layer.ops.push_back(&op);
  }

  std::vector<RematLayer> layers;
  for (auto &entry : byLayer) {
    RematLayer &layer = entry.second;
    llvm::DenseMap<Operation *, int> indexOf;
    for (auto [i, op] : llvm::enumerate(layer.ops))
      indexOf[op] = i;
    auto inLayer = [&](Operation *op) { return op && indexOf.count(op); };

    // Layer outputs (read by forward ops outside the layer) are the
    // checkpoints: always kept, never part of the decision.
    std::vector<bool> isOutput(layer.ops.size(), false);
    for (auto [i, op] : llvm::enumerate(layer.ops))
      for (Value r : op->getResults())
        for (Operation *user : r.getUsers())
          if (isForward(user) && !inLayer(user))
            isOutput[i] = true;

    std::string signature;
    llvm::raw_string_ostream sig(signature);
    for (auto [i, op] : llvm::enumerate(layer.ops)) {
      internvl::RematOp rop;
      if (!isa<ReshapeOp>(op)) {
        if (auto cost = dyn_cast<CostOpInterface>(op)) {
          rop.flops = cost.getFlops();
          rop.seconds = internvl::cost::estimateSeconds(
              gpu, rop.flops, cost.getBytesRead() + cost.getBytesWritten());
        }
        int64_t saved = 0;
        for (Value r : op->getResults())
          if (readByBackward(r))
            saved += tensorBytes(r.getType());
        if (isOutput[i])
          layer.boundaryBytes += saved;
        else
          rop.savedBytes = saved;
      }
      sig << op->getName() << "(";
      for (Value operand : op->getOperands()) {
        Operation *def = operand.getDefiningOp();
        if (inLayer(def) && !isOutput[indexOf[def]]) {
          bool viaSaved = !isa<ReshapeOp>(def) && readByBackward(operand);
          rop.inputs.push_back({indexOf[def], viaSaved});
          sig << "%" << indexOf[def] << (viaSaved ? "s" : "") << ",";
        } else {
          sig << operand.getType() << ",";
        }
      }
      sig << ")->";
      for (Type t : op->getResultTypes())
        sig << t << ",";
      sig << (rop.savedBytes ? "u" : "") << (isOutput[i] ? "o" : "") << ";";
      layer.problem.ops.push_back(rop);
    }
    layer.signature = std::move(signature);
    layer.isOutput = std::move(isOutput);
    layers.push_back(std::move(layer));
  }
  return layers;
}

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
