//===- TGOps.h - training-graph operations -----------------------*- C++
//-*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGOPS_H
#define INTERNVL_DIALECT_TG_IR_TGOPS_H

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGInterfaces.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "internvl/Dialect/TG/IR/TGEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "internvl/Dialect/TG/IR/TGAttrs.h.inc"

#define GET_OP_CLASSES
#include "internvl/Dialect/TG/IR/TGOps.h.inc"

namespace mlir::tg {
/// Whether `op`'s kernel may write its (first) result over operand
/// `operand` when that operand dies at `op`: elementwise kernels whose output
/// element i depends only on input element i (or, for rope, on the pair it
/// rotates, which the kernel reads before writing), with the same size.
bool canWriteInPlace(Operation *op, unsigned operand);
} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_TGOPS_H
