//===- ExportMemoryPlan.cpp - --tg-export-memory-plan=FILE.json -----------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Dialect/TG/Transforms/ReportFile.h"
#include "internvl/Support/PassOptions.h"
#include "internvl/Support/Targets.h"

#include "mlir/IR/AsmState.h"
#include "llvm/Support/JSON.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGEXPORTMEMORYPLAN
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {

struct ExportMemoryPlanPass
    : public internvl::PassWithOptionErrors<tg::impl::TGExportMemoryPlanBase<ExportMemoryPlanPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  /// The file may be given without a key: --tg-export-memory-plan=FILE.
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return Pass::initializeOptions(fileOption(options), errorHandler);
  }

  void runOnOperation() override {
    FailureOr<MemoryPlan> plan = readModulePlan(getOperation(), functionName);
    if (failed(plan) || failed(writeReportFile(
                            getOperation(), "tg-export-memory-plan", file,
                            [&](llvm::raw_ostream &os) { write(*plan, os); })))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }

  void write(const MemoryPlan &plan, llvm::raw_ostream &os) {
    const BufferAnalysis &a = *plan.analysis;
    const PersistentBytes &p = a.getPersistent();
    AsmState state(a.getFunction());
    llvm::json::OStream j(os, /*IndentSize=*/1);
    j.object([&] {
      j.attribute("function", a.getFunction().getName());
      j.attribute("steps", static_cast<int64_t>(a.getSchedule().size()));
      j.attribute("arena_bytes", plan.arenaBytes);
      j.attribute("live_lower_bound_bytes", plan.liveLowerBound);
      j.attributeObject("persistent_bytes", [&] {
        j.attribute("params", p.params);
        j.attribute("master_params", p.masterParams);
        j.attribute("grads", p.grads);
        j.attribute("optimizer", p.optimizer);
        j.attribute("total", p.total());
      });
      j.attribute("peak_bytes", plan.peakBytes());
      if (plan.budgetBytes)
        j.attribute("budget_bytes", *plan.budgetBytes);
      else
        j.attribute("budget_bytes", nullptr);
      j.attribute("recompute_flops", plan.recomputeFlops());
      j.attribute("total_flops", plan.totalFlops());
      // The whole step on the roofline --tg-remat priced recomputation on
      // (the H100's without it): compute, recompute and communication ops
      // each bound by FLOPs or bytes.
      const internvl::GpuTarget *gpu = internvl::findGpu("h100");
      if (auto remat = a.getFunction()->getAttrOfType<DictionaryAttr>(kRematAttr))
        if (auto name = remat.getAs<StringAttr>("gpu"))
          if (const internvl::GpuTarget *named = internvl::findGpu(name))
            gpu = named;
      double seconds = 0;
      a.getFunction().walk([&](CostOpInterface op) {
        seconds += internvl::cost::estimateSeconds(
            gpu->roofline, op.getFlops(),
            op.getBytesRead() + op.getBytesWritten());
      });
      // Host copies run beside compute; what it does not hide adds up.
      double transfer = 0;
      if (auto remat =
              a.getFunction()->getAttrOfType<DictionaryAttr>(kRematAttr))
        for (StringRef region : {"vision", "llm"})
          if (auto entry = remat.getAs<DictionaryAttr>(region))
            if (auto t = entry.getAs<FloatAttr>("offload_seconds"))
              transfer += t.getValueAsDouble();
      seconds += transfer;
      j.attribute("step_seconds", seconds);
      j.attribute("host_bytes", plan.hostBytes);
      j.attribute("offload_seconds", transfer);
      j.attribute("roofline", gpu->gpu);
      // The regions whose layer outputs segments drop (--tg-remat's
      // segments lever).
      j.attributeArray("segments", [&] {
        auto remat = a.getFunction()->getAttrOfType<DictionaryAttr>(kRematAttr);
        if (!remat)
          return;
        for (StringRef region : {"vision", "llm"}) {
          auto entry = remat.getAs<DictionaryAttr>(region);
          auto length =
              entry ? entry.getAs<IntegerAttr>("segment_layers") : IntegerAttr();
          if (!length)
            continue;
          j.object([&] {
            j.attribute("region", region);
            j.attribute("segment_layers", length.getInt());
            for (StringRef key : {"dropped_outputs", "dropped_bytes"})
              if (auto v = entry.getAs<IntegerAttr>(key))
                j.attribute(key, v.getInt());
          });
        }
      });
      // The fused loss's chunk (--tg-remat's chunk-loss lever).
      LinearCrossEntropyOp loss;
      a.getFunction().walk([&](LinearCrossEntropyOp op) { loss = op; });
      if (loss) {
        internvl::cost::ChunkedLoss shape = linearCrossEntropyShape(loss);
        j.attributeObject("loss_chunk", [&] {
          j.attribute("tokens", shape.tokens);
          j.attribute("chunk_tokens", shape.chunk);
          j.attribute("chunks", shape.chunks());
        });
      }
      j.attributeArray("buffers", [&] {
        ArrayRef<PlanBuffer> buffers = a.getBuffers();
        for (size_t i = 0; i < buffers.size(); ++i) {
          const PlanBuffer &b = buffers[i];
          if (b.space != MemorySpace::Arena)
            continue;
          std::string name;
          llvm::raw_string_ostream ns(name);
          if (b.value)
            b.value.printAsOperand(ns, state);
          else
            // An op's workspace is named by the op (attention backward's
            // scratch, a collective's packing buffer).
            ns << (b.op ? b.op->getName().stripDialect() + "_workspace"
                        : std::string("cublaslt_workspace"));
          j.object([&] {
            j.attribute("name", name);
            j.attribute("scope", b.scope);
            j.attribute("kind", stringifyBufferKind(b.kind));
            j.attribute("bytes", b.bytes);
            j.attribute("offset", plan.offsets[i]);
            j.attribute("start", b.start);
            j.attribute("end", b.end);
          });
        }
      });
    });
    os << "\n";
  }
};

} // namespace
