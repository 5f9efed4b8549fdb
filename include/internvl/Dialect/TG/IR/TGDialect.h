//===- TGDialect.h - training-graph dialect ----------------------*- C++
//-*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGDIALECT_H
#define INTERNVL_DIALECT_TG_IR_TGDIALECT_H

#include "mlir/IR/Dialect.h"

#include "internvl/Dialect/TG/IR/TGOpsDialect.h.inc"

namespace mlir::tg {
/// A parameter initialiser as `tg.init` spells it.
struct Initializer {
  enum Kind { Constant, Normal } kind = Constant;
  /// The constant, or the standard deviation of a zero-mean normal.
  double value = 0.0;
};
/// Parses "zeros", "ones", "normal:<std>" or "constant:<value>".
FailureOr<Initializer> parseInitializer(StringRef spec);

/// The most data-parallel ranks a step is planned for: NCCL and MPI number
/// ranks with 32-bit ints, and shard sizes and arena offsets stay far from
/// overflow below this.
inline constexpr int64_t kMaxWorldSize = int64_t(1) << 20;
} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_TGDIALECT_H
