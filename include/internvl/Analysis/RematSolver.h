//===- RematSolver.h - keep or recompute, per layer and across layers -*- C++ -*-===//
//
// The activation-checkpointing decision on plain data. A layer is a DAG of
// forward ops; some of them ("units") have results that backward reads.
// Keeping a unit costs the bytes of those results until backward; not
// keeping it means recomputing it in backward, together with every op it
// needs that is neither kept nor an input of the layer. Per layer type the
// whole keep/recompute space is enumerated and reduced to its Pareto
// frontier; across layers a multiple-choice knapsack picks one frontier
// point per layer.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_ANALYSIS_REMATSOLVER_H
#define INTERNVL_ANALYSIS_REMATSOLVER_H

#include "internvl/Support/CostModel.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace internvl {

/// One forward op of a layer, in topological order.
struct RematOp {
  /// Estimated time to run it once (seconds, on the target's roofline).
  double seconds = 0.0;
  int64_t flops = 0;
  /// Bytes of the results backward reads (0: not a unit).
  int64_t savedBytes = 0;
  /// Producers inside the layer: (op index, whether the operand is one of
  /// that producer's saved results, so keeping the producer provides it).
  std::vector<std::pair<int, bool>> inputs;
};

struct LayerProblem {
  std::vector<RematOp> ops;
};

/// A keep/recompute choice and what it costs.
struct RematChoice {
  /// keep[i]: unit i's saved results are kept (non-units: ignored).
  std::vector<bool> keep;
  /// recompute[i]: op i runs again in backward.
  std::vector<bool> recompute;
  int64_t keptBytes = 0;
  double seconds = 0.0;
  int64_t flops = 0;
  /// Of the bytes the choice keeps (and the layer's outputs), those kept in
  /// host memory instead of on the device (offloadFrontier).
  int64_t offloadBytes = 0;
};

/// The ops that must run again when `keep` says which units are kept: every
/// unit not kept, and whatever those need that is not available (pruned
/// recomputation: nothing else runs).
RematChoice evaluateChoice(const LayerProblem &layer,
                           const std::vector<bool> &keep);

/// Every Pareto-optimal choice (no other choice keeps fewer bytes with no
/// more recompute time), sorted by increasing kept bytes and strictly
/// decreasing time. Exact over the `maxUnits` units with the most saved
/// bytes, every subset of which is evaluated; a layer with more units (LoRA
/// adds a small one per adapted linear) keeps the rest in every choice, so
/// the frontier then starts at their bytes rather than at zero.
std::vector<RematChoice> paretoFrontier(const LayerProblem &layer,
                                        int maxUnits = 22);

/// The units paretoFrontier keeps in every choice of `layer` (beyond the
/// `maxUnits` largest), in op order.
std::vector<int> alwaysKeptUnits(const LayerProblem &layer, int maxUnits = 22);

/// The multiple-choice knapsack below, solved once for every capacity up
/// to `maxCapacity` (dynamic programming over kept bytes in units of
/// `granularity`): choose() then answers any of them by walking back, as
/// fitBudget's rounds need.
class KnapsackTable {
public:
  KnapsackTable(llvm::ArrayRef<const std::vector<RematChoice> *> frontiers,
                int64_t maxCapacity, int64_t granularity);
  /// chooseAcrossLayers(frontiers, capacity, granularity), for a capacity
  /// up to the table's.
  llvm::Expected<std::vector<int>> choose(int64_t capacity) const;

private:
  int64_t units(int64_t bytes) const {
    return (bytes + granularity - 1) / granularity;
  }
  std::vector<const std::vector<RematChoice> *> frontiers;
  int64_t granularity;
  int64_t minimumUnits = 0;
  /// pick[l][c]: the point layer l takes with c units for layers 0..l.
  std::vector<std::vector<int>> pick;
};

/// Multiple-choice knapsack: one point from each layer's frontier such that
/// the kept bytes sum to at most `capacity` at the least total time. Bytes are
/// counted in units of `granularity` (rounded up, so a solution never
/// exceeds `capacity`); the result is exact at that granularity and never
/// takes more time for a larger capacity. Fails when even keeping nothing
/// exceeds the capacity.
llvm::Expected<std::vector<int>>
chooseAcrossLayers(llvm::ArrayRef<const std::vector<RematChoice> *> frontiers,
                   int64_t capacity, int64_t granularity);

/// What fitBudget chose.
struct BudgetFit {
  /// False when even recomputing the most exceeds the budget.
  bool feasible = false;
  /// The peak when every layer keeps the least.
  int64_t minimumPeak = 0;
  /// One point per frontier.
  std::vector<int> points;
  /// The knapsack capacity and granularity that chose `points`.
  int64_t capacity = 0;
  int64_t granularity = 0;
};

/// One point per layer's frontier at the least total recompute time whose
/// real peak, `peakOf(points)` (the caller plans the candidate), is within
/// `budget`. The knapsack works on kept bytes, which the real peak does not
/// add up to exactly (buffers overlap in time), so its capacity is corrected
/// by each candidate's peak: shrunk by the overshoot, grown by what is left,
/// at most 10 times within a bracket of capacities known to fit and not to
/// (bisected where a correction leaves it); the cheapest candidate that fit
/// is kept.
BudgetFit fitBudget(llvm::ArrayRef<const std::vector<RematChoice> *> frontiers,
                    int64_t budget,
                    llvm::function_ref<int64_t(llvm::ArrayRef<int>)> peakOf);

/// One chunk size of the fused lm_head + cross-entropy and its cost.
struct LossChunk {
  int64_t tokens = 0;
  /// The larger of the forward's and the backward's workspace.
  int64_t workspaceBytes = 0;
  /// Forward and (if any) backward on the roofline.
  double seconds = 0.0;
};

/// The chunk sizes worth choosing for `loss` (its `chunk` is ignored): every
/// token at once, and each power of two from 128 below that, reduced to the
/// Pareto frontier of (workspace bytes, time), sorted by increasing bytes and
/// strictly decreasing time. `backward` says whether the step has the
/// gradient op, and which of its results.
std::vector<LossChunk> lossChunkFrontier(const cost::ChunkedLoss &loss,
                                         bool backward, bool hiddenGrad,
                                         bool weightGrad,
                                         const cost::Roofline &gpu);

/// One layer of a chain that segments may span: a region's checkpointed
/// layers in execution order, each reading the one before.
struct ChainLayer {
  /// Bytes of the layer's outputs that backward reads (the next layer's
  /// checkpoint, kept unless a segment drops it).
  int64_t outputBytes = 0;
  /// Re-running the ops that make those outputs from the layer's inputs.
  double rerunSeconds = 0.0;
  int64_t rerunFlops = 0;
};

/// Segment checkpointing of a chain (Chen et al., "Training Deep Nets with
/// Sublinear Memory Cost"): the chain is cut into runs of `length` layers
/// from its start (the last run may be shorter); only the first input of a
/// run is kept, and backward re-runs the run's forward once, from that
/// input, before it needs the dropped outputs.
struct SegmentChoice {
  int64_t length = 1;
  /// dropped[k]: layer k's outputs are not kept for backward.
  std::vector<bool> dropped;
  /// Chain outputs held at the worst moment: those kept, plus the most a
  /// run's re-run holds beyond what backward freed before it (the runs after
  /// it, their kept outputs included).
  int64_t heldBytes = 0;
  double seconds = 0.0;
  int64_t flops = 0;
};

/// `length` applied to `chain`.
SegmentChoice evaluateSegments(llvm::ArrayRef<ChainLayer> chain,
                               int64_t length);

/// Every Pareto-optimal run length from 1 (every output kept, nothing
/// re-run) to the whole chain, sorted by increasing held bytes and strictly
/// decreasing time.
std::vector<SegmentChoice> segmentFrontier(llvm::ArrayRef<ChainLayer> chain);

/// Host offload of a layer's kept activations over the card's host link
/// (PCIe): each copy overlaps compute, the one to the host the next
/// layer's forward, the one back the next layer's backward in backward
/// order, so only what those do not hide costs time.
struct OffloadWindow {
  /// Host link bytes per second, each direction.
  double bytesPerSecond = 0.0;
  /// Compute the copy to the host overlaps (a layer's forward), and the
  /// copy back (a layer's backward, its recomputation included).
  double forwardSeconds = 0.0;
  double backwardSeconds = 0.0;
};

/// Seconds of moving `bytes` to the host and back that `window` does not
/// hide: max(0, t - forward) + max(0, t - backward), t = bytes / bandwidth.
double exposedTransferSeconds(int64_t bytes, const OffloadWindow &window);

/// A layer's frontier with the offload lever: each choice of `frontier`
/// with none of the layer's outputs (`outputBytes`: the next layer's
/// checkpoint) offloaded, as many as the window hides, half-way from there
/// to all of them, and all of them; reduced to the Pareto frontier of (device bytes,
/// time). Each choice's `keptBytes` is then what it holds on the device,
/// its outputs included, and `offloadBytes` what it holds on the host; the
/// backward window grows by the choice's own recomputation.
///
/// Only outputs move: a prefetched value is back on the device while the
/// next layer's backward runs, which for an output is one tensor beside
/// that layer's working set, but for a layer's inner activations would be
/// a second working set, a peak the kept-bytes sum cannot see.
std::vector<RematChoice> offloadFrontier(llvm::ArrayRef<RematChoice> frontier,
                                         int64_t outputBytes,
                                         OffloadWindow window);

} // namespace internvl

#endif // INTERNVL_ANALYSIS_REMATSOLVER_H
