//===- TGDialect.h - training-graph dialect ----------------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGDIALECT_H
#define INTERNVL_DIALECT_TG_IR_TGDIALECT_H

#include "mlir/IR/Dialect.h"

#include "internvl/Dialect/TG/IR/TGOpsDialect.h.inc"

#endif // INTERNVL_DIALECT_TG_IR_TGDIALECT_H
