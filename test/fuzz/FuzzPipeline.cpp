//===- FuzzPipeline.cpp - fuzz target: tg modules through the pipeline ----===//
//
// An input is the text of a module. It is parsed and verified; a small one
// then goes through the passes a user runs, each stage only if the one
// before succeeded: --tg-autodiff (for a @forward), --tg-remat,
// --tg-data-parallel (for some inputs), --tg-plan-memory, the reports, the
// interpreter and --convert-tg-to-emitc with the C++ emitter. A stage may
// refuse its input with an error; it must not crash, and it must not leave
// IR that does not verify, nor a plan that its own verifier refuses.
//
//===----------------------------------------------------------------------===//

#include "FuzzModule.h"

#include "internvl/Conversion/TGToEmitC/TGToEmitC.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/Cpp/CppEmitter.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace mlir;

namespace {

/// Work per input stays small: the fuzzer is fast on small modules and
/// learns nothing more from big ones.
constexpr int64_t kMaxOps = 400;
constexpr int64_t kMaxInterpretedBytes = 64ll << 20;

[[noreturn]] void bug(const llvm::Twine &what, const std::string &detail) {
  llvm::errs() << "fuzz-pipeline: " << what << ": " << detail << "\n";
  std::abort();
}

/// Runs `pipeline` on `module`: false when a pass refused it. A pass that
/// succeeds must leave IR that verifies.
bool run(ModuleOp module, llvm::StringRef pipeline, std::string &diagnostic) {
  PassManager pm(module.getContext());
  pm.enableVerifier(false);
  if (failed(parsePassPipeline(pipeline, pm, llvm::nulls())))
    bug("bad pipeline in the harness", pipeline.str());
  if (failed(pm.run(module)))
    return false;
  if (failed(verify(module)))
    bug("'" + pipeline + "' succeeded but left IR that does not verify",
        diagnostic);
  return true;
}

int64_t countOps(ModuleOp module) {
  int64_t n = 0;
  module.walk([&](Operation *) { ++n; });
  return n;
}

/// Runs @train_step (or @forward) on the CPU runtime with generated inputs
/// when it is one rank's and small.
void interpretIfSmall(ModuleOp module) {
  func::FuncOp func = tg::findPlannedFunction(module, "");
  if (!func || func->hasAttr("tg.data_parallel") ||
      failed(tg::expectPlannableBody(func, "fuzz")))
    return;
  int64_t bytes = internvl::interpreterPeakBytes(func);
  for (Type t : func.getArgumentTypes())
    bytes += tg::tensorBytes(t);
  if (bytes > kMaxInterpretedBytes)
    return;
  llvm::Expected<std::vector<internvl::HostTensor>> args =
      internvl::makeArguments(func, /*seed=*/0, {});
  if (!args) {
    llvm::consumeError(args.takeError());
    return;
  }
  llvm::Expected<std::vector<internvl::HostTensor>> results =
      internvl::interpret(func, *args);
  if (!results)
    llvm::consumeError(results.takeError());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  internvl::fuzz::FuzzModule input(data, size);
  OwningOpRef<ModuleOp> &module = input.module;
  std::string &diagnostic = input.diagnostic;
  if (!module || countOps(*module) > kMaxOps)
    return 0;

  // The input's size picks the variant, so that one input always takes the
  // same path.
  bool dataParallel = size % 3 != 0;
  const char *zero[] = {"0", "1", "3"};
  if (module->lookupSymbol<func::FuncOp>("forward") &&
      !module->lookupSymbol("train_step") &&
      !run(*module, "tg-autodiff", diagnostic))
    return 0;
  func::FuncOp step = module->lookupSymbol<func::FuncOp>("train_step");
  bool planned = step && tg::getMemoryPlan(step);
  if (step && !planned && !step->hasAttr("tg.data_parallel")) {
    OwningOpRef<ModuleOp> rematted = module->clone();
    // InternVL's checkpointing, auto under a budget, and every layer output
    // in host memory.
    const char *remats[] = {
        "tg-remat{vision=force lm=force}", "tg-remat{lm=auto budget=1GiB}",
        "tg-remat{vision=force lm=force offload-outputs=true}"};
    if (run(*rematted, remats[(size / 3) % 3], diagnostic))
      module = std::move(rematted);
    interpretIfSmall(*module);
    if (dataParallel)
      (void)run(*module,
                std::string("tg-data-parallel{world-size=2 zero-stage=") +
                    zero[size % 3] + "}",
                diagnostic);
  }
  if (!planned) {
    if (!run(*module, "tg-plan-memory", diagnostic))
      return 0;
    func::FuncOp func = tg::findPlannedFunction(*module, "");
    if (!func || failed(tg::verifyMemoryPlan(func)))
      bug("--tg-plan-memory made a plan its verifier refuses", diagnostic);
  }
  (void)run(*module,
            "tg-export-memory-plan{file=/dev/null},"
            "tg-memory-timeline{file=/dev/null}",
            diagnostic);
  tg::StepEmitOptions options;
  options.target = size % 2 ? tg::StepTarget::Cpu : tg::StepTarget::Cuda;
  if (succeeded(tg::convertStepToEmitC(*module, options)) &&
      failed(emitc::translateToCpp(*module, llvm::nulls())))
    bug("the lowered step does not translate to C++", diagnostic);
  return 0;
}
