//===- ElementwiseFusion.h - runs of elementwise ops as one kernel -*- C++ -*-===//
//
// A fused group is a run of consecutive elementwise ops of one shape (add,
// sub, mul, div, neg, scale, float casts, gelu, silu and their gradients)
// whose intermediate results are used only inside the run. Only the last
// op's result is stored; each element of it is computed in one pass from
// the group's leaves, which are read at the same index or broadcast over
// trailing dimensions (a bias, a layer scale, a scalar).
//
// Fusing moves the reads of the leaves to the position of the last op, which
// is safe because the run is consecutive (nothing else writes in between)
// and because the result may overlap a leaf only at the very same place,
// element for element (an in-place update).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_CONVERSION_TGTOEMITC_ELEMENTWISEFUSION_H
#define INTERNVL_CONVERSION_TGTOEMITC_ELEMENTWISEFUSION_H

#include "internvl/Conversion/TGToEmitC/StepStorage.h"
#include "internvl/Conversion/TGToEmitC/TGToEmitC.h"

#include "mlir/IR/Builders.h"

#include <string>
#include <vector>

namespace mlir::tg {

struct FusedGroup {
  /// The ops, in schedule order; the last one's result is the output.
  SmallVector<Operation *> ops;
  /// Values the group reads from outside, in order of first use.
  SmallVector<Value> leaves;
  /// The generated kernel's name.
  std::string name;

  Value output() const { return ops.back()->getResult(0); }
  /// "tg.silu + tg.mul (model.layers.0.mlp)".
  std::string describe() const;
};

struct FusionPlan {
  std::vector<FusedGroup> groups;
  llvm::DenseMap<Operation *, size_t> groupIndex;

  const FusedGroup *groupOf(Operation *op) const {
    auto it = groupIndex.find(op);
    return it == groupIndex.end() ? nullptr : &groups[it->second];
  }
};

/// The fused groups of the planned `func`.
FusionPlan planElementwiseFusion(func::FuncOp func, const StepStorage &storage);

/// Emits the kernels of a fusion plan as EmitC functions (a loop on the CPU,
/// a grid-stride __global__ function on CUDA) and their launches.
class FusedKernelEmitter {
public:
  FusedKernelEmitter(const FusionPlan &plan, StepTarget target)
      : plan(plan), target(target) {}

  /// One emitc.func per group, at the builder's insertion point.
  LogicalResult emitKernels(OpBuilder &b, Location loc);

  /// Launches `group`'s kernel on `views` (its leaves, then its output);
  /// returns the launch's ivl_status.
  Value launch(OpBuilder &b, Location loc, const FusedGroup &group, Value ctx,
               ArrayRef<Value> views);

private:
  LogicalResult emitKernel(OpBuilder &b, Location loc, const FusedGroup &group);

  const FusionPlan &plan;
  StepTarget target;
};

} // namespace mlir::tg

#endif // INTERNVL_CONVERSION_TGTOEMITC_ELEMENTWISEFUSION_H
