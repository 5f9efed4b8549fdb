//===- ReverseMode.h - reverse-mode differentiation of a block --*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_REVERSEMODE_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_REVERSEMODE_H

#include "mlir/IR/Block.h"
#include "mlir/IR/Builders.h"
#include "mlir/Support/LogicalResult.h"

namespace mlir::tg {

/// Emits, at the end of `block` (before its terminator), the gradient of the
/// scalar `loss` with respect to each value of `wrt` and returns them (a null
/// value for one the loss does not depend on). Backward ops get the
/// `tg.scope` of the forward op they differentiate and `tg.phase =
/// "backward"`. Only values that depend on `wrt` are differentiated, so
/// gradient-free parts of the graph get no backward ops. `numOps` counts the
/// ops emitted.
FailureOr<SmallVector<Value>> buildReverseMode(Block &block, Value loss,
                                               ArrayRef<Value> wrt,
                                               int64_t *numOps = nullptr);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_REVERSEMODE_H
