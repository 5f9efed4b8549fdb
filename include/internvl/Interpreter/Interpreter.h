//===- Interpreter.h - run a tg function on the CPU runtime ------*- C++
//-*-===//

#ifndef INTERNVL_INTERPRETER_INTERPRETER_H
#define INTERNVL_INTERPRETER_INTERPRETER_H

#include "internvl/TensorIO/Inputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace internvl {

/// Executes `func` op by op with the CPU runtime kernels. `args` holds one
/// tensor per argument with the argument's exact type. Every intermediate is
/// freed after its last use; a reshape shares its operand's storage.
llvm::Expected<std::vector<HostTensor>>
interpret(mlir::func::FuncOp func, llvm::ArrayRef<HostTensor> args);

/// The `tg.*` description of each argument of `func`.
std::vector<ArgSpec> argumentSpecs(mlir::func::FuncOp func);

/// Vocabulary and IMG_CONTEXT layout, read off the embedding and image
/// scatter ops (zeros when the function has none).
BatchSpec batchSpec(mlir::func::FuncOp func);

/// The element type of the runtime for an MLIR element type.
llvm::Expected<ivl_dtype> runtimeType(mlir::Type element);

} // namespace internvl

#endif // INTERNVL_INTERPRETER_INTERPRETER_H
