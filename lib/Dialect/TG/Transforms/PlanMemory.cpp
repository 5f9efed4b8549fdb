//===- PlanMemory.cpp - --tg-plan-memory ----------------------------------===//
//
// IR glue around BufferAnalysis (what needs memory, and when) and
// placeBestFit (where): records the result on the IR.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/IR/Builders.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGPLANMEMORY
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {

struct PlanMemoryPass : public internvl::PassWithOptionErrors<tg::impl::TGPlanMemoryBase<PlanMemoryPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp func = findPlannedFunction(module, functionName);
    if (!func)
      return signalPassFailure();

    PlanOptions options = planOptionsFor(module, zeroStage, worldSize);
    // A step --tg-data-parallel rewrote is planned for its own settings.
    if (DataParallelAttr dp = getDataParallel(func)) {
      int64_t stage = dp.getZeroStage();
      int64_t world = dp.getWorldSize();
      if ((zeroStage != -1 && zeroStage != stage) ||
          (worldSize != -1 && worldSize != world)) {
        func.emitError() << "--tg-plan-memory: @" << func.getName()
                         << " is data parallel for ZeRO stage " << stage
                         << " on " << world
                         << " ranks; plan it without other settings";
        return signalPassFailure();
      }
      options.zeroStage = stage;
      options.worldSize = world;
    }
    options.alignment = alignment;
    options.cublasWorkspaceBytes = cublasWorkspace;
    if (failed(checkPlanOptions(module, options, "--tg-plan-memory")))
      return signalPassFailure();

    // A re-plan replaces the previous one.
    func.walk([](Operation *op) {
      op->removeAttr(kAllocAttr);
      op->removeAttr(kWorkspaceAttr);
    });

    MemoryPlan placed = placeBuffers(func, options);
    const BufferAnalysis &analysis = *placed.analysis;
    ArrayRef<PlanBuffer> buffers = analysis.getBuffers();
    const std::vector<int64_t> &offsets = placed.offsets;

    MLIRContext *ctx = &getContext();
    auto allocOf = [&](size_t id) {
      return AllocAttr::get(ctx, buffers[id].space, offsets[id],
                            buffers[id].bytes);
    };
    AllocAttr cublas;
    for (auto [i, b] : llvm::enumerate(buffers))
      if (b.kind == BufferKind::Workspace) {
        if (b.op)
          b.op->setAttr(kWorkspaceAttr, allocOf(i));
        else
          cublas = allocOf(i);
      }
    // One #tg.alloc per result that owns storage (views and in-place
    // updates take their operand's).
    for (Operation *op : analysis.getSchedule()) {
      if (isa<AdamWOp>(op))
        continue;
      SmallVector<Attribute> allocs;
      for (OpResult result : op->getResults())
        if (!storageSource(result))
          allocs.push_back(allocOf(analysis.bufferOf(result)));
      if (!allocs.empty())
        op->setAttr(kAllocAttr, ArrayAttr::get(ctx, allocs));
    }

    // The budget --tg-remat planned for.
    if (auto remat = func->getAttrOfType<DictionaryAttr>(kRematAttr))
      if (auto bytes = remat.getAs<IntegerAttr>("budget_bytes"))
        placed.budgetBytes = bytes.getInt();
    const PersistentBytes &p = analysis.getPersistent();
    func->setAttr(
        TGDialect::getMemoryPlanAttrName(),
        MemoryPlanAttr::get(
            ctx, options.zeroStage, options.worldSize, options.alignment,
            analysis.getSchedule().size(), placed.arenaBytes,
            placed.liveLowerBound, p.params, p.masterParams, p.grads,
            placed.gradsBufferBytes, p.optimizer, placed.peakBytes(), cublas,
            placed.budgetBytes, placed.hostBytes));
  }
};

} // namespace
