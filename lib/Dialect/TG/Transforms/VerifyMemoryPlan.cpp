//===- VerifyMemoryPlan.cpp - --tg-verify-memory-plan
//------------------------===//
//
// An independent check of a plan: it shares no code with the planner's
// analysis. Lifetimes are recomputed here from the IR (definition to last
// use, through reshape aliases, to the end for returned values), locations
// are read from the tg.alloc attributes, and then:
//  - every operand reads a function argument or planned storage;
//  - no two stored values live at the same step share a byte, except an
//    in-place kernel's result over the operand that dies at that op;
//  - every buffer fits its space and is large enough for its value;
//  - the recorded arena size, lower bound, persistent bytes and peak add up.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/IR/AsmState.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGVERIFYMEMORYPLAN
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

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
  LogicalResult checkOverlaps();
  LogicalResult checkTotals(DictionaryAttr summary);

  func::FuncOp func;
  AsmState state;
  std::vector<Stored> stored;
  llvm::DenseMap<Value, int> storage; // value -> index + 1
  /// Function arguments, their reshapes and AdamW's in-place results.
  llvm::DenseSet<Value> outsidePlan;
  /// A collective's buffer: index + 1 in `stored`.
  llvm::DenseMap<Operation *, int> workspaceOf;
  llvm::DenseMap<Operation *, int64_t> steps;
};

/// `b` is the result of an in-place kernel writing over operand `a`, which
/// dies at that very op.
bool PlanChecker::inPlacePair(const Stored &a, const Stored &b) {
  if (!b.value || !a.value || a.offset != b.offset || a.end != b.start ||
      a.space != b.space)
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
  auto summary = func->getAttrOfType<DictionaryAttr>(kMemoryPlanAttr);
  if (!summary)
    return func.emitError() << "--tg-verify-memory-plan: @" << func.getName()
                            << " has no memory plan";
  Block &body = func.getBody().front();
  outsidePlan.insert(body.getArguments().begin(), body.getArguments().end());
  int64_t step = 0;
  for (Operation &op : body.without_terminator())
    steps[&op] = step++;
  int64_t last = step - 1;

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
        return op->emitError() << "--tg-verify-memory-plan: operand " << name
                               << " has no planned storage";
      }
      stored[id - 1].end = std::max(stored[id - 1].end, s);
    }
    if (isa<AdamWOp, ShardAdamWOp>(op))
      for (Value v : op->getOperands().take_front(3))
        if (!isa<BlockArgument>(v))
          return op->emitError()
                 << "--tg-verify-memory-plan: AdamW state must be function "
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
      for (Operation *collective : waitedCollectives(wait)) {
        for (Value v : collective->getOperands())
          if (int id = storage.lookup(v))
            stored[id - 1].end = std::max(stored[id - 1].end, s);
        if (int id = workspaceOf.lookup(collective))
          stored[id - 1].end = std::max(stored[id - 1].end, s);
      }
    if (int64_t bytes = collectiveBufferBytes(op)) {
      auto ws = op->getAttrOfType<AllocAttr>(kWorkspaceAttr);
      if (!ws || ws.getSize() < bytes)
        return op->emitError() << "--tg-verify-memory-plan: collective has no "
                                  "planned buffer of "
                               << bytes << " bytes";
      stored.push_back(
          {Value(), op, ws.getSpace(), ws.getOffset(), ws.getSize(), s, s});
      workspaceOf[op] = stored.size();
    }
    if (owning.empty())
      continue;
    auto allocs = op->getAttrOfType<ArrayAttr>(kAllocAttr);
    if (!allocs || allocs.size() != owning.size())
      return op->emitError() << "--tg-verify-memory-plan: op has no planned "
                                "location for each of its "
                             << owning.size() << " results";
    for (auto [result, attr] : llvm::zip(owning, allocs)) {
      auto alloc = cast<AllocAttr>(attr);
      int64_t need = tensorBytes(result.getType());
      if (alloc.getSize() < need || alloc.getOffset() < 0)
        return op->emitError()
               << "--tg-verify-memory-plan: result buffer of "
               << alloc.getSize() << " bytes at offset " << alloc.getOffset()
               << " cannot hold the " << need << " bytes of its value";
      stored.push_back({result, op, alloc.getSpace(), alloc.getOffset(),
                        alloc.getSize(), s, s});
      storage[result] = stored.size();
    }
    if (isa<AttentionGradOp>(op)) {
      auto ws = op->getAttrOfType<AllocAttr>(kWorkspaceAttr);
      if (!ws)
        return op->emitError() << "--tg-verify-memory-plan: attention "
                                  "backward has no planned workspace";
      stored.push_back(
          {Value(), op, ws.getSpace(), ws.getOffset(), ws.getSize(), s, s});
    }
  }
  for (Value v : body.getTerminator()->getOperands())
    if (int id = storage.lookup(v))
      stored[id - 1].end = last;
  if (auto cublas = summary.getAs<AllocAttr>("cublaslt_workspace"))
    stored.push_back({Value(), nullptr, cublas.getSpace(), cublas.getOffset(),
                      cublas.getSize(), 0, last});

  if (failed(checkOverlaps()))
    return failure();
  return checkTotals(summary);
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
             << "--tg-verify-memory-plan: " << describe(a) << " and "
             << describe(b) << " share bytes [" << lo << ", " << hi
             << ") while both are live at steps [" << std::max(a.start, b.start)
             << ", " << std::min(a.end, b.end) << "]";
    }
  }
  return success();
}

LogicalResult PlanChecker::checkTotals(DictionaryAttr summary) {
  auto get = [&](StringRef key) {
    auto attr = summary.getAs<IntegerAttr>(key);
    return attr ? attr.getInt() : int64_t(-1);
  };
  int64_t arena = 0, grads = 0;
  std::vector<std::pair<int64_t, int64_t>> events;
  for (const Stored &s : stored) {
    if (s.space == MemorySpace::Arena) {
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
  auto mismatch = [&](StringRef what, int64_t recorded, int64_t actual) {
    return func.emitError()
           << "--tg-verify-memory-plan: recorded " << what << " " << recorded
           << " but the buffers give " << actual;
  };
  if (get("arena_bytes") != arena)
    return mismatch("arena_bytes", get("arena_bytes"), arena);
  if (get("live_lower_bound_bytes") != bound)
    return mismatch("live_lower_bound_bytes", get("live_lower_bound_bytes"),
                    bound);

  // Persistent bytes from the arguments and the ZeRO sharding rule.
  int64_t stage = get("zero_stage"),
          world = std::max<int64_t>(get("world_size"), 1);
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
  bool perRank = func->hasAttr("tg.data_parallel");
  auto shard = [&](int64_t bytes, int64_t from) {
    return !perRank && stage >= from ? (bytes + world - 1) / world : bytes;
  };
  int64_t expected[] = {shard(params, 3), shard(masters, 1), shard(grads, 2),
                        shard(moments, 1)};
  StringRef keys[] = {"params_bytes", "master_params_bytes", "grads_bytes",
                      "optimizer_bytes"};
  int64_t persistent = 0;
  for (auto [key, value] : llvm::zip(keys, expected)) {
    if (get(key) != value)
      return mismatch(key, get(key), value);
    persistent += value;
  }
  if (get("peak_bytes") != persistent + arena)
    return mismatch("peak_bytes", get("peak_bytes"), persistent + arena);
  return success();
}

struct VerifyMemoryPlanPass
    : public internvl::PassWithOptionErrors<tg::impl::TGVerifyMemoryPlanBase<VerifyMemoryPlanPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override {
    func::FuncOp func = findPlannedFunction(getOperation(), functionName);
    if (!func || failed(PlanChecker(func).check()))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};

} // namespace
