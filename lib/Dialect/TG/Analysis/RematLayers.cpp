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

bool mlir::tg::readByBackward(Value v) {
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
    // The ops the outputs depend on, walking back from them.
    std::vector<bool> makesOutput = isOutput;
    for (size_t i = layer.ops.size(); i-- > 0;) {
      if (!makesOutput[i])
        continue;
      for (Value operand : layer.ops[i]->getOperands())
        if (Operation *def = operand.getDefiningOp(); inLayer(def))
          makesOutput[indexOf[def]] = true;
    }
    for (size_t i = 0; i < layer.ops.size(); ++i)
      if (makesOutput[i]) {
        layer.rerunSeconds += layer.problem.ops[i].seconds;
        layer.rerunFlops += layer.problem.ops[i].flops;
      }
    layer.signature = std::move(signature);
    layer.makesOutput = std::move(makesOutput);
    layer.isOutput = std::move(isOutput);
    layers.push_back(std::move(layer));
  }
  return layers;
}
