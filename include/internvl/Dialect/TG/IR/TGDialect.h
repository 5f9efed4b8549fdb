//===- TGDialect.h - training-graph dialect ---------------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGDIALECT_H
#define INTERNVL_DIALECT_TG_IR_TGDIALECT_H

#include "mlir/IR/BuiltinTypeInterfaces.h"
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

/// Whether `type` has a static shape whose bytes stay within
/// ivl::kMaxTensorBytes (1 TiB, zero dimensions counted as 1): the ceiling
/// of every tg value, so that element counts, byte sizes and strides of a
/// verified step cannot overflow.
bool isWithinTensorCeiling(ShapedType type);

/// Whether `type` is what a step's values are: a ranked, statically shaped
/// tensor of bf16, f16, f32, i64 or i1 within the tensor ceiling.
bool isStepTensorType(Type type);
} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_TGDIALECT_H
