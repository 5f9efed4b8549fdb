//===- DataParallel.cpp - --tg-data-parallel ------------------------------===//
//
// One rank of a data-parallel step: bucketed gradient collectives after
// backward and, for ZeRO stages 1-2, the optimizer on this rank's shard of
// each bucket followed by an all-gather of the updated parameters. The
// bucket partition is internvl::consecutiveBuckets (Analysis/Buckets.h).
//
//===----------------------------------------------------------------------===//

#include "internvl/Analysis/Buckets.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGDATAPARALLEL
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {

/// DeepSpeed's default reduce_bucket_size (elements).
constexpr int64_t kDefaultBucketElements = 500000000;

int64_t moduleInt(ModuleOp module, StringRef name, int64_t fallback) {
  auto attr = module->getAttrOfType<IntegerAttr>(name);
  return attr ? attr.getInt() : fallback;
}

int64_t elementsOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getNumElements();
}

/// A gradient the optimizer reads, with the op that updates it.
struct Gradient {
  Value value;
  AdamWOp adamw;
  /// Position in the body after which backward no longer reads the value:
  /// its definition or its last use outside the optimizer (a parameter's
  /// gradient may feed another's, like the class token's slice of the
  /// position embedding's).
  int64_t ready;
};

/// The optimizer's readers of gradients: they read the communicated ones.
bool isOptimizerUse(Operation *user) {
  return isa<AdamWOp, GlobalNormOp, func::ReturnOp>(user);
}

struct DataParallelPass
    : public tg::impl::TGDataParallelBase<DataParallelPass> {
  using Base::Base;
  void runOnOperation() override;

private:
  LogicalResult rewrite(func::FuncOp step, int64_t world, int64_t stage,
                        int64_t bucketElements);
  /// Stage 1 and 2: the optimizer on this rank's shards.
  LogicalResult shardOptimizer(func::FuncOp step,
                               ArrayRef<std::vector<Gradient>> buckets,
                               ArrayRef<Value> shards, int64_t world);
};

} // namespace

void DataParallelPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto step = module.lookupSymbol<func::FuncOp>(functionName);
  if (!step) {
    module.emitError("--tg-data-parallel: no function @")
        << functionName << " (run --tg-autodiff first)";
    return signalPassFailure();
  }
  if (step->hasAttr("tg.data_parallel")) {
    step.emitError("--tg-data-parallel: @")
        << functionName << " is already data parallel";
    return signalPassFailure();
  }
  if (step->hasAttr("tg.memory_plan")) {
    step.emitError("--tg-data-parallel: @")
        << functionName
        << " is already planned: run --tg-data-parallel before "
           "--tg-plan-memory";
    return signalPassFailure();
  }
  int64_t world =
      worldSize >= 0 ? worldSize : moduleInt(module, "tg.world_size", 1);
  int64_t stage =
      zeroStage >= 0 ? zeroStage : moduleInt(module, "tg.zero_stage", 0);
  int64_t bucket = reduceBucketSize >= 0
                       ? reduceBucketSize
                       : moduleInt(module, "tg.reduce_bucket_size",
                                   kDefaultBucketElements);
  if (world < 1) {
    step.emitError("--tg-data-parallel: world-size must be >= 1, got ")
        << world;
    return signalPassFailure();
  }
  if (stage < 0 || stage > 3) {
    step.emitError("--tg-data-parallel: zero-stage must be 0, 1, 2 or 3, got ")
        << stage;
    return signalPassFailure();
  }
  if (stage == 3) {
    step.emitError("--tg-data-parallel: ZeRO stage 3 (sharded parameters, "
                   "gathered per layer) is not lowered yet; use stage 0, 1 "
                   "or 2");
    return signalPassFailure();
  }
  if (bucket < 1) {
    step.emitError("--tg-data-parallel: reduce-bucket-size must be >= 1 "
                   "element, got ")
        << bucket;
    return signalPassFailure();
  }
  if (failed(rewrite(step, world, stage, bucket)))
    return signalPassFailure();
}

LogicalResult DataParallelPass::rewrite(func::FuncOp step, int64_t world,
                                        int64_t stage, int64_t bucketElements) {
  Block &body = step.getBody().front();
  llvm::DenseMap<Operation *, int64_t> position;
  for (auto [i, op] : llvm::enumerate(body.getOperations()))
    position[&op] = i;

  std::vector<Gradient> grads;
  GlobalNormOp norm;
  for (Operation &op : body) {
    if (auto adamw = dyn_cast<AdamWOp>(op)) {
      Value grad = adamw.getGrad();
      Operation *def = grad.getDefiningOp();
      if (!def)
        return adamw.emitOpError("updates from a gradient that is a function "
                                 "argument; --tg-data-parallel expects "
                                 "@train_step as --tg-autodiff builds it");
      int64_t ready = position[def];
      for (Operation *user : grad.getUsers())
        if (!isOptimizerUse(user))
          ready = std::max(ready, position[user]);
      grads.push_back({grad, adamw, ready});
    } else if (auto n = dyn_cast<GlobalNormOp>(op)) {
      if (norm)
        return n.emitOpError("is the second global norm of the step");
      norm = n;
    }
  }
  if (grads.empty())
    return step.emitError("--tg-data-parallel: @")
           << step.getName() << " updates no parameter";
  if (!norm)
    return step.emitError("--tg-data-parallel: @")
           << step.getName() << " has no tg.global_norm before AdamW";

  // Buckets in the order backward produces the gradients, one element type
  // each.
  std::stable_sort(grads.begin(), grads.end(),
                   [](const Gradient &a, const Gradient &b) {
                     return a.ready < b.ready;
                   });
  SmallVector<int64_t> sizes;
  SmallVector<int> groups;
  llvm::DenseMap<Type, int> typeGroup;
  for (const Gradient &g : grads) {
    sizes.push_back(elementsOf(g.value));
    Type element = cast<ShapedType>(g.value.getType()).getElementType();
    groups.push_back(typeGroup.try_emplace(element, typeGroup.size())
                         .first->second);
  }
  std::vector<internvl::Bucket> partition =
      internvl::consecutiveBuckets(sizes, groups, bucketElements);
  std::vector<std::vector<Gradient>> buckets;
  for (const internvl::Bucket &p : partition)
    buckets.emplace_back(grads.begin() + p.begin, grads.begin() + p.end);
  numBuckets = buckets.size();

  OpBuilder b(step.getContext());
  Location loc = step.getLoc();
  IntegerAttr worldAttr = b.getI64IntegerAttr(world);
  auto tag = [&](Operation *op, StringRef phase, StringRef scope) {
    op->setAttr(TGDialect::getPhaseAttrName(), b.getStringAttr(phase));
    op->setAttr(TGDialect::getScopeAttrName(), b.getStringAttr(scope));
  };

  // Launch each bucket once backward is done with its gradients; wait for it
  // when the next one launches (one bucket in flight), the last before the
  // optimizer.
  SmallVector<Operation *> ops;
  for (Operation &op : body)
    ops.push_back(&op);
  SmallVector<Operation *> launches;
  for (auto [k, bucket] : llvm::enumerate(buckets)) {
    Value last = bucket.back().value;
    b.setInsertionPointAfter(ops[bucket.back().ready]);
    SmallVector<Value> inputs;
    for (Gradient g : bucket)
      inputs.push_back(g.value);
    std::string scope = "data_parallel.bucket" + std::to_string(k);
    Operation *launch;
    if (stage == 0) {
      launch = b.create<AllReduceMeanOp>(loc, ValueRange(inputs).getTypes(),
                                         inputs, worldAttr);
    } else {
      Type element = cast<ShapedType>(last.getType()).getElementType();
      int64_t total = 0;
      for (Value v : inputs)
        total += elementsOf(v);
      auto shard =
          RankedTensorType::get({(total + world - 1) / world}, element);
      launch = b.create<ReduceScatterMeanOp>(loc, shard, inputs, worldAttr);
    }
    tag(launch, "backward", scope);
    launches.push_back(launch);
  }
  SmallVector<Value> waited;
  for (auto [k, launch] : llvm::enumerate(launches)) {
    Operation *before = k + 1 < launches.size() ? launches[k + 1] : norm;
    b.setInsertionPoint(before);
    auto wait = b.create<CommWaitOp>(loc, launch->getResultTypes(),
                                     launch->getResults());
    tag(wait, k + 1 < launches.size() ? "backward" : "optimizer",
        "data_parallel.bucket" + std::to_string(k));
    waited.append(wait.getResults().begin(), wait.getResults().end());
  }

  auto settings = b.getDictionaryAttr(
      {b.getNamedAttr("world_size", worldAttr),
       b.getNamedAttr("zero_stage", b.getI64IntegerAttr(stage)),
       b.getNamedAttr("reduce_bucket_size",
                      b.getI64IntegerAttr(bucketElements)),
       b.getNamedAttr("buckets", b.getI64IntegerAttr(buckets.size()))});
  step->setAttr("tg.data_parallel", settings);

  if (stage == 0) {
    // Everything after backward reads the averaged gradients.
    size_t i = 0;
    for (auto &bucket : buckets)
      for (Gradient g : bucket) {
        Value mean = waited[i++];
        g.value.replaceUsesWithIf(mean, [&](OpOperand &use) {
          return isOptimizerUse(use.getOwner());
        });
      }
    return success();
  }
  return shardOptimizer(step, buckets, waited, world);
}

LogicalResult
DataParallelPass::shardOptimizer(func::FuncOp step,
                                 ArrayRef<std::vector<Gradient>> buckets,
                                 ArrayRef<Value> shards, int64_t world) {
  Block &body = step.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  OpBuilder b(step.getContext());
  Location loc = step.getLoc();
  IntegerAttr worldAttr = b.getI64IntegerAttr(world);
  StringAttr optimizerPhase = b.getStringAttr("optimizer");

  // One set of hyperparameters for the whole step (--tg-autodiff makes them
  // so); weight decay is either 0 (rank < 2) or the step's value.
  AdamWOp first = buckets.front().front().adamw;
  double decayValue = 0.0;
  for (auto &bucket : buckets)
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
  GlobalNormOp oldNorm;
  for (Operation &op : body)
    if (auto n = dyn_cast<GlobalNormOp>(op))
      oldNorm = n;
  b.setInsertionPoint(oldNorm);
  auto norm = b.create<GlobalNormOp>(loc, oldNorm.getType(), shards);
  norm.setAcrossRanks(true);
  norm->setDiscardableAttrs(oldNorm->getDiscardableAttrDictionary());
  oldNorm.replaceAllUsesWith(norm.getResult());
  oldNorm.erase();

  // Results of the old per-parameter optimizer, to replace or drop.
  llvm::DenseMap<Value, Value> newParam;
  llvm::DenseSet<Value> dropped;
  AllGatherOp previous;
  // The previous bucket's all-gather is waited for when the next starts (one
  // in flight); its parameters are final from there.
  auto waitFor = [&](AllGatherOp gather) {
    auto wait = b.create<CommWaitOp>(loc, gather.getResultTypes(),
                                     gather.getResults());
    wait->setAttr(TGDialect::getPhaseAttrName(), optimizerPhase);
    wait->setAttr(TGDialect::getScopeAttrName(),
                  gather->getAttr(TGDialect::getScopeAttrName()));
    for (auto [p, w] : llvm::zip(gather.getResults(), wait.getResults()))
      for (auto &entry : newParam)
        if (entry.second == p)
          entry.second = w;
  };
  SmallVector<Value> stateResults;
  SmallVector<DictionaryAttr> stateAttrs;
  SmallVector<Attribute> bucketNames;
  b.setInsertionPoint(first);
  auto f32 = b.getF32Type();
  auto valueAttrs = [&](StringRef name, StringRef kind) {
    return b.getDictionaryAttr(
        {b.getNamedAttr(TGDialect::getNameAttrName(), b.getStringAttr(name)),
         b.getNamedAttr(TGDialect::getKindAttrName(), b.getStringAttr(kind))});
  };
  for (auto [k, bucket] : llvm::enumerate(buckets)) {
    std::string prefix = "zero.bucket" + std::to_string(k);
    auto shardType = cast<RankedTensorType>(shards[k].getType());
    auto stateType = RankedTensorType::get(shardType.getShape(), f32);
    auto addState = [&](StringRef suffix, StringRef kind) {
      step.insertArgument(step.getNumArguments(), stateType,
                          valueAttrs(prefix + "." + suffix.str(), kind), loc);
      return step.getArgument(step.getNumArguments() - 1);
    };
    Value master = addState("master", "master");
    Value m = addState("exp_avg", "exp_avg");
    Value v = addState("exp_avg_sq", "exp_avg_sq");
    SmallVector<int64_t> segments;
    SmallVector<bool> decay;
    SmallVector<Type> paramTypes;
    SmallVector<Value> params;
    SmallVector<Attribute> names;
    for (Gradient g : bucket) {
      segments.push_back(elementsOf(g.value));
      decay.push_back(g.adamw.getWeightDecay().convertToDouble() != 0.0);
      paramTypes.push_back(g.adamw.getNewParam().getType());
      FailureOr<unsigned> param = updatedParameterArgument(step, g.adamw);
      if (failed(param))
        return failure();
      params.push_back(step.getArgument(*param));
      names.push_back(step.getArgAttr(*param, TGDialect::getNameAttrName()));
    }
    bucketNames.push_back(b.getArrayAttr(names));
    auto update = b.create<ShardAdamWOp>(
        loc, stateType, stateType, stateType, shardType, master, m, v,
        shards[k], first.getGradScale(), first.getStep(), first.getLrAttr(),
        first.getBeta1Attr(), first.getBeta2Attr(), first.getEpsilonAttr(),
        b.getF64FloatAttr(decayValue), b.getDenseI64ArrayAttr(segments),
        b.getDenseBoolArrayAttr(decay), worldAttr);
    update->setAttr(TGDialect::getPhaseAttrName(), optimizerPhase);
    update->setAttr(TGDialect::getScopeAttrName(), b.getStringAttr(prefix));
    if (previous)
      waitFor(previous);
    auto gather = b.create<AllGatherOp>(loc, paramTypes, update.getNewParam(),
                                        params, worldAttr);
    gather->setAttr(TGDialect::getPhaseAttrName(), optimizerPhase);
    gather->setAttr(TGDialect::getScopeAttrName(), b.getStringAttr(prefix));
    for (auto [i, p] : llvm::enumerate(gather.getResults())) {
      Gradient g = bucket[i];
      newParam[g.adamw.getNewParam()] = p;
      dropped.insert(g.adamw.getNewMaster());
      dropped.insert(g.adamw.getNewExpAvg());
      dropped.insert(g.adamw.getNewExpAvgSq());
      dropped.insert(g.value);
    }
    previous = gather;
    stateResults.append({update.getNewMaster(), update.getNewExpAvg(),
                         update.getNewExpAvgSq()});
    stateAttrs.append({valueAttrs(prefix + ".master", "master"),
                       valueAttrs(prefix + ".exp_avg", "exp_avg"),
                       valueAttrs(prefix + ".exp_avg_sq", "exp_avg_sq")});
  }
  step->setAttr("tg.zero_buckets", b.getArrayAttr(bucketNames));

  b.setInsertionPoint(ret);
  waitFor(previous);

  // Results: the loss and the parameters as before; the per-parameter
  // optimizer state and gradients give way to the buckets' shards.
  SmallVector<Value> results;
  SmallVector<DictionaryAttr> resultAttrs;
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    if (dropped.contains(v))
      continue;
    results.push_back(newParam.lookup(v) ? newParam.lookup(v) : v);
    resultAttrs.push_back(step.getResultAttrDict(i));
  }
  results.append(stateResults.begin(), stateResults.end());
  resultAttrs.append(stateAttrs.begin(), stateAttrs.end());
  b.create<func::ReturnOp>(loc, results);
  ret.erase();

  // The old optimizer ops and their state arguments go.
  llvm::BitVector unused(step.getNumArguments());
  for (auto &bucket : buckets)
    for (Gradient g : bucket) {
      AdamWOp a = g.adamw;
      Value state[] = {a.getMaster(), a.getExpAvg(), a.getExpAvgSq()};
      a.erase();
      for (Value s : state)
        if (auto arg = dyn_cast<BlockArgument>(s); arg && arg.use_empty())
          unused.set(arg.getArgNumber());
    }
  step.eraseArguments(unused);
  step.setType(b.getFunctionType(body.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  step.setAllResultAttrs(resultAttrs);
  return success();
}
