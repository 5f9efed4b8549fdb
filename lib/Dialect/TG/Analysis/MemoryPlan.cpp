//===- MemoryPlan.cpp - a planned tg function read back from its IR -------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Analysis/HeapPlacement.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::tg;

std::vector<int64_t> MemoryPlan::liveBytesPerStep() const {
  std::vector<int64_t> live(analysis->getSchedule().size() + 1, 0);
  for (const PlanBuffer &b : analysis->getBuffers())
    if (b.space == MemorySpace::Arena) {
      live[b.start] += b.bytes;
      live[b.end + 1] -= b.bytes;
    }
  for (size_t i = 1; i < live.size(); ++i)
    live[i] += live[i - 1];
  live.pop_back();
  return live;
}

int64_t MemoryPlan::peakStep() const {
  std::vector<int64_t> live = liveBytesPerStep();
  return std::max_element(live.begin(), live.end()) - live.begin();
}

int64_t MemoryPlan::totalFlops() const {
  int64_t total = 0;
  for (Operation *op : analysis->getSchedule())
    if (auto cost = dyn_cast<CostOpInterface>(op))
      total += cost.getFlops();
  return total;
}

int64_t MemoryPlan::recomputeFlops() const {
  int64_t total = 0;
  for (Operation *op : analysis->getSchedule()) {
    if (phaseOf(op) == Phase::Recompute)
      if (auto cost = dyn_cast<CostOpInterface>(op))
        total += cost.getFlops();
  }
  return total;
}

func::FuncOp mlir::tg::findPlannedFunction(ModuleOp module, StringRef name) {
  func::FuncOp func;
  if (!name.empty()) {
    func = module.lookupSymbol<func::FuncOp>(name);
    if (!func)
      module.emitError() << "no function @" << name << " in the module";
  } else {
    for (StringRef candidate : {"train_step", "forward"})
      if ((func = module.lookupSymbol<func::FuncOp>(candidate)))
        break;
    if (!func)
      module.emitError() << "no @train_step or @forward in the module";
  }
  if (func && failed(expectPlannableBody(func, "memory plan")))
    return {};
  return func;
}

FailureOr<MemoryPlan> MemoryPlan::read(func::FuncOp func) {
  MemoryPlanAttr summary = getMemoryPlan(func);
  if (!summary)
    return func.emitError() << "@" << func.getName()
                            << " has no memory plan; run --tg-plan-memory "
                               "first";
  // The reports size and place buffers by what the plan says.
  if (failed(verifyMemoryPlan(func)))
    return failure();
  MemoryPlan plan;
  plan.options.zeroStage = summary.getZeroStage();
  plan.options.worldSize = summary.getWorldSize();
  plan.options.alignment = summary.getAlignment();
  AllocAttr cublas = summary.getCublasltWorkspace();
  plan.options.cublasWorkspaceBytes = cublas ? cublas.getSize() : 0;
  plan.arenaBytes = summary.getArenaBytes();
  plan.liveLowerBound = summary.getLiveLowerBoundBytes();
  plan.gradsBufferBytes = summary.getGradsBufferBytes();
  plan.hostBytes = summary.getHostBytes();
  plan.budgetBytes = summary.getBudgetBytes();
  plan.analysis = std::make_unique<BufferAnalysis>(func, plan.options);

  for (const PlanBuffer &b : plan.analysis->getBuffers()) {
    AllocAttr alloc;
    if (b.value) {
      auto allocs = b.op->getAttrOfType<ArrayAttr>(kAllocAttr);
      unsigned index = allocIndex(cast<OpResult>(b.value));
      if (allocs && index < allocs.size())
        alloc = dyn_cast<AllocAttr>(allocs[index]);
    } else if (b.op) {
      alloc = b.op->getAttrOfType<AllocAttr>(kWorkspaceAttr);
    } else {
      alloc = cublas;
    }
    if (!alloc)
      return (b.op ? b.op->emitError() : func.emitError())
             << "has no planned location; the plan is stale (re-run "
                "--tg-plan-memory)";
    plan.offsets.push_back(alloc.getOffset());
  }
  return plan;
}

FailureOr<MemoryPlan> mlir::tg::readModulePlan(ModuleOp module,
                                               StringRef functionName) {
  func::FuncOp func = findPlannedFunction(module, functionName);
  if (!func)
    return failure();
  return MemoryPlan::read(func);
}

MemoryPlan mlir::tg::placeBuffers(func::FuncOp func,
                                  const PlanOptions &options) {
  MemoryPlan placed;
  placed.options = options;
  placed.analysis = std::make_unique<BufferAnalysis>(func, options);
  ArrayRef<PlanBuffer> buffers = placed.analysis->getBuffers();
  placed.offsets.assign(buffers.size(), 0);
  // The arena and the host buffer are each packed on their own.
  auto place = [&](MemorySpace space,
                   std::vector<internvl::BufferInterval> &intervals) {
    std::vector<size_t> ids;
    for (auto [i, b] : llvm::enumerate(buffers))
      if (b.space == space) {
        intervals.push_back({b.bytes, b.start, b.end});
        ids.push_back(i);
      }
    internvl::Placement placement = internvl::placeBestFit(intervals);
    for (auto [k, id] : llvm::enumerate(ids))
      placed.offsets[id] = placement.offsets[k];
    return placement.arenaBytes;
  };
  std::vector<internvl::BufferInterval> intervals, hostIntervals;
  int64_t arenaBytes = place(MemorySpace::Arena, intervals);
  placed.hostBytes = place(MemorySpace::Host, hostIntervals);
  // Gradients fill their buffer in the order they are produced.
  for (auto [i, b] : llvm::enumerate(buffers))
    if (b.space == MemorySpace::Grads) {
      placed.offsets[i] = placed.gradsBufferBytes;
      placed.gradsBufferBytes += b.bytes;
    }
  placed.arenaBytes = arenaBytes;
  placed.liveLowerBound = internvl::liveLowerBound(intervals);
  return placed;
}

PlanOptions mlir::tg::planOptionsFor(ModuleOp module, int64_t zeroStage,
                                     int64_t worldSize) {
  auto setting = [&](int64_t option, StringRef attr, int64_t fallback) {
    if (option != -1)
      return option;
    if (auto value = module->getAttrOfType<IntegerAttr>(attr))
      return value.getInt();
    return fallback;
  };
  PlanOptions options;
  options.zeroStage = setting(zeroStage, "tg.zero_stage", 0);
  options.worldSize = setting(worldSize, "tg.world_size", 1);
  return options;
}

LogicalResult mlir::tg::checkPlanOptions(ModuleOp module,
                                         const PlanOptions &options,
                                         StringRef pass) {
  if (options.zeroStage < 0 || options.zeroStage > 3)
    return module.emitError() << pass << ": zero-stage must be 0, 1, 2 or 3, "
                              << "got " << options.zeroStage;
  if (options.worldSize < 1 || options.worldSize > kMaxWorldSize)
    return module.emitError() << pass << ": world-size must be in [1, "
                              << kMaxWorldSize << "], got "
                              << options.worldSize;
  constexpr int64_t kMaxAlignment = int64_t(1) << 30;
  if (options.alignment < 1 || options.alignment > kMaxAlignment ||
      (options.alignment & (options.alignment - 1)) != 0)
    return module.emitError() << pass
                              << ": alignment must be a power of two up to "
                              << kMaxAlignment << ", got "
                              << options.alignment;
  constexpr int64_t kMaxWorkspace = int64_t(1) << 40;
  if (options.cublasWorkspaceBytes < 0 ||
      options.cublasWorkspaceBytes > kMaxWorkspace)
    return module.emitError() << pass << ": cublas-workspace must be in [0, "
                              << kMaxWorkspace << "] bytes, got "
                              << options.cublasWorkspaceBytes;
  return success();
}
