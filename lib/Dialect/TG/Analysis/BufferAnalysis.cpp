//===- BufferAnalysis.cpp - buffers, lifetimes and kinds of a tg step -----===//

#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Analysis/HeapPlacement.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tg;
using internvl::ModelRegion;

llvm::StringRef mlir::tg::stringifyBufferKind(BufferKind kind) {
  switch (kind) {
  case BufferKind::SavedActivation:
    return "saved_activation";
  case BufferKind::Temporary:
    return "temporary";
  case BufferKind::Gradient:
    return "gradient";
  case BufferKind::Recomputed:
    return "recomputed";
  case BufferKind::Workspace:
    return "workspace";
  case BufferKind::Output:
    return "output";
  case BufferKind::Offloaded:
    return "offloaded";
  }
  return "temporary";
}

int64_t mlir::tg::tensorBytes(Type type) {
  auto t = cast<RankedTensorType>(type);
  return t.getNumElements() * ((t.getElementTypeBitWidth() + 7) / 8);
}

bool mlir::tg::isParameterGradient(Value v, int64_t zeroStage) {
  return llvm::any_of(v.getUses(), [&](OpOperand &use) {
    Operation *user = use.getOwner();
    if (auto adamw = dyn_cast<AdamWOp>(user))
      return use.get() == adamw.getGrad();
    // Stages 0 and 1 keep the whole gradient buffer; stage 2 only shards.
    if (isa<AllReduceMeanOp>(user))
      return true;
    if (isa<ReduceScatterMeanOp>(user))
      return zeroStage <= 1;
    return false;
  });
}

int64_t mlir::tg::collectiveBufferBytes(Operation *op) {
  auto elements = [](ValueRange values) {
    int64_t n = 0;
    for (Value v : values)
      n += cast<RankedTensorType>(v.getType()).getNumElements();
    return n;
  };
  // The runtime packs a bucket into f32 (all-reduce, reduce-scatter: the
  // padded bucket plus the received shard) or gathers raw shards.
  return llvm::TypeSwitch<Operation *, int64_t>(op)
      .Case([&](AllReduceMeanOp a) { return 4 * elements(a.getInputs()); })
      .Case([&](ReduceScatterMeanOp r) {
        int64_t c = cast<RankedTensorType>(r.getShard().getType())
                        .getNumElements();
        return 4 * (r.getWorldSize() + 1) * c;
      })
      .Case([&](AllGatherOp g) {
        return g.getWorldSize() * tensorBytes(g.getShard().getType());
      })
      .Default([](Operation *) { return int64_t(0); });
}


BufferAnalysis::BufferAnalysis(func::FuncOp func, const PlanOptions &given)
    : func(func) {
  for (Operation &op : func.getBody().front().without_terminator()) {
    stepIndex[&op] = schedule.size();
    schedule.push_back(&op);
  }
  // A step --tg-data-parallel rewrote is one rank: its own settings hold and
  // its arguments are already per rank.
  PlanOptions options = given;
  if (DataParallelAttr dp = getDataParallel(func)) {
    dataParallel = true;
    options.zeroStage = dp.getZeroStage();
    options.worldSize = dp.getWorldSize();
  }
  buildBuffers(options);
  classify();
  countPersistent(options);
}

void BufferAnalysis::buildBuffers(const PlanOptions &options) {
  Block &body = func.getBody().front();
  int64_t lastStep = static_cast<int64_t>(schedule.size()) - 1;

  // Reshape results alias their operand: one storage per alias class, whose
  // last use is the last use of any member.
  llvm::DenseMap<Value, Value> root;
  auto rootOf = [&](Value v) {
    auto it = root.find(v);
    return it == root.end() ? v : it->second;
  };
  for (Operation *op : schedule)
    for (OpResult r : op->getResults())
      if (Value source = storageSource(r))
        root[r] = rootOf(source);
  llvm::DenseMap<Value, int64_t> lastUse;
  for (Operation *op : schedule)
    for (Value v : op->getOperands())
      lastUse[rootOf(v)] = std::max(lastUse.lookup(rootOf(v)), stepIndex[op]);
  // Returned values live through the return, after the last op: no kernel
  // may write over them, even at the step that reads them last.
  llvm::DenseSet<Value> returnedRoots;
  for (Value v : body.getTerminator()->getOperands()) {
    lastUse[rootOf(v)] = lastStep;
    returnedRoots.insert(rootOf(v));
  }
  // A collective or host copy runs until it is waited for: its operands
  // (and a collective's buffer) stay in use until the wait.
  llvm::DenseMap<Operation *, int64_t> waitStep;
  for (Operation *op : schedule)
    if (auto wait = dyn_cast<CommWaitOp>(op))
      for (Operation *collective : waitedAsyncOps(wait)) {
        waitStep[collective] = stepIndex[op];
        for (Value v : collective->getOperands())
          lastUse[rootOf(v)] = std::max(lastUse.lookup(rootOf(v)),
                                        stepIndex[op]);
      }

  auto newBuffer = [&](Value v, Operation *op, int64_t step) {
    PlanBuffer b;
    b.bytes = internvl::alignTo(tensorBytes(v.getType()), options.alignment);
    b.start = step;
    b.end = std::max(step, lastUse.lookup(rootOf(v)));
    b.value = v;
    b.op = op;
    b.scope = scopeOf(op).str();
    b.region = internvl::regionOf(b.scope);
    buffers.push_back(b);
    return static_cast<int>(buffers.size());
  };

  for (Operation *op : schedule) {
    int64_t step = stepIndex[op];
    // AdamW updates master, moments and working copy in place.
    if (isa<AdamWOp>(op))
      continue;
    for (auto [i, result] : llvm::enumerate(op->getResults())) {
      // Views and in-place updates share their operand's storage (none for
      // arguments, which are outside the plan).
      if (Value source = storageSource(cast<OpResult>(result))) {
        bufferIndex[result] = bufferIndex.lookup(source);
        continue;
      }
      // A parameter gradient lives in the persistent gradient buffer.
      if (isParameterGradient(result, options.zeroStage)) {
        bufferIndex[result] = newBuffer(result, op, step);
        buffers.back().space = MemorySpace::Grads;
        continue;
      }
      // An offloaded activation lives in the pinned host buffer.
      if (isa<OffloadOp>(op)) {
        bufferIndex[result] = newBuffer(result, op, step);
        buffers.back().space = MemorySpace::Host;
        continue;
      }
      // Write over an operand that dies here, if the kernel allows it.
      int reuse = 0;
      if (i == 0)
        for (auto [k, operand] : llvm::enumerate(op->getOperands())) {
          int id = bufferIndex.lookup(operand);
          if (!id || !canWriteInPlace(op, k))
            continue;
          PlanBuffer &candidate = buffers[id - 1];
          if (candidate.space == MemorySpace::Arena && candidate.end == step &&
              lastUse.lookup(rootOf(operand)) == step &&
              !returnedRoots.contains(rootOf(operand)) &&
              candidate.bytes ==
                  internvl::alignTo(tensorBytes(result.getType()),
                                    options.alignment)) {
            reuse = id;
            break;
          }
        }
      if (reuse) {
        bufferIndex[result] = reuse;
        PlanBuffer &b = buffers[reuse - 1];
        b.end = std::max(b.end, lastUse.lookup(rootOf(result)));
        continue;
      }
      bufferIndex[result] = newBuffer(result, op, step);
    }
    // The kernel's own scratch (attention backward, the chunked loss), in
    // use for the duration of the op.
    auto storageOp = dyn_cast<StorageOpInterface>(op);
    if (int64_t bytes = storageOp ? storageOp.getWorkspaceBytes() : 0) {
      PlanBuffer ws;
      ws.bytes = internvl::alignTo(bytes, options.alignment);
      ws.start = ws.end = step;
      ws.kind = BufferKind::Workspace;
      ws.op = op;
      ws.scope = scopeOf(op).str();
      ws.region = internvl::regionOf(ws.scope);
      buffers.push_back(ws);
    }
    // A collective's communication buffer, in use until it is waited for.
    if (int64_t bytes = collectiveBufferBytes(op)) {
      PlanBuffer ws;
      ws.bytes = internvl::alignTo(bytes, options.alignment);
      ws.start = step;
      ws.end = std::max(step, waitStep.lookup(op));
      ws.kind = BufferKind::Workspace;
      ws.op = op;
      ws.scope = scopeOf(op).str();
      ws.region = internvl::regionOf(ws.scope);
      buffers.push_back(ws);
    }
  }
  // A gradient that reaches AdamW through a reshape (the patch embedding's
  // [D, C*P*P] view) puts its whole storage into the gradient buffer; so do
  // the gradients a collective reads where the stage keeps them.
  for (Operation *op : schedule) {
    SmallVector<Value> grads;
    if (auto adamw = dyn_cast<AdamWOp>(op))
      grads.push_back(adamw.getGrad());
    else if (isa<AllReduceMeanOp>(op) ||
             (isa<ReduceScatterMeanOp>(op) && options.zeroStage <= 1))
      grads.append(op->getOperands().begin(), op->getOperands().end());
    for (Value g : grads)
      if (int id = bufferIndex.lookup(g))
        buffers[id - 1].space = MemorySpace::Grads;
  }

  // One cuBLASLt workspace for every matrix product of the step.
  bool hasGemm = llvm::any_of(
      schedule, [](Operation *op) { return isa<LinearOp, MatmulOp>(op); });
  if (hasGemm && !schedule.empty()) {
    PlanBuffer ws;
    ws.bytes =
        internvl::alignTo(options.cublasWorkspaceBytes, options.alignment);
    ws.start = 0;
    ws.end = lastStep;
    ws.kind = BufferKind::Workspace;
    ws.scope = "cublaslt";
    buffers.push_back(ws);
  }
}

void BufferAnalysis::classify() {
  // Buffers read by a backward (or optimizer) op.
  std::vector<bool> readByBackward(buffers.size(), false);
  for (Operation *op : schedule) {
    std::optional<Phase> phase = phaseOf(op);
    if (phase != Phase::Backward && phase != Phase::Optimizer)
      continue;
    for (Value v : op->getOperands())
      if (int id = bufferIndex.lookup(v))
        readByBackward[id - 1] = true;
  }
  std::vector<bool> returned(buffers.size(), false);
  for (Value v : func.getBody().front().getTerminator()->getOperands())
    if (int id = bufferIndex.lookup(v))
      returned[id - 1] = true;

  for (auto [i, b] : llvm::enumerate(buffers)) {
    if (b.kind == BufferKind::Workspace)
      continue;
    // An activation in host memory, and its copy back for backward.
    if (b.space == MemorySpace::Host) {
      b.kind = BufferKind::Offloaded;
      continue;
    }
    if (isa<PrefetchOp>(b.op)) {
      b.kind = BufferKind::SavedActivation;
      continue;
    }
    std::optional<Phase> phase = phaseOf(b.op);
    if (phase == Phase::Backward || phase == Phase::Optimizer)
      b.kind = BufferKind::Gradient;
    else if (phase == Phase::Recompute)
      b.kind = BufferKind::Recomputed;
    else if (readByBackward[i])
      b.kind = BufferKind::SavedActivation;
    else if (returned[i])
      b.kind = BufferKind::Output;
    else
      b.kind = BufferKind::Temporary;
  }
}

void BufferAnalysis::countPersistent(const PlanOptions &options) {
  int64_t params = 0, masters = 0, moments = 0;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto kind =
        func.getArgAttrOfType<StringAttr>(i, TGDialect::getKindAttrName());
    int64_t bytes = tensorBytes(func.getArgument(i).getType());
    StringRef k = kind ? kind.getValue() : StringRef("input");
    if (k == "param")
      params += bytes;
    else if (k == "master")
      masters += bytes;
    else if (k == "exp_avg" || k == "exp_avg_sq")
      moments += bytes;
    else
      batchBytes += bytes;
  }
  // An f32 parameter is its own master copy, but ZeRO 1-3 (DeepSpeed's
  // fp32 partitions, what --tg-data-parallel lowers to) keep an f32 shard of
  // it beside the parameters.
  if (!dataParallel && options.zeroStage >= 1)
    for (Operation *op : schedule)
      if (auto adamw = dyn_cast<AdamWOp>(op))
        if (auto arg = dyn_cast<BlockArgument>(adamw.getMaster());
            arg && func.getArgAttrOfType<StringAttr>(
                       arg.getArgNumber(), TGDialect::getKindAttrName()) ==
                       StringAttr::get(func.getContext(), "param"))
          masters += tensorBytes(arg.getType());
  for (const PlanBuffer &b : buffers)
    if (b.space == MemorySpace::Grads)
      gradsBytes += b.bytes;
  // ZeRO stage 1 shards the optimizer state (master + moments), stage 2 also
  // the gradients, stage 3 also the parameters; each rank keeps 1/W.
  // (A data-parallel step's arguments and buffers are one rank's already.)
  int64_t w = std::max<int64_t>(options.worldSize, 1);
  auto shard = [&](int64_t bytes, int64_t fromStage) {
    return !dataParallel && options.zeroStage >= fromStage ? (bytes + w - 1) / w
                                                           : bytes;
  };
  persistent.params = shard(params, 3);
  persistent.grads = shard(gradsBytes, 2);
  persistent.masterParams = shard(masters, 1);
  persistent.optimizer = shard(moments, 1);
}
