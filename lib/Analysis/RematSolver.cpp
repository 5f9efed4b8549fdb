//===- RematSolver.cpp - keep or recompute, per layer and across layers -----===//

#include "internvl/Analysis/RematSolver.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <limits>

using namespace internvl;

RematChoice internvl::evaluateChoice(const LayerProblem &layer,
                                     const std::vector<bool> &keep) {
  size_t n = layer.ops.size();
  RematChoice choice;
  choice.keep = keep;
  choice.recompute.assign(n, false);
  // Reverse topological order: an op runs again if it is a unit not kept,
  // or if a recomputed op needs a result of it that is not kept.
  for (size_t k = n; k-- > 0;) {
    const RematOp &op = layer.ops[k];
    if (op.savedBytes > 0 && !keep[k])
      choice.recompute[k] = true;
    if (!choice.recompute[k])
      continue;
    for (auto [producer, viaSaved] : op.inputs) {
      bool available = viaSaved && layer.ops[producer].savedBytes > 0 &&
                       keep[producer];
      if (!available)
        choice.recompute[producer] = true;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    if (layer.ops[k].savedBytes > 0 && keep[k])
      choice.keptBytes += layer.ops[k].savedBytes;
    if (choice.recompute[k]) {
      choice.seconds += layer.ops[k].seconds;
      choice.flops += layer.ops[k].flops;
    }
  }
  return choice;
}

/// Units by decreasing saved bytes (ties by op order): the first `maxUnits`
/// are enumerated, the rest always kept.
static std::vector<int> unitsBySize(const LayerProblem &layer) {
  std::vector<int> units;
  for (size_t k = 0; k < layer.ops.size(); ++k)
    if (layer.ops[k].savedBytes > 0)
      units.push_back(k);
  std::stable_sort(units.begin(), units.end(), [&](int a, int b) {
    return layer.ops[a].savedBytes > layer.ops[b].savedBytes;
  });
  return units;
}

std::vector<int> internvl::alwaysKeptUnits(const LayerProblem &layer,
                                           int maxUnits) {
  std::vector<int> units = unitsBySize(layer);
  std::vector<int> kept;
  if (static_cast<int>(units.size()) > maxUnits)
    kept.assign(units.begin() + maxUnits, units.end());
  std::sort(kept.begin(), kept.end());
  return kept;
}

std::vector<RematChoice> internvl::paretoFrontier(const LayerProblem &layer,
                                                  int maxUnits) {
  std::vector<int> units = unitsBySize(layer);
  std::vector<bool> keep(layer.ops.size(), false);
  if (static_cast<int>(units.size()) > maxUnits) {
    for (size_t u = maxUnits; u < units.size(); ++u)
      keep[units[u]] = true;
    units.resize(maxUnits);
  }
  // Enumerate in op order, as the exact frontier always has, so a layer
  // within the limit gets the same choice among equally good ones.
  std::sort(units.begin(), units.end());

  // Every subset's (bytes, time) only (2^22 full choices would take GBs);
  // the frontier's choices are evaluated again at the end.
  struct Point {
    int64_t keptBytes;
    double seconds;
    uint64_t mask;
  };
  std::vector<Point> all;
  all.reserve(size_t(1) << units.size());
  for (uint64_t mask = 0; mask < (uint64_t(1) << units.size()); ++mask) {
    for (size_t u = 0; u < units.size(); ++u)
      keep[units[u]] = (mask >> u) & 1;
    RematChoice c = evaluateChoice(layer, keep);
    all.push_back({c.keptBytes, c.seconds, mask});
  }
  // Sort by bytes, then time; keep each point that improves on the time of
  // every point with fewer bytes.
  std::sort(all.begin(), all.end(), [](const Point &a, const Point &b) {
    if (a.keptBytes != b.keptBytes)
      return a.keptBytes < b.keptBytes;
    return a.seconds < b.seconds;
  });
  std::vector<RematChoice> frontier;
  double best = std::numeric_limits<double>::infinity();
  for (const Point &p : all)
    if (p.seconds < best) {
      best = p.seconds;
      for (size_t u = 0; u < units.size(); ++u)
        keep[units[u]] = (p.mask >> u) & 1;
      frontier.push_back(evaluateChoice(layer, keep));
    }
  return frontier;
}

internvl::KnapsackTable::KnapsackTable(
    llvm::ArrayRef<const std::vector<RematChoice> *> frontiers,
    int64_t maxCapacity, int64_t granularity)
    : frontiers(frontiers.begin(), frontiers.end()),
      granularity(std::max<int64_t>(granularity, 1)) {
  for (const std::vector<RematChoice> *f : frontiers)
    minimumUnits += units(f->front().keptBytes);
  int64_t cap = std::max<int64_t>(maxCapacity, 0) / this->granularity;
  // Points that round to the same units are one point, the fastest; a
  // point no faster than a lighter one after rounding never helps. (Layers
  // of one type share a frontier, and so its reduction.)
  struct Item {
    int64_t units;
    double seconds;
    int point;
  };
  llvm::DenseMap<const std::vector<RematChoice> *, std::vector<Item>> reduced;
  for (const std::vector<RematChoice> *f : frontiers) {
    std::vector<Item> &items = reduced[f];
    if (!items.empty())
      continue;
    for (auto [p, choice] : llvm::enumerate(*f)) {
      Item item{units(choice.keptBytes), choice.seconds, static_cast<int>(p)};
      if (!items.empty() && items.back().units == item.units) {
        if (item.seconds < items.back().seconds)
          items.back() = item;
      } else if (items.empty() || item.seconds < items.back().seconds) {
        items.push_back(item);
      }
    }
  }
  // best[c]: least time with at most c units over the layers so far;
  // pick[l][c]: the point layer l takes there. The values at c do not
  // depend on the largest capacity, so one table answers every capacity.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> best(cap + 1, 0.0), next(cap + 1);
  pick.assign(frontiers.size(), std::vector<int>(cap + 1, -1));
  for (size_t l = 0; l < frontiers.size(); ++l) {
    std::fill(next.begin(), next.end(), inf);
    const std::vector<Item> &items = reduced[frontiers[l]];
    for (int64_t c = 0; c <= cap; ++c) {
      for (const Item &item : items) {
        if (item.units > c)
          break; // sorted by bytes
        double t = best[c - item.units] + item.seconds;
        if (t < next[c]) {
          next[c] = t;
          pick[l][c] = item.point;
        }
      }
    }
    best.swap(next);
  }
}

llvm::Expected<std::vector<int>>
internvl::KnapsackTable::choose(int64_t capacity) const {
  int64_t cap = capacity / granularity;
  if (capacity < 0 || units(capacity) < minimumUnits ||
      (!pick.empty() && cap >= static_cast<int64_t>(pick.front().size())) ||
      (!pick.empty() && pick.back()[cap] < 0)) {
    // Rounding up may not exceed the capacity: report the exact bytes.
    int64_t exact = 0;
    for (const std::vector<RematChoice> *f : frontiers)
      exact += f->front().keptBytes;
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "keeping the fewest activations needs %lld bytes, more than the %lld "
        "available",
        static_cast<long long>(exact), static_cast<long long>(capacity));
  }
  // Walk back from the capacity.
  std::vector<int> choice(frontiers.size());
  for (size_t l = frontiers.size(); l-- > 0;) {
    int p = pick[l][cap];
    choice[l] = p;
    cap -= units((*frontiers[l])[p].keptBytes);
  }
  return choice;
}

llvm::Expected<std::vector<int>> internvl::chooseAcrossLayers(
    llvm::ArrayRef<const std::vector<RematChoice> *> frontiers,
    int64_t capacity, int64_t granularity) {
  return KnapsackTable(frontiers, capacity, granularity).choose(capacity);
}

BudgetFit internvl::fitBudget(
    llvm::ArrayRef<const std::vector<RematChoice> *> fronts, int64_t budget,
    llvm::function_ref<int64_t(llvm::ArrayRef<int>)> peakOf) {
  BudgetFit fit;
  int64_t mostBytes = 0;
  for (const std::vector<RematChoice> *f : fronts)
    mostBytes += f->back().keptBytes;
  // The least memory any choice needs: every layer keeps nothing.
  std::vector<int> fewest(fronts.size(), 0);
  fit.minimumPeak = peakOf(fewest);
  if (fit.minimumPeak > budget)
    return fit;
  fit.feasible = true;
  // Keeping everything, if it fits, recomputes nothing.
  std::vector<int> most;
  for (const std::vector<RematChoice> *f : fronts)
    most.push_back(static_cast<int>(f->size()) - 1);
  int64_t mostPeak = peakOf(most);
  bool keepAll = mostPeak <= budget;
  // Close enough once less than 0.2% of what the choices span (or of the
  // budget, if less) is left unused: a tiny step's budget is mostly
  // persistent bytes and workspaces the choices do not touch.
  int64_t slack = std::max<int64_t>(
      256, std::min(budget, mostPeak - fit.minimumPeak) / 500);
  // Room for kept activations beyond the all-recompute plan.
  fit.granularity = std::max<int64_t>(256, mostBytes / 16384);
  int64_t capacity = budget - fit.minimumPeak;
  fit.points = fewest;
  double bestSeconds = 0;
  for (const std::vector<RematChoice> *f : fronts)
    bestSeconds += f->front().seconds;
  if (keepAll) {
    fit.points = most;
    fit.capacity = mostBytes;
    return fit;
  }
  // The capacity is searched for in a bracket: `lo` is the largest known to
  // fit (keeping the fewest does), `hi` the smallest known not to (keeping
  // everything does not). Each round proposes the capacity corrected by the
  // real peak's overshoot or room, and bisects where that leaves the bracket.
  int64_t lo = 0, hi = mostBytes;
  // One knapsack table serves every round's capacity (all below `hi`).
  KnapsackTable table(fronts, hi, fit.granularity);
  for (int attempt = 0; attempt < 10 && hi - lo > fit.granularity;
       ++attempt) {
    if (capacity <= lo || capacity >= hi)
      capacity = lo + (hi - lo) / 2;
    llvm::Expected<std::vector<int>> points = table.choose(capacity);
    if (!points) {
      llvm::consumeError(points.takeError());
      break;
    }
    int64_t peak = peakOf(*points);
    double seconds = 0;
    for (size_t k = 0; k < points->size(); ++k)
      seconds += (*fronts[k])[(*points)[k]].seconds;
    if (peak <= budget) {
      if (seconds < bestSeconds ||
          (seconds == bestSeconds && *points != fit.points)) {
        fit.points = *points;
        bestSeconds = seconds;
        fit.capacity = capacity;
      }
      if (seconds == 0 || budget - peak < std::max(fit.granularity, slack))
        break;
      lo = capacity;
      capacity += budget - peak;
    } else {
      hi = capacity;
      capacity -= peak - budget + fit.granularity;
    }
  }
  return fit;
}

std::vector<LossChunk>
internvl::lossChunkFrontier(const cost::ChunkedLoss &loss, bool backward,
                            bool hiddenGrad, bool weightGrad,
                            const cost::Roofline &gpu) {
  std::vector<int64_t> sizes = {std::max<int64_t>(loss.tokens, 1)};
  for (int64_t c = 128; c < loss.tokens; c *= 2)
    sizes.push_back(c);
  std::vector<LossChunk> all;
  for (int64_t c : sizes) {
    cost::ChunkedLoss at = loss;
    at.chunk = c;
    cost::OpCost fwd = at.forward();
    LossChunk chunk;
    chunk.tokens = c;
    chunk.workspaceBytes = fwd.workspaceBytes;
    chunk.seconds = cost::estimateSeconds(gpu, fwd.flops,
                                          fwd.bytesRead + fwd.bytesWritten);
    if (backward) {
      cost::OpCost bwd = at.backward(hiddenGrad, weightGrad);
      chunk.workspaceBytes = std::max(chunk.workspaceBytes, bwd.workspaceBytes);
      chunk.seconds += cost::estimateSeconds(
          gpu, bwd.flops, bwd.bytesRead + bwd.bytesWritten);
    }
    all.push_back(chunk);
  }
  // Fewest bytes first; among equal bytes the fastest; then keep each that
  // is faster than every smaller one.
  std::sort(all.begin(), all.end(), [](const LossChunk &a, const LossChunk &b) {
    return a.workspaceBytes != b.workspaceBytes
               ? a.workspaceBytes < b.workspaceBytes
               : a.seconds < b.seconds;
  });
  std::vector<LossChunk> frontier;
  for (const LossChunk &c : all)
    if (frontier.empty() || c.seconds < frontier.back().seconds)
      frontier.push_back(c);
  return frontier;
}

SegmentChoice internvl::evaluateSegments(llvm::ArrayRef<ChainLayer> chain,
                                         int64_t length) {
  SegmentChoice choice;
  int64_t n = static_cast<int64_t>(chain.size());
  choice.length = std::max<int64_t>(length, 1);
  choice.dropped.assign(n, false);
  // Layer k ends a run when k + 1 is a multiple of the length, or at the end.
  for (int64_t k = 0; k < n; ++k)
    choice.dropped[k] = (k + 1) % choice.length != 0 && k + 1 < n;
  int64_t kept = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (choice.dropped[k]) {
      choice.seconds += chain[k].rerunSeconds;
      choice.flops += chain[k].rerunFlops;
    } else {
      kept += chain[k].outputBytes;
    }
  }
  // Backward re-runs the last run first; each earlier run's re-run comes
  // after the runs behind it, their kept outputs included, were freed.
  int64_t extra = 0, freed = 0;
  int64_t runs = (n + choice.length - 1) / choice.length;
  for (int64_t r = runs; r-- > 0;) {
    int64_t rerun = 0, own = 0;
    for (int64_t k = r * choice.length;
         k < std::min(n, (r + 1) * choice.length); ++k)
      (choice.dropped[k] ? rerun : own) += chain[k].outputBytes;
    extra = std::max(extra, rerun - freed);
    freed += own;
  }
  choice.heldBytes = kept + extra;
  return choice;
}

std::vector<SegmentChoice>
internvl::segmentFrontier(llvm::ArrayRef<ChainLayer> chain) {
  std::vector<SegmentChoice> all;
  for (int64_t length = 1; length <= std::max<int64_t>(chain.size(), 1);
       ++length)
    all.push_back(evaluateSegments(chain, length));
  std::stable_sort(all.begin(), all.end(),
                   [](const SegmentChoice &a, const SegmentChoice &b) {
                     return a.heldBytes != b.heldBytes
                                ? a.heldBytes < b.heldBytes
                                : a.seconds < b.seconds;
                   });
  std::vector<SegmentChoice> frontier;
  for (SegmentChoice &c : all)
    if (frontier.empty() || c.seconds < frontier.back().seconds)
      frontier.push_back(std::move(c));
  return frontier;
}

/// What a hidden offloaded byte costs the solver: 1 ns per MB, far below
/// any roofline time, so only ties change.
static constexpr double kOffloadTieSecondsPerByte = 1e-15;

double internvl::exposedTransferSeconds(int64_t bytes,
                                        const OffloadWindow &window) {
  if (bytes <= 0 || window.bytesPerSecond <= 0)
    return 0.0;
  double t = static_cast<double>(bytes) / window.bytesPerSecond;
  return std::max(0.0, t - window.forwardSeconds) +
         std::max(0.0, t - window.backwardSeconds);
}

std::vector<RematChoice>
internvl::offloadFrontier(llvm::ArrayRef<RematChoice> frontier,
                          int64_t outputBytes, OffloadWindow window) {
  std::vector<RematChoice> all;
  for (const RematChoice &choice : frontier) {
    int64_t held = choice.keptBytes + outputBytes;
    OffloadWindow own = window;
    own.backwardSeconds += choice.seconds;
    // What the window hides costs nothing; beyond it, each byte costs its
    // transfer time once or twice. Nothing, the hidden share, half-way
    // from there and all of the outputs span that line.
    double hidden = own.bytesPerSecond *
                    std::min(own.forwardSeconds, own.backwardSeconds);
    int64_t free = std::min<int64_t>(outputBytes, static_cast<int64_t>(hidden));
    std::vector<int64_t> amounts = {0, free, free + (outputBytes - free) / 2,
                                    outputBytes};
    for (int64_t offloaded : amounts) {
      RematChoice c = choice;
      c.keptBytes = held - offloaded;
      c.offloadBytes = offloaded;
      // A hidden copy is still a copy (host memory, a busy link): ties go
      // to the device, so auto offloads only what the budget needs.
      c.seconds = choice.seconds + exposedTransferSeconds(offloaded, own) +
                  kOffloadTieSecondsPerByte * static_cast<double>(offloaded);
      all.push_back(std::move(c));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const RematChoice &a, const RematChoice &b) {
                     if (a.keptBytes != b.keptBytes)
                       return a.keptBytes < b.keptBytes;
                     return a.seconds < b.seconds;
                   });
  std::vector<RematChoice> result;
  double best = std::numeric_limits<double>::infinity();
  for (RematChoice &c : all)
    if (c.seconds < best) {
      best = c.seconds;
      result.push_back(std::move(c));
    }
  return result;
}
