//===- RematLayers.h - the checkpointable layers of a training step -*- C++ -*-===//
//
// Reads the transformer layers of @train_step (forward ops grouped by the
// tg.scope of an InternViT or LLM layer) into the solver's LayerProblem
// form, and applies a keep/recompute choice by cloning the ops to recompute
// into backward.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_ANALYSIS_REMATLAYERS_H
#define INTERNVL_DIALECT_TG_ANALYSIS_REMATLAYERS_H

#include "internvl/Analysis/RematSolver.h"
#include "internvl/Support/CostModel.h"
#include "internvl/Support/Region.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>
#include <vector>

namespace mlir::tg {

struct RematLayer {
  internvl::ModelRegion region;
  int64_t index;
  /// Forward ops of the layer in execution order.
  std::vector<Operation *> ops;
  /// ops[i] is a unit: backward reads results of it (through reshapes too)
  /// and it is not a layer output (those are the checkpoints, always kept).
  internvl::LayerProblem problem;
  /// Layers with equal signatures share one Pareto frontier.
  std::string signature;
  /// Bytes of the layer's outputs that backward reads (kept in any case).
  int64_t boundaryBytes = 0;
  /// ops[i] makes a layer output: a checkpoint of the next layer, so even a
  /// clone of it (whole-layer re-runs) never replaces it for backward.
  std::vector<bool> isOutput;
  /// ops[i] is on the way from the layer's inputs to its outputs: what a
  /// segment's re-run runs again when it drops this layer's outputs.
  std::vector<bool> makesOutput;
  /// Those ops once, on the roofline.
  double rerunSeconds = 0.0;
  int64_t rerunFlops = 0;
};

/// Whether backward reads `v`, directly or through forward reshapes of it.
bool readByBackward(Value v);

/// The layers of `func`, in order (vision layers, then LLM layers), with
/// op times on `gpu`.
std::vector<RematLayer> collectRematLayers(func::FuncOp func,
                                           const internvl::cost::Roofline &gpu);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_ANALYSIS_REMATLAYERS_H
