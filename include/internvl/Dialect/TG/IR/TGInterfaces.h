//===- TGInterfaces.h - tg op interfaces ------------------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGINTERFACES_H
#define INTERNVL_DIALECT_TG_IR_TGINTERFACES_H

#include "internvl/Dialect/TG/IR/KernelCall.h"

#include "mlir/IR/OpDefinition.h"

namespace mlir::tg::detail {
/// Elementwise defaults of the cost interface: one FLOP per result element,
/// every operand read once, every result written once.
int64_t defaultFlops(Operation *op);
int64_t defaultBytesRead(Operation *op);
int64_t defaultBytesWritten(Operation *op);
} // namespace mlir::tg::detail

#include "internvl/Dialect/TG/IR/TGInterfaces.h.inc"

#endif // INTERNVL_DIALECT_TG_IR_TGINTERFACES_H
