//===- VerifyMemoryPlan.cpp - --tg-verify-memory-plan ---------------------===//
//
// The pass around verifyMemoryPlan (PlanVerifier.cpp), for pipelines and
// lit tests; every reader of a plan runs the same check itself.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/PassOptions.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGVERIFYMEMORYPLAN
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {
struct VerifyMemoryPlanPass
    : public internvl::PassWithOptionErrors<
          tg::impl::TGVerifyMemoryPlanBase<VerifyMemoryPlanPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override {
    func::FuncOp func = findPlannedFunction(getOperation(), functionName);
    if (!func || failed(verifyMemoryPlan(func)))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace
