//===- PlanMemory.cpp - --tg-plan-memory
//-------------------------------------===//
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
    if (auto dp = func->getAttrOfType<DictionaryAttr>("tg.data_parallel")) {
      int64_t stage = dp.getAs<IntegerAttr>("zero_stage").getInt();
      int64_t world = dp.getAs<IntegerAttr>("world_size").getInt();
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

    PlacedBuffers placed = placeBuffers(func, options);
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

    Builder b(ctx);
    const PersistentBytes &p = analysis.getPersistent();
    int64_t lowerBound = placed.liveLowerBound;
    SmallVector<NamedAttribute> summary = {
        b.getNamedAttr("zero_stage", b.getI64IntegerAttr(options.zeroStage)),
        b.getNamedAttr("world_size", b.getI64IntegerAttr(options.worldSize)),
        b.getNamedAttr("alignment", b.getI64IntegerAttr(options.alignment)),
        b.getNamedAttr("steps",
                       b.getI64IntegerAttr(analysis.getSchedule().size())),
        b.getNamedAttr("arena_bytes",
                       b.getI64IntegerAttr(placed.arenaBytes)),
        b.getNamedAttr("live_lower_bound_bytes",
                       b.getI64IntegerAttr(lowerBound)),
        b.getNamedAttr("params_bytes", b.getI64IntegerAttr(p.params)),
        b.getNamedAttr("master_params_bytes",
                       b.getI64IntegerAttr(p.masterParams)),
        b.getNamedAttr("grads_bytes", b.getI64IntegerAttr(p.grads)),
        b.getNamedAttr("grads_buffer_bytes", b.getI64IntegerAttr(placed.gradsBufferBytes)),
        b.getNamedAttr("optimizer_bytes", b.getI64IntegerAttr(p.optimizer)),
        b.getNamedAttr("peak_bytes",
                       b.getI64IntegerAttr(placed.peakBytes()))};
    if (cublas)
      summary.push_back(b.getNamedAttr("cublaslt_workspace", cublas));
    // The budget --tg-remat planned for.
    if (auto remat = func->getAttrOfType<DictionaryAttr>(kRematAttr))
      if (Attribute budget = remat.get("budget_bytes"))
        summary.push_back(b.getNamedAttr("budget_bytes", budget));
    func->setAttr(kMemoryPlanAttr, b.getDictionaryAttr(summary));
  }
};

} // namespace
