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
#include "internvl/Support/Units.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"

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

std::optional<internvl::cost::Roofline> roofline(StringRef gpu) {
  if (gpu == "h100")
    return internvl::cost::kH100;
  if (gpu == "h200")
    return internvl::cost::Roofline{989e12, 4.8e12};
  if (gpu == "a100")
    return internvl::cost::Roofline{312e12, 2.0e12};
  return std::nullopt;
}

struct RematPass : public internvl::PassWithOptionErrors<tg::impl::TGRematBase<RematPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override;

private:
  /// Peak of `func` with `recompute` applied, planned on a copy.
  int64_t peakWith(func::FuncOp func,
                   llvm::ArrayRef<std::vector<bool>> recompute,
                   const PlanOptions &options,
                   const internvl::cost::Roofline &gpu) {
    auto copy = cast<func::FuncOp>(func->clone());
    std::vector<RematLayer> layers = collectRematLayers(copy, gpu);
    applyRecompute(copy, layers, recompute);
    // As --tg-data-parallel will lower it: a recomputed layer's parameters
    // are gathered for its recomputation too.
    if (dataParallelOptions &&
        failed(lowerDataParallel(copy, *dataParallelOptions)))
      llvm::report_fatal_error("--tg-remat: --tg-data-parallel failed on a "
                               "candidate it accepted before");
    int64_t peak = placeBuffers(copy, options).peakBytes();
    copy.erase();
    return peak;
  }

  std::optional<DataParallelOptions> dataParallelOptions;

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
  std::optional<Policy> visionPolicy = parsePolicy(vision);
  auto checkpoint = module->getAttrOfType<BoolAttr>("tg.grad_checkpoint");
  std::string lmText =
      !lm.empty() ? lm.getValue()
                  : (checkpoint && checkpoint.getValue() ? "force" : "off");
  std::optional<Policy> lmPolicy = parsePolicy(lmText);
  if (!visionPolicy || !lmPolicy) {
    (void)fail("policies are force, auto or off; got vision=" + vision +
               " lm=" + lmText);
    return;
  }
  std::optional<internvl::cost::Roofline> gpuRoofline = roofline(gpu);
  if (!gpuRoofline) {
    (void)fail("gpu must be h100, h200 or a100, got '" + gpu + "'");
    return;
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
                                      allgatherBucketSize));
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

  std::vector<RematLayer> layers = collectRematLayers(func, *gpuRoofline);
  auto policyOf = [&](const RematLayer &layer) {
    return layer.region == ModelRegion::Vision ? *visionPolicy : *lmPolicy;
  };

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
      llvm::Expected<std::vector<internvl::RematChoice>> frontier =
          internvl::paretoFrontier(layer.problem);
      if (!frontier) {
        (void)fail(llvm::toString(frontier.takeError()));
        return;
      }
      frontiers[layer.signature] = std::move(*frontier);
      break;
    }
    }
  }

  if (!autoLayers.empty()) {
    std::vector<const std::vector<internvl::RematChoice> *> fronts;
    int64_t mostBytes = 0;
    for (size_t i : autoLayers) {
      fronts.push_back(&frontiers[layers[i].signature]);
      mostBytes += fronts.back()->back().keptBytes;
    }
    auto applyPoints = [&](const std::vector<int> &points) {
      for (auto [k, i] : llvm::enumerate(autoLayers))
        recompute[i] = (*fronts[k])[points[k]].recompute;
    };
    // The least memory any choice needs: every auto layer keeps nothing.
    std::vector<int> fewest(autoLayers.size(), 0);
    applyPoints(fewest);
    int64_t minimumPeak = peakWith(func, recompute, options, *gpuRoofline);
    if (minimumPeak > *budgetBytes) {
      (void)fail("budget " + std::to_string(*budgetBytes) + " bytes (" +
                 internvl::formatGiB(*budgetBytes) +
                 ") is below the minimum feasible peak " +
                 std::to_string(minimumPeak) + " bytes (" +
                 internvl::formatGiB(minimumPeak) +
                 ") for this graph with vision=" + policyName(*visionPolicy) +
                 " lm=" + policyName(*lmPolicy));
      return;
    }
    // Keeping everything, if it fits, recomputes nothing.
    std::vector<int> most;
    for (const std::vector<internvl::RematChoice> *f : fronts)
      most.push_back(f->size() - 1);
    applyPoints(most);
    bool keepAll =
        peakWith(func, recompute, options, *gpuRoofline) <= *budgetBytes;
    // Room for kept activations beyond the all-recompute plan; corrected by
    // the real peak of each candidate until it fits (and grown while it
    // leaves room), keeping the cheapest candidate that fits.
    int64_t granularity = std::max<int64_t>(256, mostBytes / 16384);
    int64_t capacity = *budgetBytes - minimumPeak;
    std::vector<int> best = fewest;
    int64_t bestCapacity = 0;
    double bestSeconds = 0;
    for (auto [k, f] : llvm::enumerate(fronts))
      bestSeconds += f->front().seconds;
    if (keepAll) {
      best = most;
      bestSeconds = 0;
      bestCapacity = mostBytes;
    }
    for (int attempt = 0; attempt < 8 && capacity >= 0 && !keepAll; ++attempt) {
      llvm::Expected<std::vector<int>> points =
          internvl::chooseAcrossLayers(fronts, capacity, granularity);
      if (!points) {
        llvm::consumeError(points.takeError());
        break;
      }
      applyPoints(*points);
      int64_t peak = peakWith(func, recompute, options, *gpuRoofline);
      double seconds = 0;
      for (auto [k, p] : llvm::enumerate(*points))
        seconds += (*fronts[k])[p].seconds;
      int64_t next;
      if (peak <= *budgetBytes) {
        if (seconds < bestSeconds ||
            (seconds == bestSeconds && *points != best)) {
          best = *points;
          bestSeconds = seconds;
          bestCapacity = capacity;
        }
        // Close enough: less than 0.5% of the budget is left unused.
        if (seconds == 0 ||
            *budgetBytes - peak < std::max(granularity, *budgetBytes / 200))
          break;
        next = capacity + (*budgetBytes - peak);
      } else {
        next = capacity - (peak - *budgetBytes) - granularity;
      }
      if (next == capacity)
        break;
      capacity = next;
    }
    applyPoints(best);
    if (!exportProblem.empty() &&
        failed(writeProblem(layers, autoLayers, fronts, best, bestCapacity,
                            granularity)))
      return signalPassFailure();
  } else if (budgetBytes) {
    int64_t peak = peakWith(func, recompute, options, *gpuRoofline);
    if (peak > *budgetBytes) {
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

  // What each region keeps and recomputes, for the reports.
  Builder b(&getContext());
  SmallVector<NamedAttribute> summary = {
      b.getNamedAttr("gpu", b.getStringAttr(gpu)),
      b.getNamedAttr("prune", b.getBoolAttr(prune))};
  if (budgetBytes)
    summary.push_back(
        b.getNamedAttr("budget_bytes", b.getI64IntegerAttr(*budgetBytes)));
  for (ModelRegion region : {ModelRegion::Vision, ModelRegion::Llm}) {
    Policy policy = region == ModelRegion::Vision ? *visionPolicy : *lmPolicy;
    int64_t count = 0, kept = 0, saved = 0;
    for (auto [i, layer] : llvm::enumerate(layers)) {
      if (layer.region != region)
        continue;
      ++count;
      kept += layer.boundaryBytes;
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
    summary.push_back(b.getNamedAttr(
        internvl::stringifyRegion(region),
        b.getDictionaryAttr(
            {b.getNamedAttr("policy", b.getStringAttr(policyName(policy))),
             b.getNamedAttr("layers", b.getI64IntegerAttr(count)),
             b.getNamedAttr("no_gradient",
                            b.getBoolAttr(count > 0 && saved == 0)),
             b.getNamedAttr("kept_bytes", b.getI64IntegerAttr(kept)),
             b.getNamedAttr("recomputed_ops", b.getI64IntegerAttr(ops)),
             b.getNamedAttr("recomputed_flops", b.getI64IntegerAttr(flops)),
             b.getNamedAttr("recompute_seconds",
                            b.getF64FloatAttr(seconds))})));
  }
  func->setAttr(kRematAttr, b.getDictionaryAttr(summary));
}

} // namespace
