//===- DataParallel.cpp - --tg-data-parallel ------------------------------===//
//
// One rank of a data-parallel step. Gradients leave in buckets once backward
// is done with them (internvl::consecutiveBuckets for stages 0-2, one bucket
// per layer for stage 3), each waited for when the next starts. Stage 0
// all-reduces them; stages 1-3 reduce-scatter them and run AdamW on this
// rank's shard of each bucket. Stages 1-2 then all-gather the updated
// parameters (at most allgather-bucket-size elements in flight); stage 3 keeps
// only the shards and gathers each layer's parameters before its forward and
// again before its backward (recompute included), prefetching up to
// allgather-bucket-size elements ahead (DeepSpeed's
// stage3_prefetch_bucket_size); frozen
// parameters are sharded and gathered the same way (as DeepSpeed's stage 3
// partitions every parameter), without gradients or optimizer state.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Transforms/DataParallel.h"
#include "internvl/Analysis/Buckets.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/Region.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <deque>
#include <map>
#include <numeric>

namespace mlir::tg {
#define GEN_PASS_DEF_TGDATAPARALLEL
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {

int64_t moduleInt(ModuleOp module, StringRef name, int64_t fallback) {
  auto attr = module->getAttrOfType<IntegerAttr>(name);
  return attr ? attr.getInt() : fallback;
}

int64_t elementsOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getNumElements();
}

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

/// A gradient the optimizer reads, with the op that updates it.
struct Gradient {
  Value value;
  AdamWOp adamw;
  /// The parameter argument AdamW updates.
  unsigned param;
  /// Position in the body after which backward no longer reads the value:
  /// its definition or its last use outside the optimizer (a parameter's
  /// gradient may feed another's, like the class token's slice of the
  /// position embedding's).
  int64_t ready;
};
using Bucket = std::vector<Gradient>;
/// Parameter arguments stage 3 shards and gathers together: a gradient
/// bucket's, or one layer's frozen parameters.
using ParamGroup = SmallVector<unsigned>;

/// The optimizer's readers of gradients: they read the communicated ones.
bool isOptimizerUse(Operation *user) {
  return isa<AdamWOp, GlobalNormOp, func::ReturnOp>(user);
}

/// Stage 3 gathers parameters by layer (or, outside layers, by module).
std::string gatherGroupOf(StringRef param) {
  if (std::optional<internvl::LayerRef> layer = internvl::layerOf(param))
    return internvl::stringifyRegion(layer->region).str() + " " +
           std::to_string(layer->index);
  return param.rsplit('.').first.str();
}

class Lowering {
public:
  Lowering(func::FuncOp step, const DataParallelOptions &options)
      : step(step), options(options), b(step.getContext()), loc(step.getLoc()),
        world(b.getI64IntegerAttr(options.worldSize)) {
    for (Operation &op : step.getBody().front())
      ops.push_back(&op);
    for (auto [i, op] : llvm::enumerate(ops))
      position[op] = i;
  }

  FailureOr<int64_t> run();

private:
  LogicalResult collect();
  std::vector<Bucket> partition();
  /// Launches each bucket's collective and chains their waits; returns the
  /// waited results (each gradient's mean for stage 0, else each bucket's
  /// shard).
  SmallVector<Value> launch(ArrayRef<Bucket> buckets);
  /// Stage 3: the parameters no AdamW updates, by layer and element type.
  std::vector<ParamGroup> frozenGroups();
  /// Stage 3: each group's parameters as a shard argument, gathered before
  /// their forward and their backward uses.
  SmallVector<Value> shardParameters(ArrayRef<ParamGroup> groups);
  LogicalResult shardOptimizer(ArrayRef<Bucket> buckets,
                               ArrayRef<Value> gradShards,
                               ArrayRef<Value> paramShards);
  /// Phase (none for forward) and scope of a new op.
  void tag(Operation *op, std::optional<Phase> phase, const Twine &scope) {
    if (phase)
      setPhase(op, *phase);
    op->setAttr(TGDialect::getScopeAttrName(), b.getStringAttr(scope));
  }
  DictionaryAttr valueAttrs(StringRef name, StringRef kind) {
    return b.getDictionaryAttr(
        {b.getNamedAttr(TGDialect::getNameAttrName(), b.getStringAttr(name)),
         b.getNamedAttr(TGDialect::getKindAttrName(), b.getStringAttr(kind))});
  }
  Value addArgument(Type type, DictionaryAttr attrs) {
    step.insertArgument(step.getNumArguments(), type, attrs, loc);
    return step.getArgument(step.getNumArguments() - 1);
  }
  StringRef argName(unsigned i) {
    auto name =
        step.getArgAttrOfType<StringAttr>(i, TGDialect::getNameAttrName());
    return name ? name.getValue() : StringRef();
  }
  /// A small id per element type: buckets never mix element types.
  int typeId(Type element) {
    return typeIds.try_emplace(element, typeIds.size()).first->second;
  }
  /// Stage 3 gathers a parameter with the others of its layer (or module)
  /// and element type.
  std::string gatherKey(unsigned param, Type element) {
    return gatherGroupOf(argName(param)) + "#" +
           std::to_string(typeId(element));
  }
  static int64_t lastReady(const Bucket &bucket) {
    int64_t last = 0;
    for (const Gradient &g : bucket)
      last = std::max(last, g.ready);
    return last;
  }

  func::FuncOp step;
  DataParallelOptions options;
  OpBuilder b;
  Location loc;
  IntegerAttr world;
  SmallVector<Operation *> ops;
  llvm::DenseMap<Operation *, int64_t> position;
  std::vector<Gradient> grads;
  GlobalNormOp norm;
  llvm::DenseMap<Type, int> typeIds;
  /// Stage 3's frozen groups (shards after the gradient buckets' ones).
  std::vector<ParamGroup> frozen;
};

} // namespace

LogicalResult Lowering::collect() {
  for (Operation *op : ops) {
    if (auto adamw = dyn_cast<AdamWOp>(op)) {
      Value grad = adamw.getGrad();
      Operation *def = grad.getDefiningOp();
      if (!def)
        return adamw.emitOpError("updates from a gradient that is a function "
                                 "argument; --tg-data-parallel expects "
                                 "@train_step as --tg-autodiff builds it");
      FailureOr<unsigned> param = updatedParameterArgument(step, adamw);
      if (failed(param))
        return failure();
      int64_t ready = position[def];
      for (Operation *user : grad.getUsers())
        if (!isOptimizerUse(user))
          ready = std::max(ready, position[user]);
      grads.push_back({grad, adamw, *param, ready});
    } else if (auto n = dyn_cast<GlobalNormOp>(op)) {
      if (norm)
        return n.emitOpError("is the second global norm of the step");
      norm = n;
    }
  }
  if (grads.empty())
    return step.emitError(options.flag + ": @")
           << step.getName() << " updates no parameter";
  if (!norm)
    return step.emitError(options.flag + ": @")
           << step.getName() << " has no tg.global_norm before AdamW";
  std::stable_sort(
      grads.begin(), grads.end(),
      [](const Gradient &x, const Gradient &y) { return x.ready < y.ready; });
  return success();
}

std::vector<Bucket> Lowering::partition() {
  std::vector<Bucket> buckets;
  if (options.zeroStage == 3) {
    // One bucket per layer (and element type), launched once backward is
    // done with all of it.
    std::map<std::string, size_t> index;
    for (const Gradient &g : grads) {
      std::string key = gatherKey(g.param, elementTypeOf(g.value));
      auto [it, added] = index.try_emplace(key, buckets.size());
      if (added)
        buckets.emplace_back();
      buckets[it->second].push_back(g);
    }
    std::stable_sort(buckets.begin(), buckets.end(),
                     [](const Bucket &x, const Bucket &y) {
                       return lastReady(x) < lastReady(y);
                     });
    return buckets;
  }
  SmallVector<int64_t> sizes;
  SmallVector<int> groups;
  for (const Gradient &g : grads) {
    sizes.push_back(elementsOf(g.value));
    groups.push_back(typeId(elementTypeOf(g.value)));
  }
  for (const internvl::Bucket &p : internvl::consecutiveBuckets(
           sizes, groups, options.reduceBucketElements))
    buckets.emplace_back(grads.begin() + p.begin, grads.begin() + p.end);
  return buckets;
}

SmallVector<Value> Lowering::launch(ArrayRef<Bucket> buckets) {
  SmallVector<Operation *> launches;
  for (auto [k, bucket] : llvm::enumerate(buckets)) {
    // After the bucket's last gradient, and after the previous launch (one
    // op may finish the gradients of several small buckets).
    Operation *after = ops[lastReady(bucket)];
    if (!launches.empty() && !launches.back()->isBeforeInBlock(after))
      after = launches.back();
    b.setInsertionPointAfter(after);
    SmallVector<Value> inputs;
    int64_t total = 0;
    for (const Gradient &g : bucket) {
      inputs.push_back(g.value);
      total += elementsOf(g.value);
    }
    Operation *collective;
    if (options.zeroStage == 0) {
      collective = b.create<AllReduceMeanOp>(loc, ValueRange(inputs).getTypes(),
                                             inputs, world);
    } else {
      int64_t w = options.worldSize;
      auto shard = RankedTensorType::get({(total + w - 1) / w},
                                         elementTypeOf(inputs.front()));
      collective = b.create<ReduceScatterMeanOp>(loc, shard, inputs, world);
    }
    tag(collective, Phase::Backward, "data_parallel.bucket" + Twine(k));
    launches.push_back(collective);
  }
  SmallVector<Value> waited;
  for (auto [k, collective] : llvm::enumerate(launches)) {
    bool last = k + 1 == launches.size();
    b.setInsertionPoint(last ? norm.getOperation() : launches[k + 1]);
    auto wait = b.create<CommWaitOp>(loc, collective->getResultTypes(),
                                     collective->getResults());
    tag(wait, last ? Phase::Optimizer : Phase::Backward,
        "data_parallel.bucket" + Twine(k));
    waited.append(wait.getResults().begin(), wait.getResults().end());
  }
  return waited;
}

std::vector<ParamGroup> Lowering::frozenGroups() {
  llvm::DenseSet<unsigned> trained;
  for (const Gradient &g : grads)
    trained.insert(g.param);
  std::vector<ParamGroup> groups;
  std::map<std::string, size_t> index;
  for (unsigned i = 0; i < step.getNumArguments(); ++i) {
    auto kind =
        step.getArgAttrOfType<StringAttr>(i, TGDialect::getKindAttrName());
    Value arg = step.getArgument(i);
    if (!kind || kind.getValue() != "param" || trained.contains(i) ||
        arg.use_empty())
      continue;
    auto [it, added] =
        index.try_emplace(gatherKey(i, elementTypeOf(arg)), groups.size());
    if (added)
      groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

SmallVector<Value> Lowering::shardParameters(ArrayRef<ParamGroup> groups) {
  // A use window: the uses of a bucket's parameters in forward, or in
  // backward (with the recomputation that precedes it).
  struct Window {
    size_t bucket;
    int64_t first;
    llvm::SmallPtrSet<Operation *, 16> users;
    bool backward;
  };
  std::vector<Window> windows;
  SmallVector<Value> shards;
  int64_t w = options.worldSize;
  for (auto [k, group] : llvm::enumerate(groups)) {
    int64_t total = 0;
    for (unsigned param : group)
      total += elementsOf(step.getArgument(param));
    auto type = RankedTensorType::get(
        {(total + w - 1) / w}, elementTypeOf(step.getArgument(group.front())));
    shards.push_back(addArgument(
        type,
        valueAttrs(("zero.bucket" + Twine(k) + ".param").str(), "param")));
    Window forward{k, INT64_MAX, {}, false}, backward{k, INT64_MAX, {}, true};
    for (unsigned param : group)
      for (Operation *user : step.getArgument(param).getUsers()) {
        Window &window = phaseOf(user) ? backward : forward;
        window.users.insert(user);
        window.first = std::min(window.first, position[user]);
      }
    for (Window *window : {&forward, &backward})
      if (!window->users.empty())
        windows.push_back(std::move(*window));
  }
  llvm::stable_sort(windows, [](const Window &x, const Window &y) {
    return x.first < y.first;
  });
  // Each window's gather is launched within the prefetch budget
  // (allgather-bucket-size: DeepSpeed's stage3_prefetch_bucket_size) and
  // waited for at its first use.
  std::vector<int64_t> elements;
  for (const Window &window : windows) {
    int64_t total = 0;
    for (unsigned param : groups[window.bucket])
      total += elementsOf(step.getArgument(param));
    elements.push_back(total);
  }
  std::vector<size_t> launchAt = internvl::prefetchLaunchWindows(
      elements, options.allgatherBucketElements);
  for (auto [i, window] : llvm::enumerate(windows)) {
    const ParamGroup &group = groups[window.bucket];
    SmallVector<Type> types;
    for (unsigned param : group)
      types.push_back(step.getArgument(param).getType());
    b.setInsertionPoint(ops[windows[launchAt[i]].first]);
    auto gather = b.create<AllGatherOp>(loc, types, shards[window.bucket],
                                        ValueRange(), world);
    std::string scope = "zero.bucket" + std::to_string(window.bucket);
    std::optional<Phase> phase =
        window.backward ? std::optional(Phase::Backward) : std::nullopt;
    tag(gather, phase, scope);
    b.setInsertionPoint(ops[window.first]);
    auto wait = b.create<CommWaitOp>(loc, types, gather.getResults());
    tag(wait, phase, scope);
    const auto &users = window.users; // a lambda cannot capture a binding
    for (auto [param, gathered] : llvm::zip(group, wait.getResults()))
      step.getArgument(param).replaceUsesWithIf(
          gathered,
          [&](OpOperand &use) { return users.contains(use.getOwner()); });
  }
  return shards;
}

LogicalResult Lowering::shardOptimizer(ArrayRef<Bucket> buckets,
                                       ArrayRef<Value> gradShards,
                                       ArrayRef<Value> paramShards) {
  Block &body = step.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  bool stage3 = !paramShards.empty();

  // One set of hyperparameters for the whole step (--tg-autodiff makes them
  // so); weight decay is either 0 (rank < 2) or the step's value.
  AdamWOp first = buckets.front().front().adamw;
  double decayValue = 0.0;
  for (const Bucket &bucket : buckets)
    for (Gradient g : bucket) {
      AdamWOp a = g.adamw;
      if (a.getLr() != first.getLr() || a.getBeta1() != first.getBeta1() ||
          a.getBeta2() != first.getBeta2() ||
          a.getEpsilon() != first.getEpsilon())
        return a.emitOpError("has other AdamW hyperparameters than ")
               << first << "; a sharded optimizer needs one set";
      double wd = a.getWeightDecay().convertToDouble();
      if (wd != 0.0 && decayValue != 0.0 && wd != decayValue)
        return a.emitOpError("has weight decay ")
               << wd << " where other parameters have " << decayValue;
      if (wd != 0.0)
        decayValue = wd;
    }

  // The global norm over the shards, summed over the ranks.
  b.setInsertionPoint(norm);
  auto newNorm = b.create<GlobalNormOp>(loc, norm.getType(), gradShards);
  newNorm.setAcrossRanks(true);
  newNorm->setDiscardableAttrs(norm->getDiscardableAttrDictionary());
  norm.replaceAllUsesWith(newNorm.getResult());
  norm.erase();

  // The old per-parameter optimizer results: replaced (updated parameters,
  // stages 1-2) or dropped (state, gradients; parameters in stage 3).
  llvm::DenseMap<Value, Value> newParam;
  llvm::DenseSet<Value> dropped;
  SmallVector<Value> bucketResults;
  SmallVector<DictionaryAttr> bucketAttrs;
  SmallVector<Attribute> bucketNames;
  auto f32 = b.getF32Type();
  // Stages 1-2: the all-gathers in flight, oldest first, and their
  // elements. A gather is waited for once launching the next would put more
  // than allgather-bucket-size elements in flight; its parameters are final
  // from there.
  std::deque<std::pair<AllGatherOp, int64_t>> inFlight;
  int64_t inFlightElements = 0;
  auto waitOldest = [&]() {
    auto [gather, elements] = inFlight.front();
    inFlight.pop_front();
    inFlightElements -= elements;
    auto wait =
        b.create<CommWaitOp>(loc, gather.getResultTypes(), gather.getResults());
    tag(wait, Phase::Optimizer,
        gather->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName())
            .getValue());
    for (auto [p, w] : llvm::zip(gather.getResults(), wait.getResults()))
      for (auto &entry : newParam)
        if (entry.second == p)
          entry.second = w;
  };
  b.setInsertionPoint(first);
  for (auto [k, bucket] : llvm::enumerate(buckets)) {
    std::string prefix = "zero.bucket" + std::to_string(k);
    auto shardType = cast<RankedTensorType>(gradShards[k].getType());
    auto stateType = RankedTensorType::get(shardType.getShape(), f32);
    Value master =
        addArgument(stateType, valueAttrs(prefix + ".master", "master"));
    Value m =
        addArgument(stateType, valueAttrs(prefix + ".exp_avg", "exp_avg"));
    Value v = addArgument(stateType,
                          valueAttrs(prefix + ".exp_avg_sq", "exp_avg_sq"));
    SmallVector<int64_t> segments;
    SmallVector<bool> decay;
    SmallVector<Type> paramTypes;
    SmallVector<Value> params;
    SmallVector<Attribute> names;
    for (Gradient g : bucket) {
      segments.push_back(elementsOf(g.value));
      decay.push_back(g.adamw.getWeightDecay().convertToDouble() != 0.0);
      paramTypes.push_back(g.adamw.getNewParam().getType());
      params.push_back(step.getArgument(g.param));
      names.push_back(b.getStringAttr(argName(g.param)));
    }
    bucketNames.push_back(b.getArrayAttr(names));
    Value paramShard = stage3 ? paramShards[k] : Value();
    Type newParamType = stage3 ? paramShard.getType() : Type(shardType);
    auto update = b.create<ShardAdamWOp>(
        loc, stateType, stateType, stateType, newParamType, master, m, v,
        gradShards[k], first.getGradScale(), first.getStep(), paramShard,
        first.getLrAttr(), first.getBeta1Attr(), first.getBeta2Attr(),
        first.getEpsilonAttr(), b.getF64FloatAttr(decayValue),
        b.getDenseI64ArrayAttr(segments), b.getDenseBoolArrayAttr(decay),
        world);
    tag(update, Phase::Optimizer, prefix);
    for (Gradient g : bucket) {
      dropped.insert(g.adamw.getNewMaster());
      dropped.insert(g.adamw.getNewExpAvg());
      dropped.insert(g.adamw.getNewExpAvgSq());
      dropped.insert(g.value);
      if (stage3)
        dropped.insert(g.adamw.getNewParam());
    }
    if (stage3) {
      bucketResults.push_back(update.getNewParam());
      bucketAttrs.push_back(valueAttrs(prefix + ".param", "param"));
    } else {
      int64_t elements =
          std::accumulate(segments.begin(), segments.end(), int64_t(0));
      while (!inFlight.empty() &&
             inFlightElements + elements > options.allgatherBucketElements)
        waitOldest();
      auto gather = b.create<AllGatherOp>(loc, paramTypes, update.getNewParam(),
                                          params, world);
      tag(gather, Phase::Optimizer, prefix);
      for (auto [i, p] : llvm::enumerate(gather.getResults())) {
        Gradient g = bucket[i];
        newParam[g.adamw.getNewParam()] = p;
      }
      inFlight.emplace_back(gather, elements);
      inFlightElements += elements;
    }
    bucketResults.append({update.getNewMaster(), update.getNewExpAvg(),
                          update.getNewExpAvgSq()});
    bucketAttrs.append({valueAttrs(prefix + ".master", "master"),
                        valueAttrs(prefix + ".exp_avg", "exp_avg"),
                        valueAttrs(prefix + ".exp_avg_sq", "exp_avg_sq")});
  }
  for (const ParamGroup &group : frozen) {
    SmallVector<Attribute> names;
    for (unsigned param : group)
      names.push_back(b.getStringAttr(argName(param)));
    bucketNames.push_back(b.getArrayAttr(names));
  }
  step->setAttr("tg.zero_buckets", b.getArrayAttr(bucketNames));
  b.setInsertionPoint(ret);
  while (!inFlight.empty())
    waitOldest();

  // Results: the loss, the parameters (stages 1-2) or their shards (stage
  // 3), and each bucket's shard of the optimizer state.
  SmallVector<Value> results;
  SmallVector<DictionaryAttr> resultAttrs;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    if (dropped.contains(v))
      continue;
    results.push_back(newParam.lookup(v) ? newParam.lookup(v) : v);
    resultAttrs.push_back(step.getResultAttrDict(i));
  }
  results.append(bucketResults.begin(), bucketResults.end());
  resultAttrs.append(bucketAttrs.begin(), bucketAttrs.end());
  b.create<func::ReturnOp>(loc, results);
  ret.erase();

  // The per-parameter optimizer goes with its state, and in stage 3 the
  // parameters themselves (their initialisers are kept for the runners).
  llvm::BitVector unused(step.getNumArguments());
  SmallVector<Attribute> removedParams;
  auto removeParam = [&](unsigned param) {
    if (!stage3 || !step.getArgument(param).use_empty())
      return;
    unused.set(param);
    SmallVector<NamedAttribute> info = {
        b.getNamedAttr("name", b.getStringAttr(argName(param))),
        b.getNamedAttr("type",
                       TypeAttr::get(step.getArgument(param).getType()))};
    if (auto init = step.getArgAttr(param, TGDialect::getInitAttrName()))
      info.push_back(b.getNamedAttr("init", init));
    removedParams.push_back(b.getDictionaryAttr(info));
  };
  for (const Bucket &bucket : buckets)
    for (Gradient g : bucket) {
      AdamWOp a = g.adamw;
      Value state[] = {a.getMaster(), a.getExpAvg(), a.getExpAvgSq()};
      a.erase();
      for (Value s : state)
        if (auto arg = dyn_cast<BlockArgument>(s); arg && arg.use_empty())
          unused.set(arg.getArgNumber());
      removeParam(g.param);
    }
  for (const ParamGroup &group : frozen)
    for (unsigned param : group)
      removeParam(param);
  if (stage3)
    step->setAttr("tg.zero_params", b.getArrayAttr(removedParams));
  step.eraseArguments(unused);
  step.setType(b.getFunctionType(body.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  step.setAllResultAttrs(resultAttrs);
  return success();
}

FailureOr<int64_t> Lowering::run() {
  if (failed(collect()))
    return failure();
  std::vector<Bucket> buckets = partition();
  SmallVector<Value> paramShards;
  if (options.zeroStage == 3) {
    std::vector<ParamGroup> groups;
    for (const Bucket &bucket : buckets) {
      groups.emplace_back();
      for (const Gradient &g : bucket)
        groups.back().push_back(g.param);
    }
    frozen = frozenGroups();
    groups.insert(groups.end(), frozen.begin(), frozen.end());
    paramShards = shardParameters(groups);
  }
  SmallVector<Value> waited = launch(buckets);

  step->setAttr(
      TGDialect::getDataParallelAttrName(),
      DataParallelAttr::get(
          b.getContext(), options.worldSize, options.zeroStage,
          options.reduceBucketElements, options.allgatherBucketElements,
          buckets.size(),
          options.zeroStage == 3 ? std::optional<int64_t>(frozen.size())
                                 : std::nullopt));

  if (options.zeroStage == 0) {
    // Everything after backward reads the averaged gradients.
    size_t i = 0;
    for (const Bucket &bucket : buckets)
      for (Gradient g : bucket)
        g.value.replaceUsesWithIf(waited[i++], [&](OpOperand &use) {
          return isOptimizerUse(use.getOwner());
        });
    return static_cast<int64_t>(buckets.size());
  }
  if (failed(shardOptimizer(buckets, waited, paramShards)))
    return failure();
  return static_cast<int64_t>(buckets.size());
}

FailureOr<DataParallelOptions>
mlir::tg::dataParallelOptionsFor(ModuleOp module,
                                 const DataParallelOptions &requested) {
  // World size and stage as the memory plan reads them, and checked alike.
  PlanOptions plan =
      planOptionsFor(module, requested.zeroStage, requested.worldSize);
  if (failed(checkPlanOptions(module, plan, requested.flag)))
    return failure();
  DataParallelOptions o;
  o.flag = requested.flag;
  o.worldSize = plan.worldSize;
  o.zeroStage = plan.zeroStage;
  auto pick = [&](int64_t given, StringRef attr, int64_t fallback) {
    return given != -1 ? given : moduleInt(module, attr, fallback);
  };
  o.reduceBucketElements =
      pick(requested.reduceBucketElements, "tg.reduce_bucket_size",
           o.reduceBucketElements);
  // Stage 3's gathers are prefetches: DeepSpeed's default
  // stage3_prefetch_bucket_size is 5e7 elements.
  o.allgatherBucketElements =
      pick(requested.allgatherBucketElements, "tg.allgather_bucket_size",
           o.zeroStage == 3 ? kStage3PrefetchElements
                            : o.allgatherBucketElements);
  if (o.reduceBucketElements < 1)
    return module.emitError(o.flag + ": reduce-bucket-size must be "
                                     ">= 1 element, got ")
           << o.reduceBucketElements;
  if (o.allgatherBucketElements < 1)
    return module.emitError(o.flag + ": allgather-bucket-size must "
                                     "be >= 1 element, got ")
           << o.allgatherBucketElements;
  return o;
}

FailureOr<int64_t>
mlir::tg::lowerDataParallel(func::FuncOp step,
                            const DataParallelOptions &options) {
  if (getDataParallel(step))
    return step.emitError(options.flag + ": @")
           << step.getName() << " is already data parallel";
  if (getMemoryPlan(step))
    return step.emitError(options.flag + ": @")
           << step.getName()
           << " is already planned: run --tg-data-parallel before "
              "--tg-plan-memory";
  return Lowering(step, options).run();
}

namespace {
struct DataParallelPass
    : public internvl::PassWithOptionErrors<tg::impl::TGDataParallelBase<DataParallelPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto step = module.lookupSymbol<func::FuncOp>(functionName);
    if (!step) {
      module.emitError("--tg-data-parallel: no function @")
          << functionName << " (run --tg-autodiff first)";
      return signalPassFailure();
    }
    if (failed(expectPlannableBody(step, "--tg-data-parallel")))
      return signalPassFailure();
    FailureOr<DataParallelOptions> options = dataParallelOptionsFor(
        module, requestedDataParallel(worldSize, zeroStage, reduceBucketSize,
                                      allgatherBucketSize));
    if (failed(options))
      return signalPassFailure();
    FailureOr<int64_t> buckets = lowerDataParallel(step, *options);
    if (failed(buckets))
      return signalPassFailure();
    numBuckets = *buckets;
  }
};
} // namespace
