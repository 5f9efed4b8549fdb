//===- Remat.cpp - --tg-remat ---------------------------------------------===//
//
// IR glue around the solver (RematSolver: exact per-layer Pareto frontiers,
// multiple-choice knapsack across layers) and the rewrite (RematLayers). The
// peak that the budget constrains is the real one: each candidate is applied
// to a copy of the function and planned with the memory planner.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Analysis/RematLayers.h"
#include "internvl/Dialect/TG/Transforms/DataParallel.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Dialect/TG/Transforms/RematRewrite.h"
#include "internvl/Dialect/TG/Transforms/ReportFile.h"
#include "internvl/Support/Units.h"
#include "internvl/Support/PassOptions.h"
#include "internvl/Support/Targets.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <limits>
#include <map>

namespace mlir::tg {
#define GEN_PASS_DEF_TGREMAT
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;
using internvl::ModelRegion;

namespace {

enum class Policy { Force, Auto, Off };

StringRef policyName(Policy p) {
  return p == Policy::Force ? "force" : p == Policy::Auto ? "auto" : "off";
}

std::optional<Policy> parsePolicy(StringRef text) {
  return llvm::StringSwitch<std::optional<Policy>>(text)
      .Case("force", Policy::Force)
      .Case("auto", Policy::Auto)
      .Case("off", Policy::Off)
      .Default(std::nullopt);
}

/// What auto may use (the `levers` option).
struct Levers {
  bool recompute = false;
  bool segments = false;
  bool offload = false;
  bool chunkLoss = false;
  /// offload was named, not implied by the default.
  bool offloadNamed = false;
};

constexpr const char *kLeverList = "recompute, segments, offload, chunk-loss";

/// The levers named in `text` (empty: all), or an error message.
std::optional<std::string> parseLevers(StringRef text, Levers &levers) {
  if (text.empty()) {
    levers.recompute = levers.segments = levers.offload = levers.chunkLoss =
        true;
    return std::nullopt;
  }
  SmallVector<StringRef> names;
  text.split(names, ',');
  for (StringRef name : names) {
    name = name.trim();
    if (name == "recompute")
      levers.recompute = true;
    else if (name == "segments")
      levers.segments = true;
    else if (name == "chunk-loss")
      levers.chunkLoss = true;
    else if (name == "offload")
      levers.offload = levers.offloadNamed = true;
    else
      return "unknown lever '" + name.str() + "'; the levers are " +
             kLeverList;
  }
  return std::nullopt;
}

std::string leverNames(const Levers &levers) {
  std::string names;
  auto add = [&](bool on, StringRef name) {
    if (on)
      names += (names.empty() ? "" : ",") + name.str();
  };
  add(levers.recompute, "recompute");
  add(levers.segments, "segments");
  add(levers.offload, "offload");
  add(levers.chunkLoss, "chunk-loss");
  return names.empty() ? "none" : names;
}

/// Sets the chunk of every tg.linear_cross_entropy (and its gradient), at
/// most the op's tokens.
void setLossChunk(func::FuncOp func, int64_t tokens) {
  Builder b(func.getContext());
  auto set = [&](Operation *op, const internvl::cost::ChunkedLoss &shape) {
    int64_t chunk = std::min(tokens, std::max<int64_t>(shape.tokens, 1));
    op->setAttr("chunk_tokens", b.getI64IntegerAttr(chunk));
  };
  func.walk([&](LinearCrossEntropyOp op) {
    set(op, linearCrossEntropyShape(op));
  });
  func.walk([&](LinearCrossEntropyGradOp op) {
    set(op, linearCrossEntropyShape(op));
  });
}

struct RematPass : public internvl::PassWithOptionErrors<tg::impl::TGRematBase<RematPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override;

private:
  /// Peak of `func` with `recompute` and `dropped` applied, planned on a
  /// copy.
  int64_t peakWith(func::FuncOp func,
                   llvm::ArrayRef<std::vector<bool>> recompute,
                   const std::vector<bool> &dropped,
                   llvm::ArrayRef<int64_t> offload,
                   std::optional<int64_t> chunk,
                   const PlanOptions &options,
                   const internvl::cost::Roofline &gpu) {
    auto copy = cast<func::FuncOp>(func->clone());
    std::vector<RematLayer> layers = collectRematLayers(copy, gpu);
    applyRecompute(copy, layers, recompute);
    applySegments(copy, layers, dropped);
    applyOffload(copy, layers, offload);
    if (chunk)
      setLossChunk(copy, *chunk);
    // As --tg-data-parallel will lower it: a recomputed layer's parameters
    // are gathered for its recomputation too.
    // (It accepted the step before; should a candidate fail, its error is
    // reported and the candidate fits no budget.)
    if (dataParallelOptions &&
        failed(lowerDataParallel(copy, *dataParallelOptions))) {
      copy.erase();
      candidateFailed = true;
      return std::numeric_limits<int64_t>::max();
    }
    int64_t peak = placeBuffers(copy, options).peakBytes();
    copy.erase();
    return peak;
  }

  std::optional<DataParallelOptions> dataParallelOptions;
  bool candidateFailed = false;

  /// The auto layers' problems, the capacity and granularity the knapsack
  /// used, and what it chose.
  LogicalResult writeProblem(
      llvm::ArrayRef<RematLayer> layers, llvm::ArrayRef<size_t> autoLayers,
      llvm::ArrayRef<const std::vector<internvl::RematChoice> *> fronts,
      llvm::ArrayRef<int> points, int64_t capacity, int64_t granularity) {
    return writeReportFile(
        getOperation(), "tg-remat export-problem", exportProblem,
        [&](llvm::raw_ostream &os) {
          llvm::json::OStream j(os, 1);
          double seconds = 0;
          int64_t kept = 0;
          for (auto [k, p] : llvm::enumerate(points)) {
            seconds += (*fronts[k])[p].seconds;
            kept += (*fronts[k])[p].keptBytes;
          }
          j.object([&] {
            j.attribute("capacity_bytes", capacity);
            j.attribute("granularity_bytes", granularity);
            j.attribute("chosen_seconds", seconds);
            j.attribute("chosen_kept_bytes", kept);
            j.attributeArray("layers", [&] {
              for (size_t i : autoLayers)
                j.object([&] {
                  j.attribute("region",
                              internvl::stringifyRegion(layers[i].region));
                  j.attribute("index", layers[i].index);
                  j.attributeArray("ops", [&] {
                    for (const internvl::RematOp &op : layers[i].problem.ops)
                      j.object([&] {
                        j.attribute("seconds", op.seconds);
                        j.attribute("saved_bytes", op.savedBytes);
                        j.attributeArray("inputs", [&] {
                          for (const auto &input : op.inputs)
                            j.array([&] {
                              j.value(input.first);
                              j.value(input.second);
                            });
                        });
                      });
                  });
                });
            });
          });
          os << "\n";
        });
  }

  LogicalResult fail(const Twine &message) {
    getOperation().emitError() << "--tg-remat: " << message;
    signalPassFailure();
    return failure();
  }
};

void RematPass::runOnOperation() {
  ModuleOp module = getOperation();
  StringRef name =
      functionName.empty() ? StringRef("train_step") : StringRef(functionName);
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func) {
    (void)fail("no function @" + name + " (run --tg-autodiff first)");
    return;
  }
  if (failed(expectPlannableBody(func, "--tg-remat")))
    return signalPassFailure();
  if (func->hasAttr(kRematAttr)) {
    (void)fail("@" + name + " was already rewritten by --tg-remat");
    return;
  }
  // Its gathered parameters would be kept as activations of the layers.
  if (getDataParallel(func)) {
    (void)fail("@" + name +
               " is already data parallel: run --tg-remat before "
               "--tg-data-parallel");
    return;
  }

  // Policies, budget, target.
  auto visionCheckpoint =
      module->getAttrOfType<BoolAttr>("tg.vision_grad_checkpoint");
  std::string visionText =
      !vision.empty() ? vision.getValue()
                      : (visionCheckpoint && !visionCheckpoint.getValue()
                             ? "off"
                             : "force");
  std::optional<Policy> visionPolicy = parsePolicy(visionText);
  auto checkpoint = module->getAttrOfType<BoolAttr>("tg.grad_checkpoint");
  std::string lmText =
      !lm.empty() ? lm.getValue()
                  : (checkpoint && checkpoint.getValue() ? "force" : "off");
  std::optional<Policy> lmPolicy = parsePolicy(lmText);
  Levers allowed;
  if (std::optional<std::string> error = parseLevers(levers, allowed)) {
    (void)fail(*error);
    return;
  }
  if (!visionPolicy || !lmPolicy) {
    (void)fail("policies are force, auto or off; got vision=" + visionText +
               " lm=" + lmText);
    return;
  }
  const internvl::GpuTarget *target = internvl::findGpu(gpu);
  if (!target) {
    (void)fail("gpu must be " + internvl::gpuNames() + ", got '" + gpu + "'");
    return;
  }
  const internvl::cost::Roofline *gpuRoofline = &target->roofline;
  // A fixed offload takes the lever out of the solver's hands.
  if (offloadOutputs)
    allowed.offload = false;
  if (allowed.offload && target->hostLinkBytesPerSecond <= 0) {
    if (allowed.offloadNamed) {
      (void)fail("the offload lever needs the host link bandwidth of gpu=" +
                 gpu + ", which the card table (Targets.h) does not give");
      return;
    }
    allowed.offload = false;
  }
  std::optional<int64_t> budgetBytes;
  if (!budget.empty()) {
    llvm::Expected<int64_t> parsed = internvl::parseMemoryBudget(budget);
    if (!parsed) {
      (void)fail(llvm::toString(parsed.takeError()));
      return;
    }
    budgetBytes = *parsed;
  }
  bool anyAuto = *visionPolicy == Policy::Auto || *lmPolicy == Policy::Auto;
  if (anyAuto && !budgetBytes) {
    (void)fail("auto needs a budget (budget=80GiB or budget=h100-80gb)");
    return;
  }
  PlanOptions options = planOptionsFor(module, zeroStage, worldSize);
  if (failed(checkPlanOptions(module, options, "--tg-remat")))
    return signalPassFailure();
  if (dataParallel) {
    FailureOr<DataParallelOptions> dp = dataParallelOptionsFor(
        module, requestedDataParallel(worldSize, zeroStage, reduceBucketSize,
                                      allgatherBucketSize,
                                      "--tg-remat (data-parallel=true)"));
    if (failed(dp))
      return signalPassFailure();
    // Fail early, on the step itself, if it cannot be lowered.
    auto probe = cast<func::FuncOp>(func->clone());
    bool lowers = succeeded(lowerDataParallel(probe, *dp));
    probe.erase();
    if (!lowers)
      return signalPassFailure();
    dataParallelOptions = *dp;
  }

  // In a bucket of a bucketed module, a budget the bucket cannot meet is
  // reported (tg.remat's fits) instead of failing every other bucket.
  bool inBucket = module->hasAttr("tg.bucket");
  bool fits = true;
  std::vector<RematLayer> layers = collectRematLayers(func, *gpuRoofline);
  auto regionPolicy = [&](ModelRegion region) {
    return region == ModelRegion::Vision ? *visionPolicy : *lmPolicy;
  };
  // An auto layer without the recompute or offload lever keeps everything
  // inside it, on the device.
  auto policyOf = [&](const RematLayer &layer) {
    Policy p = regionPolicy(layer.region);
    return p == Policy::Auto && !allowed.recompute && !allowed.offload
               ? Policy::Off
               : p;
  };
  // The compute a layer's copies to the host and back overlap: its own
  // forward and backward (twice the forward, plus what it recomputes).
  auto windowOf = [&](const RematLayer &layer) {
    internvl::OffloadWindow window;
    window.bytesPerSecond = target->hostLinkBytesPerSecond;
    for (const internvl::RematOp &op : layer.problem.ops)
      window.forwardSeconds += op.seconds;
    window.backwardSeconds = 2 * window.forwardSeconds;
    return window;
  };

  // The fused loss's chunk, chosen with the auto layers.
  LinearCrossEntropyOp lossOp;
  LinearCrossEntropyGradOp lossGrad;
  func.walk([&](LinearCrossEntropyOp op) { lossOp = op; });
  func.walk([&](LinearCrossEntropyGradOp op) { lossGrad = op; });
  std::vector<internvl::LossChunk> chunks;
  std::vector<internvl::RematChoice> chunkFront;
  int64_t fixedChunk = lossChunk;
  if (fixedChunk < 0) {
    (void)fail("loss-chunk must be >= 1 token (0: not fixed), got " +
               std::to_string(fixedChunk));
    return;
  }
  // A fixed chunk is set before anything is planned.
  if (fixedChunk > 0)
    setLossChunk(func, fixedChunk);
  if (anyAuto && allowed.chunkLoss && lossOp && fixedChunk == 0) {
    chunks = internvl::lossChunkFrontier(
        linearCrossEntropyShape(lossOp), lossGrad != nullptr,
        /*hiddenGrad=*/true,
        lossGrad && lossGrad.getWeightGrad(), *gpuRoofline);
    for (const internvl::LossChunk &c : chunks) {
      internvl::RematChoice choice;
      choice.keptBytes = c.workspaceBytes;
      choice.seconds = c.seconds - chunks.back().seconds;
      chunkFront.push_back(choice);
    }
  }
  std::optional<int64_t> chosenChunk;

  // Fixed choices for force and off; frontiers for auto.
  std::vector<std::vector<bool>> recompute(layers.size());
  std::map<std::string, std::vector<internvl::RematChoice>> frontiers;
  std::vector<size_t> autoLayers;
  for (auto [i, layer] : llvm::enumerate(layers)) {
    size_t n = layer.problem.ops.size();
    switch (policyOf(layer)) {
    case Policy::Off:
      recompute[i].assign(n, false);
      break;
    case Policy::Force:
      if (prune) {
        recompute[i] =
            internvl::evaluateChoice(layer.problem, std::vector<bool>(n, false))
                .recompute;
      } else {
        // torch.utils.checkpoint: the whole layer runs again, if backward
        // needs anything from it.
        bool needed = llvm::any_of(layer.problem.ops,
                                   [](auto &op) { return op.savedBytes > 0; });
        recompute[i].assign(n, needed);
      }
      break;
    case Policy::Auto: {
      autoLayers.push_back(i);
      if (frontiers.count(layer.signature))
        break;
      std::vector<internvl::RematChoice> front =
          allowed.recompute
              ? internvl::paretoFrontier(layer.problem)
              : std::vector<internvl::RematChoice>{internvl::evaluateChoice(
                    layer.problem, std::vector<bool>(n, true))};
      if (allowed.offload)
        front = internvl::offloadFrontier(front, layer.boundaryBytes,
                                          windowOf(layer));
      frontiers[layer.signature] = std::move(front);
      break;
    }
    }
  }

  // Segments over each auto region's chain of layers: one more choice of
  // the knapsack per region, its bytes counted above its fewest.
  struct RegionSegments {
    std::vector<size_t> layers;
    std::vector<internvl::SegmentChoice> choices;
    std::vector<internvl::RematChoice> front;
    /// The choice applied (a fixed run length has only that one).
    size_t chosen = 0;
  };
  std::vector<RegionSegments> segments, fixedSegments;
  std::vector<bool> dropped(layers.size(), false);
  std::vector<int64_t> offload(layers.size(), 0);
  if (offloadOutputs)
    for (auto [i, layer] : llvm::enumerate(layers))
      if (regionPolicy(layer.region) != Policy::Off)
        offload[i] = std::numeric_limits<int64_t>::max();
  if (segmentLayers < 0) {
    (void)fail("segment-layers must be >= 1 layer (0: not fixed), got " +
               std::to_string(segmentLayers));
    return;
  }
  for (ModelRegion region : {ModelRegion::Vision, ModelRegion::Llm}) {
    Policy policy = regionPolicy(region);
    bool fixed = segmentLayers > 0 && policy != Policy::Off;
    if (!fixed && (!allowed.segments || policy != Policy::Auto ||
                   segmentLayers > 0))
      continue;
    RegionSegments chain;
    std::vector<internvl::ChainLayer> links;
    for (auto [i, layer] : llvm::enumerate(layers))
      if (layer.region == region) {
        chain.layers.push_back(i);
        links.push_back(
            {layer.boundaryBytes, layer.rerunSeconds, layer.rerunFlops});
      }
    if (links.size() < 2 ||
        llvm::all_of(links, [](auto &l) { return l.outputBytes == 0; }))
      continue;
    if (fixed) {
      // Taken out of the solver's hands: applied as it is.
      internvl::SegmentChoice c =
          internvl::evaluateSegments(links, segmentLayers);
      for (auto [j, i] : llvm::enumerate(chain.layers))
        dropped[i] = c.dropped[j];
      chain.choices = {c};
      fixedSegments.push_back(std::move(chain));
      continue;
    }
    chain.choices = internvl::segmentFrontier(links);
    for (const internvl::SegmentChoice &c : chain.choices) {
      internvl::RematChoice choice;
      choice.keptBytes = c.heldBytes - chain.choices.front().heldBytes;
      choice.seconds = c.seconds;
      choice.flops = c.flops;
      chain.front.push_back(choice);
    }
    segments.push_back(std::move(chain));
  }

  if (!autoLayers.empty() || !chunkFront.empty() || !segments.empty()) {
    std::vector<const std::vector<internvl::RematChoice> *> fronts;
    for (size_t i : autoLayers)
      fronts.push_back(&frontiers[layers[i].signature]);
    for (const RegionSegments &chain : segments)
      fronts.push_back(&chain.front);
    // The loss chunk is one more choice of the knapsack: its workspace is
    // live at the loss, with every kept activation.
    if (!chunkFront.empty())
      fronts.push_back(&chunkFront);
    auto applyPoints = [&](llvm::ArrayRef<int> points) {
      for (auto [k, i] : llvm::enumerate(autoLayers)) {
        recompute[i] = (*fronts[k])[points[k]].recompute;
        if (!offloadOutputs)
          offload[i] = (*fronts[k])[points[k]].offloadBytes;
      }
      for (auto [k, chain] : llvm::enumerate(segments)) {
        chain.chosen = points[autoLayers.size() + k];
        const internvl::SegmentChoice &c = chain.choices[chain.chosen];
        for (auto [j, i] : llvm::enumerate(chain.layers))
          dropped[i] = c.dropped[j];
      }
      if (!chunkFront.empty())
        chosenChunk = chunks[points.back()].tokens;
    };
    internvl::BudgetFit fit = internvl::fitBudget(
        fronts, *budgetBytes, [&](llvm::ArrayRef<int> points) {
          applyPoints(points);
          return peakWith(func, recompute, dropped, offload, chosenChunk,
                          options, *gpuRoofline);
        });
    if (candidateFailed)
      return signalPassFailure();
    if (!fit.feasible && inBucket) {
      // One bucket of many: the table says it does not fit; plan its
      // smallest peak.
      fits = false;
      fit.points.assign(fronts.size(), 0);
    } else if (!fit.feasible) {
      (void)fail("budget " + std::to_string(*budgetBytes) + " bytes (" +
                 internvl::formatGiB(*budgetBytes) +
                 ") is below the minimum feasible peak " +
                 std::to_string(fit.minimumPeak) + " bytes (" +
                 internvl::formatGiB(fit.minimumPeak) +
                 ") for this graph with vision=" + policyName(*visionPolicy) +
                 " lm=" + policyName(*lmPolicy) + " levers=" + leverNames(allowed));
      return;
    }
    applyPoints(fit.points);
    // The layers' problem alone: the capacity left to them once the
    // segments and the loss chunk took their bytes.
    int64_t layerCapacity = fit.capacity;
    for (size_t k = autoLayers.size(); k < fronts.size(); ++k)
      layerCapacity -= (*fronts[k])[fit.points[k]].keptBytes;
    if (!exportProblem.empty() &&
        failed(writeProblem(
            layers, autoLayers,
            ArrayRef(fronts).take_front(autoLayers.size()),
            ArrayRef(fit.points).take_front(autoLayers.size()), layerCapacity,
            fit.granularity)))
      return signalPassFailure();
  } else if (budgetBytes) {
    int64_t peak = peakWith(func, recompute, dropped, offload, std::nullopt,
                            options, *gpuRoofline);
    if (candidateFailed)
      return signalPassFailure();
    if (peak > *budgetBytes && inBucket) {
      fits = false;
    } else if (peak > *budgetBytes) {
      (void)fail("the planned peak " + std::to_string(peak) + " bytes (" +
                 internvl::formatGiB(peak) +
                 ") with vision=" + policyName(*visionPolicy) +
                 " lm=" + policyName(*lmPolicy) + " exceeds the budget " +
                 std::to_string(*budgetBytes) + " bytes (" +
                 internvl::formatGiB(*budgetBytes) + "); use auto to fit it");
      return;
    }
  }

  applyRecompute(func, layers, recompute);
  applySegments(func, layers, dropped);
  std::vector<int64_t> offloaded = applyOffload(func, layers, offload);
  if (chosenChunk)
    setLossChunk(func, *chosenChunk);

  // What each region keeps and recomputes, for the reports.
  Builder b(&getContext());
  SmallVector<NamedAttribute> summary = {
      b.getNamedAttr("gpu", b.getStringAttr(gpu)),
      b.getNamedAttr("prune", b.getBoolAttr(prune))};
  if (llvm::any_of(offloaded, [](int64_t bytes) { return bytes > 0; }))
    summary.push_back(b.getNamedAttr(
        "host_link", b.getStringAttr(llvm::formatv(
                         "{0} ({1:F1} GB/s)", target->hostLink,
                         target->hostLinkBytesPerSecond / 1e9))));
  if (budgetBytes) {
    summary.push_back(
        b.getNamedAttr("budget_bytes", b.getI64IntegerAttr(*budgetBytes)));
    summary.push_back(b.getNamedAttr("fits", b.getBoolAttr(fits)));
    if (!fits)
      module.emitWarning() << "--tg-remat: bucket @" << *module.getSymName()
                           << " does not fit the budget "
                           << internvl::formatGiB(*budgetBytes)
                           << " with vision=" << policyName(*visionPolicy)
                           << " lm=" << policyName(*lmPolicy)
                           << "; planned at its smallest peak";
  }
  for (ModelRegion region : {ModelRegion::Vision, ModelRegion::Llm}) {
    Policy policy = region == ModelRegion::Vision ? *visionPolicy : *lmPolicy;
    int64_t count = 0, kept = 0, saved = 0, hostBytes = 0;
    double transferSeconds = 0;
    for (auto [i, layer] : llvm::enumerate(layers)) {
      if (layer.region != region)
        continue;
      ++count;
      // The offload lever: what went to the host, and the transfer time
      // the layer's compute (recomputation included) does not hide.
      if (offloaded[i] > 0) {
        internvl::OffloadWindow window = windowOf(layer);
        for (auto [k, op] : llvm::enumerate(layer.problem.ops))
          if (recompute[i][k])
            window.backwardSeconds += op.seconds;
        hostBytes += offloaded[i];
        transferSeconds +=
            internvl::exposedTransferSeconds(offloaded[i], window);
      }
      kept += dropped[i] ? 0 : layer.boundaryBytes;
      saved += layer.boundaryBytes;
      for (auto [k, op] : llvm::enumerate(layer.problem.ops)) {
        saved += op.savedBytes;
        if (!recompute[i][k])
          kept += op.savedBytes;
      }
    }
    int64_t ops = 0, flops = 0;
    double seconds = 0;
    func.walk([&](Operation *op) {
      auto scope = op->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName());
      if (phaseOf(op) != Phase::Recompute || !scope ||
          internvl::regionOf(scope.getValue()) != region)
        return;
      ++ops;
      if (auto cost = dyn_cast<CostOpInterface>(op)) {
        flops += cost.getFlops();
        seconds += internvl::cost::estimateSeconds(
            *gpuRoofline, cost.getFlops(),
            cost.getBytesRead() + cost.getBytesWritten());
      }
    });
    SmallVector<NamedAttribute> entries;
    // The segments lever: how long the runs are and what dropping their
    // layers' outputs saved and cost.
    for (const RegionSegments &chain :
         llvm::concat<const RegionSegments>(segments, fixedSegments)) {
      const internvl::SegmentChoice *c = &chain.choices[chain.chosen];
      if (layers[chain.layers.front()].region != region || c->length == 1)
        continue;
      int64_t outputs = 0, bytes = 0;
      for (auto [j, i] : llvm::enumerate(chain.layers))
        if (c->dropped[j]) {
          ++outputs;
          bytes += layers[i].boundaryBytes;
        }
      entries.push_back(
          b.getNamedAttr("segment_layers", b.getI64IntegerAttr(c->length)));
      entries.push_back(
          b.getNamedAttr("dropped_outputs", b.getI64IntegerAttr(outputs)));
      entries.push_back(
          b.getNamedAttr("dropped_bytes", b.getI64IntegerAttr(bytes)));
      entries.push_back(
          b.getNamedAttr("segment_flops", b.getI64IntegerAttr(c->flops)));
      entries.push_back(
          b.getNamedAttr("segment_seconds", b.getF64FloatAttr(c->seconds)));
    }
    entries.append(
            {b.getNamedAttr("policy", b.getStringAttr(policyName(policy))),
             b.getNamedAttr("layers", b.getI64IntegerAttr(count)),
             b.getNamedAttr("no_gradient",
                            b.getBoolAttr(count > 0 && saved == 0)),
             b.getNamedAttr("kept_bytes", b.getI64IntegerAttr(kept)),
             // What recomputation spared keeping (the activations backward
             // reads, less those kept).
             b.getNamedAttr("saved_bytes", b.getI64IntegerAttr(saved - kept)),
             b.getNamedAttr("recomputed_ops", b.getI64IntegerAttr(ops)),
             b.getNamedAttr("recomputed_flops", b.getI64IntegerAttr(flops)),
             b.getNamedAttr("recompute_seconds",
                            b.getF64FloatAttr(seconds))});
    if (hostBytes > 0) {
      entries.push_back(
          b.getNamedAttr("offloaded_bytes", b.getI64IntegerAttr(hostBytes)));
      entries.push_back(b.getNamedAttr("offload_seconds",
                                       b.getF64FloatAttr(transferSeconds)));
    }
    summary.push_back(b.getNamedAttr(internvl::stringifyRegion(region),
                                     b.getDictionaryAttr(entries)));
  }
  if (lossOp) {
    // The loss lever: the chunk against one chunk of every token.
    internvl::cost::ChunkedLoss shape = linearCrossEntropyShape(lossOp);
    internvl::cost::ChunkedLoss whole = shape;
    whole.chunk = std::max<int64_t>(shape.tokens, 1);
    auto secondsOf = [&](const internvl::cost::ChunkedLoss &l) {
      internvl::cost::OpCost f = l.forward();
      double t = internvl::cost::estimateSeconds(*gpuRoofline, f.flops,
                                                 f.bytesRead + f.bytesWritten);
      int64_t ws = f.workspaceBytes;
      if (lossGrad) {
        internvl::cost::OpCost g =
            l.backward(/*hiddenGrad=*/true, lossGrad.getWeightGrad() != nullptr);
        t += internvl::cost::estimateSeconds(*gpuRoofline, g.flops,
                                             g.bytesRead + g.bytesWritten);
        ws = std::max(ws, g.workspaceBytes);
      }
      return std::make_pair(t, ws);
    };
    auto [seconds, workspace] = secondsOf(shape);
    auto [wholeSeconds, wholeWorkspace] = secondsOf(whole);
    summary.push_back(b.getNamedAttr(
        "loss",
        b.getDictionaryAttr(
            {b.getNamedAttr("chunked",
                            b.getBoolAttr(!chunkFront.empty() || fixedChunk > 0)),
             b.getNamedAttr("chunk_tokens", b.getI64IntegerAttr(shape.chunk)),
             b.getNamedAttr("chunks", b.getI64IntegerAttr(shape.chunks())),
             b.getNamedAttr("workspace_bytes", b.getI64IntegerAttr(workspace)),
             b.getNamedAttr("whole_workspace_bytes",
                            b.getI64IntegerAttr(wholeWorkspace)),
             b.getNamedAttr("extra_seconds",
                            b.getF64FloatAttr(seconds - wholeSeconds))})));
  }
  func->setAttr(kRematAttr, b.getDictionaryAttr(summary));
}

} // namespace
