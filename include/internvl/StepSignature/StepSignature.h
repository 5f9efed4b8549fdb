//===- StepSignature.h - a step's arguments as the runtime sees them -*- C++ -*-===//
//
// What internvl-run and a compiled step's manifest say about the arguments
// of a tg function: names, kinds, element types, shapes and initialisers
// (from the tg.* argument attributes), and the facts token ids must respect.
// It sits between the dialect and the runtime's step IO (ivl::io), so the
// dialect's own libraries do not depend on the runtime's support code.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_STEPSIGNATURE_STEPSIGNATURE_H
#define INTERNVL_STEPSIGNATURE_STEPSIGNATURE_H

#include "internvl/runtime/StepIO.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Error.h"

namespace internvl {

using ArgSpec = ivl::io::ArgSpec;
using BatchSpec = ivl::io::BatchSpec;

/// The `tg.*` description of each argument of `func`.
std::vector<ArgSpec> argumentSpecs(mlir::func::FuncOp func);

/// The parameters ZeRO stage 3 replaced by shards (tg.zero_params): their
/// shards and master copies are generated from them.
std::vector<ArgSpec> zeroParameterSpecs(mlir::func::FuncOp func);

/// Vocabulary and IMG_CONTEXT layout, read off the embedding and image
/// scatter ops (zeros when the function has none).
BatchSpec batchSpec(mlir::func::FuncOp func);

/// The element type of the runtime for an MLIR element type.
llvm::Expected<ivl_dtype> runtimeType(mlir::Type element);

} // namespace internvl

#endif // INTERNVL_STEPSIGNATURE_STEPSIGNATURE_H
