//===- Passes.h - conversions out of the tg dialect --------------*- C++ -*-===//

#ifndef INTERNVL_CONVERSION_PASSES_H
#define INTERNVL_CONVERSION_PASSES_H

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::tg {

#define GEN_PASS_DECL
#include "internvl/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "internvl/Conversion/Passes.h.inc"

} // namespace mlir::tg

#endif // INTERNVL_CONVERSION_PASSES_H
