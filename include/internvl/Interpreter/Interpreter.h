//===- Interpreter.h - run a tg function on the CPU runtime ------*- C++
//-*-===//

#ifndef INTERNVL_INTERPRETER_INTERPRETER_H
#define INTERNVL_INTERPRETER_INTERPRETER_H

#include "internvl/Dialect/TG/Analysis/StepSignature.h"
#include "internvl/TensorIO/Inputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace internvl {

/// Executes `func` op by op with the CPU runtime kernels. `args` holds one
/// tensor per argument with the argument's exact type. Every intermediate is
/// freed after its last use; a reshape shares its operand's storage.
llvm::Expected<std::vector<HostTensor>>
interpret(mlir::func::FuncOp func, llvm::ArrayRef<HostTensor> args);

} // namespace internvl

#endif // INTERNVL_INTERPRETER_INTERPRETER_H
