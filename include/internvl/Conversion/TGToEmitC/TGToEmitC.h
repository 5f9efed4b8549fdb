//===- TGToEmitC.h - lower a planned step to EmitC ---------------*- C++ -*-===//

#ifndef INTERNVL_CONVERSION_TGTOEMITC_TGTOEMITC_H
#define INTERNVL_CONVERSION_TGTOEMITC_TGTOEMITC_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace mlir::tg {

enum class StepTarget { Cpu, Cuda };
std::optional<StepTarget> parseStepTarget(StringRef name);
StringRef stringifyStepTarget(StepTarget target);

struct StepEmitOptions {
  /// The planned function; empty: train_step, else forward.
  std::string function;
  StepTarget target = StepTarget::Cpu;
  bool fuseElementwise = true;
  /// Appended to the exported symbols (`ivl_step<suffix>`,
  /// `ivl_step_manifest<suffix>`), so that the steps of several buckets
  /// link into one library; empty for a library of one step.
  std::string symbolSuffix;
};

/// What the lowering produced besides the EmitC module.
struct StepEmitResult {
  /// The step's manifest (StepManifest.h), also returned by the emitted
  /// `ivl_step_manifest()`.
  llvm::json::Object manifest;
  int64_t kernelCalls = 0;
  int64_t fusedKernels = 0;
  int64_t fusedOps = 0;
};

/// Replaces the content of `module` by the EmitC form of its planned step
/// (see --convert-tg-to-emitc). On failure the module is unchanged and the
/// error was emitted.
FailureOr<StepEmitResult> convertStepToEmitC(ModuleOp module,
                                            const StepEmitOptions &options);

/// C++ spellings used by the emitted code.
std::string dtypeLiteral(Type element); // "IVL_BF16"; "" if unsupported
std::string dimsLiteral(ArrayRef<int64_t> dims); // "{1, 16, 32}"
std::string doubleLiteral(double v); // reads back to the same double

} // namespace mlir::tg

#endif // INTERNVL_CONVERSION_TGTOEMITC_TGTOEMITC_H
