//===- PlanVerifier.cpp - an independent check of a memory plan -----------===//
//
// Every reader of a plan (the reports, --convert-tg-to-emitc, the runner
// through the manifest) trusts it only after this check, which shares no
// code with the planner's analysis. Lifetimes are recomputed here from the
// IR (definition to last use, through views, to the end for returned
// values), locations are read from the tg.alloc and tg.workspace
// attributes, and then:
//  - the summary has every field, each of the right type and range;
//  - every operand reads a function argument or planned storage;
//  - every buffer is aligned, fits its space and holds its value, and every
//    workspace holds what its kernel needs;
//  - no two stored values live at the same step share a byte, except an
//    in-place kernel's result over the operand that dies at that op (a
//    returned value never dies at an op: the return reads it after all);
//  - offloaded values (and only they) are in the host buffer;
//  - the recorded arena, gradient-buffer and host-buffer sizes, lower bound,
//    persistent bytes and peak add up.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"

#include "mlir/IR/AsmState.h"
#include "llvm/ADT/DenseSet.h"

#include <tuple>

using namespace mlir;
using namespace mlir::tg;

namespace {

struct Stored {
  Value value;   // null for a workspace
  Operation *op; // defining op, or the op owning a workspace
  MemorySpace space;
  int64_t offset, size;
  int64_t start, end; // inclusive steps
  /// Written in place over an operand that dies at `start`: those bytes are
  /// already counted there.
  bool inPlaceSuccessor = false;
  /// Returned: read by the return after every op, so it never dies at one.
  bool returned = false;
};

class PlanChecker {
public:
  explicit PlanChecker(func::FuncOp func) : func(func), state(func) {}

  LogicalResult check();

private:
  std::string nameOf(const Stored &s) {
    std::string name;
    llvm::raw_string_ostream os(name);
    if (s.value)
      s.value.printAsOperand(os, state);
    else
      os << (s.op ? "workspace of " + s.op->getName().getStringRef().str()
                  : std::string("cublaslt workspace"));
    return name;
  }
  std::string describe(const Stored &s) {
    return nameOf(s) + " (bytes [" + std::to_string(s.offset) + ", " +
           std::to_string(s.offset + s.size) + ") steps [" +
           std::to_string(s.start) + ", " + std::to_string(s.end) + "])";
  }
  bool inPlacePair(const Stored &a, const Stored &b);
  LogicalResult checkSummary();
  /// Records a buffer after checking its alignment (and, for a workspace,
  /// that it is in the arena).
  LogicalResult place(const Stored &s, Operation *where, bool workspace);
  /// Places `op`'s tg.workspace for step `step`; it must hold `need` bytes
  /// (`missing` says what is wrong otherwise).
  LogicalResult placeWorkspace(Operation *op, int64_t need, const Twine &missing,
                               int64_t step);
  LogicalResult checkOverlaps();
  LogicalResult checkTotals();

  func::FuncOp func;
  AsmState state;
  std::vector<Stored> stored;
  llvm::DenseMap<Value, int> storage; // value -> index + 1
  /// Function arguments, their reshapes and AdamW's in-place results.
  llvm::DenseSet<Value> outsidePlan;
  /// A collective's buffer: index + 1 in `stored`.
  llvm::DenseMap<Operation *, int> workspaceOf;
  llvm::DenseMap<Operation *, int64_t> steps;
  /// The plan's summary (its fields are in range: the attribute verifies).
  MemoryPlanAttr summary;
};

LogicalResult PlanChecker::checkSummary() {
  // A data-parallel step is planned for its own settings.
  if (DataParallelAttr dp = getDataParallel(func)) {
    std::pair<StringRef, std::pair<int64_t, int64_t>> settings[] = {
        {"zero_stage", {summary.getZeroStage(), dp.getZeroStage()}},
        {"world_size", {summary.getWorldSize(), dp.getWorldSize()}}};
    for (auto [key, values] : settings)
      if (values.first != values.second)
        return func.emitError()
               << "memory plan: " << key << " " << values.first
               << " differs from tg.data_parallel's " << values.second;
  }
  if (summary.getSteps() != static_cast<int64_t>(steps.size()))
    return func.emitError()
           << "memory plan: recorded steps " << summary.getSteps() << " but @"
           << func.getName() << " has " << steps.size() << " ops";
  return success();
}

LogicalResult PlanChecker::placeWorkspace(Operation *op, int64_t need,
                                          const Twine &missing, int64_t step) {
  auto ws = op->getAttrOfType<AllocAttr>(kWorkspaceAttr);
  if (!ws || ws.getSize() < need)
    return op->emitError() << "memory plan: " << missing << " of " << need
                           << " bytes";
  return place(
      {Value(), op, ws.getSpace(), ws.getOffset(), ws.getSize(), step, step},
      op, /*workspace=*/true);
}

LogicalResult PlanChecker::place(const Stored &s, Operation *where,
                                 bool workspace) {
  int64_t alignment = summary.getAlignment();
  if (s.offset % alignment != 0)
    return where->emitError()
           << "memory plan: " << nameOf(s) << " at offset " << s.offset
           << " is not aligned to the plan's " << alignment << " bytes";
  if (workspace && s.space != MemorySpace::Arena)
    return where->emitError()
           << "memory plan: " << nameOf(s) << " must be in the arena";
  stored.push_back(s);
  return success();
}

/// `b` is the result of an in-place kernel writing over operand `a`, which
/// dies at that very op.
bool PlanChecker::inPlacePair(const Stored &a, const Stored &b) {
  if (!b.value || !a.value || a.returned || a.offset != b.offset ||
      a.end != b.start || a.space != b.space)
    return false;
  Operation *op = b.op;
  if (steps.lookup(op) != b.start)
    return false;
  for (auto [k, operand] : llvm::enumerate(op->getOperands())) {
    int id = storage.lookup(operand);
    if (id && &stored[id - 1] == &a && canWriteInPlace(op, k))
      return true;
  }
  return false;
}

LogicalResult PlanChecker::check() {
  summary = getMemoryPlan(func);
  if (!summary)
    return func.emitError()
           << "memory plan: @" << func.getName() << " has no memory plan";
  Block &body = func.getBody().front();
  outsidePlan.insert(body.getArguments().begin(), body.getArguments().end());
  int64_t step = 0;
  for (Operation &op : body.without_terminator())
    steps[&op] = step++;
  int64_t last = step - 1;
  if (failed(checkSummary()))
    return failure();

  for (Operation &opRef : body.without_terminator()) {
    Operation *op = &opRef;
    int64_t s = steps[op];
    // Every operand must come from an argument or from planned storage.
    for (Value v : op->getOperands()) {
      if (outsidePlan.contains(v))
        continue;
      int id = storage.lookup(v);
      if (!id) {
        std::string name;
        llvm::raw_string_ostream os(name);
        v.printAsOperand(os, state);
        return op->emitError()
               << "memory plan: operand " << name << " has no planned storage";
      }
      stored[id - 1].end = std::max(stored[id - 1].end, s);
    }
    if (isa<AdamWOp, ShardAdamWOp>(op))
      for (Value v : op->getOperands().take_front(3))
        if (!isa<BlockArgument>(v))
          return op->emitError() << "memory plan: AdamW state must be function "
                                    "arguments, which it updates in place";
    // Views and in-place updates take their operand's storage; the rest of
    // the results need a planned location each.
    SmallVector<Value> owning;
    for (OpResult result : op->getResults()) {
      Value source = storageSource(result);
      if (!source && !isa<AdamWOp>(op)) {
        owning.push_back(result);
        continue;
      }
      if (!source || outsidePlan.contains(source))
        outsidePlan.insert(result);
      else
        storage[result] = storage.lookup(source);
    }
    // A collective runs until it is waited for: its operands and its buffer
    // are in use until the wait.
    if (auto wait = dyn_cast<CommWaitOp>(op))
      for (Operation *collective : waitedAsyncOps(wait)) {
        for (Value v : collective->getOperands())
          if (int id = storage.lookup(v))
            stored[id - 1].end = std::max(stored[id - 1].end, s);
        if (int id = workspaceOf.lookup(collective))
          stored[id - 1].end = std::max(stored[id - 1].end, s);
      }
    if (int64_t bytes = collectiveBufferBytes(op)) {
      if (failed(
              placeWorkspace(op, bytes, "collective has no planned buffer", s)))
        return failure();
      workspaceOf[op] = stored.size();
    }
    if (owning.empty())
      continue;
    auto allocs = op->getAttrOfType<ArrayAttr>(kAllocAttr);
    if (!allocs || allocs.size() != owning.size())
      return op->emitError() << "memory plan: op has no planned "
                                "location for each of its "
                             << owning.size() << " results";
    for (auto [result, attr] : llvm::zip(owning, allocs)) {
      auto alloc = cast<AllocAttr>(attr);
      int64_t need = tensorBytes(result.getType());
      if (alloc.getSize() < need || alloc.getOffset() < 0)
        return op->emitError()
               << "memory plan: result buffer of " << alloc.getSize()
               << " bytes at offset " << alloc.getOffset()
               << " cannot hold the " << need << " bytes of its value";
      bool offloaded = isa<OffloadOp>(op);
      if (offloaded != (alloc.getSpace() == MemorySpace::Host))
        return op->emitError()
               << "memory plan: " << (offloaded ? "an offloaded" : "a device")
               << " value planned in the "
               << stringifyMemorySpace(alloc.getSpace())
               << " space; offloaded values, and only they, live in the host "
                  "buffer";
      if (failed(place({result, op, alloc.getSpace(), alloc.getOffset(),
                        alloc.getSize(), s, s},
                       op, /*workspace=*/false)))
        return failure();
      storage[result] = stored.size();
    }
    auto storageOp = dyn_cast<StorageOpInterface>(op);
    if (int64_t need = storageOp ? storageOp.getWorkspaceBytes() : 0)
      if (failed(placeWorkspace(
              op, need, op->getName().stripDialect() + " has no planned workspace",
              s)))
        return failure();
  }
  for (Value v : body.getTerminator()->getOperands())
    if (int id = storage.lookup(v)) {
      stored[id - 1].end = last;
      stored[id - 1].returned = true;
    }
  if (AllocAttr cublas = summary.getCublasltWorkspace())
    if (failed(place({Value(), nullptr, cublas.getSpace(), cublas.getOffset(),
                      cublas.getSize(), 0, last},
                     func, /*workspace=*/true)))
      return failure();

  if (failed(checkOverlaps()))
    return failure();
  return checkTotals();
}

LogicalResult PlanChecker::checkOverlaps() {
  std::vector<size_t> order(stored.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  llvm::sort(order, [&](size_t x, size_t y) {
    const Stored &a = stored[x], &b = stored[y];
    return std::tie(a.space, a.offset) < std::tie(b.space, b.offset);
  });
  for (size_t i = 0; i < order.size(); ++i) {
    const Stored &a = stored[order[i]];
    for (size_t j = i + 1; j < order.size(); ++j) {
      const Stored &b = stored[order[j]];
      if (b.space != a.space || b.offset >= a.offset + a.size)
        break;
      if (a.start > b.end || b.start > a.end)
        continue;
      if (inPlacePair(a, b)) {
        stored[order[j]].inPlaceSuccessor = true;
        continue;
      }
      if (inPlacePair(b, a)) {
        stored[order[i]].inPlaceSuccessor = true;
        continue;
      }
      int64_t lo = std::max(a.offset, b.offset);
      int64_t hi = std::min(a.offset + a.size, b.offset + b.size);
      return func.emitError()
             << "memory plan: " << describe(a) << " and " << describe(b)
             << " share bytes [" << lo << ", " << hi
             << ") while both are live at steps [" << std::max(a.start, b.start)
             << ", " << std::min(a.end, b.end) << "]";
    }
  }
  return success();
}

LogicalResult PlanChecker::checkTotals() {
  int64_t arena = 0, grads = 0, host = 0;
  std::vector<std::pair<int64_t, int64_t>> events;
  for (const Stored &s : stored) {
    if (s.space == MemorySpace::Host) {
      host = std::max(host, s.offset + s.size);
    } else if (s.space == MemorySpace::Arena) {
      arena = std::max(arena, s.offset + s.size);
      int64_t start = s.start + (s.inPlaceSuccessor ? 1 : 0);
      if (start <= s.end) {
        events.push_back({start, s.size});
        events.push_back({s.end + 1, -s.size});
      }
    } else {
      grads = std::max(grads, s.offset + s.size);
    }
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0, bound = 0;
  for (auto [step, delta] : events) {
    live += delta;
    bound = std::max(bound, live);
  }

  // Persistent bytes from the arguments and the ZeRO sharding rule.
  int64_t stage = summary.getZeroStage(), world = summary.getWorldSize();
  int64_t params = 0, masters = 0, moments = 0;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto kind =
        func.getArgAttrOfType<StringAttr>(i, TGDialect::getKindAttrName());
    StringRef k = kind ? kind.getValue() : "";
    int64_t bytes = tensorBytes(func.getArgument(i).getType());
    params += k == "param" ? bytes : 0;
    masters += k == "master" ? bytes : 0;
    moments += (k == "exp_avg" || k == "exp_avg_sq") ? bytes : 0;
  }
  // A data-parallel step's arguments are one rank's already.
  bool perRank = static_cast<bool>(getDataParallel(func));
  // ZeRO 1-3 keep an f32 shard even of a parameter that is its own master.
  if (!perRank && stage >= 1)
    func.walk([&](AdamWOp adamw) {
      auto arg = dyn_cast<BlockArgument>(adamw.getMaster());
      auto kind = arg ? func.getArgAttrOfType<StringAttr>(
                            arg.getArgNumber(), TGDialect::getKindAttrName())
                      : StringAttr();
      if (kind && kind.getValue() == "param")
        masters += tensorBytes(arg.getType());
    });
  auto shard = [&](int64_t bytes, int64_t from) {
    return !perRank && stage >= from ? (bytes + world - 1) / world : bytes;
  };
  int64_t persistent = shard(params, 3) + shard(masters, 1) +
                       shard(grads, 2) + shard(moments, 1);
  std::tuple<StringRef, int64_t, int64_t> totals[] = {
      {"arena_bytes", summary.getArenaBytes(), arena},
      {"grads_buffer_bytes", summary.getGradsBufferBytes(), grads},
      {"host_bytes", summary.getHostBytes(), host},
      {"live_lower_bound_bytes", summary.getLiveLowerBoundBytes(), bound},
      {"params_bytes", summary.getParamsBytes(), shard(params, 3)},
      {"master_params_bytes", summary.getMasterParamsBytes(),
       shard(masters, 1)},
      {"grads_bytes", summary.getGradsBytes(), shard(grads, 2)},
      {"optimizer_bytes", summary.getOptimizerBytes(), shard(moments, 1)},
      {"peak_bytes", summary.getPeakBytes(), persistent + arena}};
  for (auto [what, recorded, actual] : totals)
    if (recorded != actual)
      return func.emitError() << "memory plan: recorded " << what << " "
                              << recorded << " but the buffers give " << actual;
  return success();
}

} // namespace

LogicalResult mlir::tg::verifyMemoryPlan(func::FuncOp func) {
  return PlanChecker(func).check();
}
