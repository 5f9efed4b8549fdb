//===- Interpreter.h - run a tg function on the CPU runtime ----*- C++ -*-===//

#ifndef INTERNVL_INTERPRETER_INTERPRETER_H
#define INTERNVL_INTERPRETER_INTERPRETER_H

#include "internvl/StepSignature/StepSignature.h"
#include "internvl/TensorIO/Inputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringSet.h"

namespace internvl {

/// Executes `func` op by op with the CPU runtime kernels. `args` holds one
/// tensor per argument with the argument's exact type. Every intermediate is
/// freed after its last use; a reshape shares its operand's storage.
llvm::Expected<std::vector<HostTensor>>
interpret(mlir::func::FuncOp func, llvm::ArrayRef<HostTensor> args);

/// The arguments of `func` (which passes expectPlannableBody): each from
/// `provided` when it has a tensor of that name (the same shape, converted
/// to the argument's element type), else generated from `seed` exactly as
/// the compiled runners generate it. Names taken from `provided` go to
/// `used`.
llvm::Expected<std::vector<HostTensor>>
makeArguments(mlir::func::FuncOp func, uint64_t seed,
              const llvm::StringMap<HostTensor> &provided,
              llvm::StringSet<> *used = nullptr);

/// The most host memory `interpret` holds at once for `func` beyond its
/// arguments: the values live after each op, freed as interpret frees them.
/// `func` must pass expectPlannableBody (its sizes are within the ceiling).
int64_t interpreterPeakBytes(mlir::func::FuncOp func);

} // namespace internvl

#endif // INTERNVL_INTERPRETER_INTERPRETER_H
