//===- Passes.h - tg passes -------------------------------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_H

#include "internvl/Dialect/TG/IR/TGDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::tg {

#define GEN_PASS_DECL
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_H
