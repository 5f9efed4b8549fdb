//===- PrintMemoryPlan.cpp - --tg-print-memory-plan -----------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/Units.h"
#include "internvl/Support/PassOptions.h"
#include "internvl/Support/Region.h"

#include "mlir/IR/AsmState.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

namespace mlir::tg {
#define GEN_PASS_DEF_TGPRINTMEMORYPLAN
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;
using internvl::formatGiB;
using internvl::ModelRegion;

namespace {

constexpr BufferKind kKinds[] = {
    BufferKind::SavedActivation, BufferKind::Temporary, BufferKind::Gradient,
    BufferKind::Recomputed,      BufferKind::Workspace, BufferKind::Output};
constexpr ModelRegion kRegions[] = {ModelRegion::Vision, ModelRegion::Projector,
                                    ModelRegion::Llm, ModelRegion::Other};

void line(llvm::raw_ostream &os, StringRef label, int64_t bytes) {
  os << llvm::format("  %-18s %16lld  %12s\n", label.str().c_str(),
                     static_cast<long long>(bytes), formatGiB(bytes).c_str());
}

std::string describeOp(Operation *op) {
  std::string s = op->getName().getStringRef().str();
  if (auto scope = op->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName()))
    s += " (" + scope.getValue().str() + ")";
  return s;
}

/// With LoRA adapters among the parameters, `params` in three: the
/// adapters, the frozen weights (no gradient, master or optimizer state) and
/// the other trained weights. When `params` is one rank's shard (ZeRO stage
/// 3) the three are the whole model's and say so.
void printLoraSplit(func::FuncOp func, int64_t perRankParams,
                    llvm::raw_ostream &os) {
  int64_t lora = 0, frozen = 0, total = 0;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto kind =
        func.getArgAttrOfType<StringAttr>(i, TGDialect::getKindAttrName());
    auto name =
        func.getArgAttrOfType<StringAttr>(i, TGDialect::getNameAttrName());
    if (!kind || kind.getValue() != "param" || !name)
      continue;
    int64_t bytes = tensorBytes(func.getArgument(i).getType());
    total += bytes;
    if (internvl::isLoraAdapter(name.getValue()))
      lora += bytes;
    else if (!func.getArgAttr(i, TGDialect::getTrainableAttrName()))
      frozen += bytes;
  }
  if (lora == 0)
    return;
  StringRef whole = total == perRankParams ? "" : " (whole model)";
  line(os, ("  lora adapters" + whole).str(), lora);
  line(os, ("  frozen" + whole).str(), frozen);
  line(os, ("  other trained" + whole).str(), total - lora - frozen);
}

/// The --tg-remat section: per region, the policy, what is kept and what is
/// recomputed, against the whole step's FLOPs.
void printRemat(const MemoryPlan &plan, llvm::raw_ostream &os) {
  func::FuncOp func = plan.analysis->getFunction();
  auto remat = func->getAttrOfType<DictionaryAttr>(kRematAttr);
  if (!remat)
    return;
  int64_t total = plan.totalFlops();
  auto gpu = remat.getAs<StringAttr>("gpu");
  os << "remat (recompute time on the " << (gpu ? gpu.getValue() : "h100")
     << " roofline";
  if (auto prune = remat.getAs<BoolAttr>("prune"); prune && !prune.getValue())
    os << ", whole layers re-run";
  os << ")\n";
  os << llvm::format(
      "  %-10s %-7s %6s %16s %16s %10s %18s %9s %12s\n",
      static_cast<const char *>("region"), static_cast<const char *>("policy"),
      static_cast<const char *>("layers"),
      static_cast<const char *>("kept bytes"),
      static_cast<const char *>("saved bytes"), static_cast<const char *>("ops"),
      static_cast<const char *>("FLOPs"), static_cast<const char *>("% step"),
      static_cast<const char *>("est. time"));
  std::vector<std::string> notes;
  for (ModelRegion r : {ModelRegion::Vision, ModelRegion::Llm}) {
    StringRef name = internvl::stringifyRegion(r);
    auto region = remat.getAs<DictionaryAttr>(name);
    if (!region)
      continue;
    auto get = [&](StringRef key) {
      auto v = region.getAs<IntegerAttr>(key);
      return v ? v.getInt() : int64_t(0);
    };
    auto seconds = region.getAs<FloatAttr>("recompute_seconds");
    int64_t flops = get("recomputed_flops");
    os << llvm::format(
        "  %-10s %-7s %6lld %16lld %16lld %10lld %18lld %8.2f%% %9.4g ms\n",
        name.str().c_str(),
        region.getAs<StringAttr>("policy").getValue().str().c_str(),
        static_cast<long long>(get("layers")),
        static_cast<long long>(get("kept_bytes")),
        static_cast<long long>(get("saved_bytes")),
        static_cast<long long>(get("recomputed_ops")),
        static_cast<long long>(flops), total ? 100.0 * flops / total : 0.0,
        seconds ? seconds.getValueAsDouble() * 1e3 : 0.0);
    // The segments lever, within the region's numbers above.
    if (int64_t length = get("segment_layers"); length > 1) {
      auto segmentSeconds = region.getAs<FloatAttr>("segment_seconds");
      os << llvm::format(
          "  %-10s %-7s runs of %lld layers: %lld layer outputs dropped, "
          "saves %lld bytes, re-runs %lld FLOPs, %+.4g ms\n",
          static_cast<const char *>(""), static_cast<const char *>("segment"),
          static_cast<long long>(length),
          static_cast<long long>(get("dropped_outputs")),
          static_cast<long long>(get("dropped_bytes")),
          static_cast<long long>(get("segment_flops")),
          segmentSeconds ? segmentSeconds.getValueAsDouble() * 1e3 : 0.0);
    }
    // The offload lever: kept in host memory instead of on the device.
    if (int64_t host = get("offloaded_bytes"); host > 0) {
      auto transfer = region.getAs<FloatAttr>("offload_seconds");
      auto link = remat.getAs<StringAttr>("host_link");
      os << llvm::format(
          "  %-10s %-7s %lld bytes in host memory over %s, %+.4g ms exposed\n",
          static_cast<const char *>(""), static_cast<const char *>("offload"),
          static_cast<long long>(host),
          link ? link.getValue().str().c_str() : "the host link",
          transfer ? transfer.getValueAsDouble() * 1e3 : 0.0);
    }
    auto noGradient = region.getAs<BoolAttr>("no_gradient");
    if (noGradient && noGradient.getValue())
      notes.push_back(name.str() +
                      ": no gradient reaches this region; it keeps no "
                      "activations for backward and nothing is recomputed");
  }
  // The chunk-loss lever: tg.linear_cross_entropy's chunk against one chunk
  // of every token.
  if (auto loss = remat.getAs<DictionaryAttr>("loss")) {
    auto get = [&](StringRef key) {
      auto v = loss.getAs<IntegerAttr>(key);
      return v ? v.getInt() : int64_t(0);
    };
    auto chunked = loss.getAs<BoolAttr>("chunked");
    auto extra = loss.getAs<FloatAttr>("extra_seconds");
    os << llvm::format(
        "  %-10s %-7s %lld x %lld tokens, workspace %lld bytes, saves %lld bytes "
        "against one chunk, %+.4g ms\n",
        static_cast<const char *>("loss"),
        static_cast<const char *>(chunked && chunked.getValue() ? "chunk"
                                                                : "whole"),
        static_cast<long long>(get("chunks")),
        static_cast<long long>(get("chunk_tokens")),
        static_cast<long long>(get("workspace_bytes")),
        static_cast<long long>(get("whole_workspace_bytes") -
                               get("workspace_bytes")),
        extra ? extra.getValueAsDouble() * 1e3 : 0.0);
  }
  for (const std::string &note : notes)
    os << "  " << note << "\n";
}

/// The --tg-data-parallel section: the settings, the buckets and their
/// communication buffers.
void printDataParallel(const MemoryPlan &plan, llvm::raw_ostream &os) {
  const BufferAnalysis &a = *plan.analysis;
  DataParallelAttr dp = getDataParallel(a.getFunction());
  if (!dp)
    return;
  int64_t collectives = 0, largest = 0, peakBuffers = 0, gathered = 0;
  int64_t peak = plan.peakStep();
  for (Operation *op : a.getSchedule())
    collectives += isCollective(op) && !isa<GlobalNormOp>(op);
  for (const PlanBuffer &b : a.getBuffers()) {
    bool live = b.start <= peak && peak <= b.end;
    if (b.kind == BufferKind::Workspace && b.op && isCollective(b.op)) {
      largest = std::max(largest, b.bytes);
      peakBuffers += live ? b.bytes : 0;
    } else if (b.value && isa<AllGatherOp>(b.op) &&
               cast<AllGatherOp>(b.op).getDests().empty()) {
      gathered += live ? b.bytes : 0; // ZeRO-3's gathered parameters
    }
  }
  int64_t stage = dp.getZeroStage();
  os << "data parallel: " << dp.getWorldSize() << " ranks, ZeRO stage "
     << stage << ", " << dp.getBuckets();
  if (stage == 3) {
    os << " buckets (a layer's parameters each)";
    if (dp.getFrozenBuckets().value_or(0))
      os << " and " << *dp.getFrozenBuckets() << " of frozen parameters";
  } else {
    os << " gradient buckets of up to " << dp.getReduceBucketSize()
       << " elements";
  }
  if (stage == 1 || stage == 2)
    os << ", all-gathers of up to " << dp.getAllgatherBucketSize()
       << " elements in flight";
  os << ", " << collectives << " collectives\n";
  line(os, "largest comm buf", largest);
  line(os, "comm bufs at peak", peakBuffers);
  if (stage == 3)
    line(os, "gathered at peak", gathered);
}

struct PrintMemoryPlanPass
    : public internvl::PassWithOptionErrors<tg::impl::TGPrintMemoryPlanBase<PrintMemoryPlanPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override {
    if (top < 0) {
      getOperation().emitError("--tg-print-memory-plan: top must be >= 0, got ")
          << static_cast<int64_t>(top);
      return signalPassFailure();
    }
    FailureOr<MemoryPlan> plan = readModulePlan(getOperation(), functionName);
    if (failed(plan))
      return signalPassFailure();
    ModuleOp module = getOperation();
    if (auto bucket = module->getAttrOfType<BucketAttr>("tg.bucket"))
      llvm::outs() << "== bucket @" << *module.getSymName() << ": seq "
                   << bucket.getSeq() << ", tiles " << bucket.getTiles()
                   << " per sample\n";
    print(*plan, llvm::outs());
    markAllAnalysesPreserved();
  }

  void print(const MemoryPlan &plan, llvm::raw_ostream &os) {
    const BufferAnalysis &a = *plan.analysis;
    const PersistentBytes &p = a.getPersistent();
    os << "memory plan of @" << a.getFunction().getName() << ": "
       << a.getSchedule().size() << " steps, ZeRO stage "
       << plan.options.zeroStage << ", world size " << plan.options.worldSize
       << " (bytes per rank)\n";
    os << "persistent\n";
    line(os, "params", p.params);
    printLoraSplit(a.getFunction(), p.params, os);
    line(os, "master_params", p.masterParams);
    line(os, "grads", p.grads);
    line(os, "optimizer", p.optimizer);
    line(os, "total", p.total());
    os << "transient\n";
    line(os, "arena", plan.arenaBytes);
    line(os, "live lower bound", plan.liveLowerBound);
    os << llvm::format(
        "  %-18s %16.4f\n", static_cast<const char *>("arena / bound"),
        plan.liveLowerBound ? double(plan.arenaBytes) / plan.liveLowerBound
                            : 1.0);
    os << "peak (persistent + arena)\n";
    line(os, "peak", plan.peakBytes());
    if (plan.budgetBytes) {
      line(os, "budget", *plan.budgetBytes);
    }
    if (plan.hostBytes > 0) {
      os << "host (pinned, outside the device peak)\n";
      line(os, "offloaded", plan.hostBytes);
    }
    os << "batch inputs, outside the plan: " << a.getBatchBytes() << " bytes\n";
    printRemat(plan, os);
    printDataParallel(plan, os);

    std::vector<int64_t> live = plan.liveBytesPerStep();
    if (live.empty())
      return;
    int64_t peak = plan.peakStep();
    os << "peak step " << peak << " of " << a.getSchedule().size() << ": "
       << describeOp(a.getSchedule()[peak]) << ", " << live[peak]
       << " live arena bytes\n";

    // Live at the peak step, by region and kind.
    std::map<std::pair<ModelRegion, BufferKind>, int64_t> table;
    std::vector<size_t> atPeak;
    for (auto [i, b] : llvm::enumerate(a.getBuffers()))
      if (b.space == MemorySpace::Arena && b.start <= peak && peak <= b.end) {
        table[{b.region, b.kind}] += b.bytes;
        atPeak.push_back(i);
      }
    os << "live at the peak step by region and kind (bytes)\n";
    os << llvm::format("  %-10s", static_cast<const char *>("region"));
    for (BufferKind k : kKinds)
      os << llvm::format(" %16s", stringifyBufferKind(k).str().c_str());
    os << llvm::format(" %16s\n", static_cast<const char *>("total"));
    for (ModelRegion r : kRegions) {
      int64_t total = 0;
      os << llvm::format("  %-10s", internvl::stringifyRegion(r).str().c_str());
      for (BufferKind k : kKinds) {
        int64_t bytes = table[{r, k}];
        total += bytes;
        os << llvm::format(" %16lld", static_cast<long long>(bytes));
      }
      os << llvm::format(" %16lld\n", static_cast<long long>(total));
    }

    llvm::sort(atPeak, [&](size_t x, size_t y) {
      return a.getBuffers()[x].bytes > a.getBuffers()[y].bytes;
    });
    os << "largest buffers live at the peak step\n";
    AsmState state(a.getFunction());
    for (size_t i : llvm::ArrayRef(atPeak).take_front(top)) {
      const PlanBuffer &b = a.getBuffers()[i];
      std::string name;
      llvm::raw_string_ostream ns(name);
      if (b.value)
        b.value.printAsOperand(ns, state);
      else
        ns << (b.op ? "workspace" : "cublaslt_workspace");
      os << llvm::format(
          "  %16lld  %12s  %-16s steps %lld-%lld  %s %s\n",
          static_cast<long long>(b.bytes), formatGiB(b.bytes).c_str(),
          stringifyBufferKind(b.kind).str().c_str(),
          static_cast<long long>(b.start), static_cast<long long>(b.end),
          name.c_str(), b.scope.c_str());
    }
  }
};

} // namespace
