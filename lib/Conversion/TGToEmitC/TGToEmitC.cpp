//===- TGToEmitC.cpp - --convert-tg-to-emitc --------------------------------===//
//
// Lowers a planned step to one EmitC host function. Every tg value becomes
// an `ivl_tensor` view of its planned storage (StepStorage); every op a call
// of the runtime's C API through the inline wrappers of StepSupport.h,
// followed by IVL_CHECK, which returns the failing status with the op's
// name. Runs of elementwise ops chosen by ElementwiseFusion become generated
// kernels (FusedKernelEmitter) launched in place of the run.
//
//===----------------------------------------------------------------------===//

#include "internvl/Conversion/Passes.h"
#include "internvl/Conversion/TGToEmitC/ElementwiseFusion.h"
#include "internvl/Conversion/TGToEmitC/StepManifest.h"
#include "internvl/Conversion/TGToEmitC/StepStorage.h"
#include "internvl/Conversion/TGToEmitC/TGToEmitC.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Support/Region.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>

namespace mlir::tg {
#define GEN_PASS_DEF_CONVERTTGTOEMITC
#include "internvl/Conversion/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

std::optional<StepTarget> mlir::tg::parseStepTarget(StringRef name) {
  if (name == "cpu")
    return StepTarget::Cpu;
  if (name == "cuda")
    return StepTarget::Cuda;
  return std::nullopt;
}

StringRef mlir::tg::stringifyStepTarget(StepTarget target) {
  return target == StepTarget::Cuda ? "cuda" : "cpu";
}

//===----------------------------------------------------------------------===//
// C++ literals
//===----------------------------------------------------------------------===//

std::string mlir::tg::dtypeLiteral(Type element) {
  if (element.isF32())
    return "IVL_F32";
  if (element.isBF16())
    return "IVL_BF16";
  if (element.isF16())
    return "IVL_F16";
  if (element.isInteger(64))
    return "IVL_I64";
  if (element.isInteger(1))
    return "IVL_I1";
  return "";
}

std::string mlir::tg::dimsLiteral(ArrayRef<int64_t> dims) {
  std::string s = "{";
  for (auto [i, d] : llvm::enumerate(dims))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "}";
}

/// Exact: 17 significant digits read back to the same double.
std::string mlir::tg::doubleLiteral(double v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.17g", v);
  return s;
}

static std::string quoted(StringRef text) {
  std::string s = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      s += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue;
    s += c;
  }
  return s + "\"";
}

/// Ops per part of the emitted schedule: a new part starts at the first
/// layer boundary after kMinPartOps ops, and at kMaxPartOps in any case.
constexpr int64_t kMinPartOps = 150;
constexpr int64_t kMaxPartOps = 400;

/// "backward llm 3": the phase and transformer layer of an op.
static std::string layerKey(Operation *op) {
  std::string key = phaseName(op).str();
  if (std::optional<internvl::LayerRef> layer = internvl::layerOf(scopeOf(op)))
    key += " " + internvl::stringifyRegion(layer->region).str() + " " +
           std::to_string(layer->index);
  return key;
}

/// The comment above a part: where it starts.
static std::string partTitle(Operation *first) {
  std::string scope = scopeOf(first).str();
  return phaseName(first).str() + (scope.empty() ? "" : ": from " + scope);
}

//===----------------------------------------------------------------------===//
// The step function
//===----------------------------------------------------------------------===//

namespace {

/// One argument of an emitted call: a tg value (passed as its view), a C++
/// literal, or a value the lowering emitted (a list, a buffer address).
struct CallArg {
  Value value;
  std::string literal;
  Value emitted = {};
};
CallArg emitted(Value v) { return {Value(), "", v}; }
CallArg lit(std::string text) { return {Value(), std::move(text)}; }
CallArg lit(int64_t v) { return lit(std::to_string(v)); }
CallArg lit(double v) { return lit(doubleLiteral(v)); }

class StepLowering {
public:
  StepLowering(func::FuncOp func, const StepStorage &storage,
               const FusionPlan &fusion, StepTarget target)
      : func(func), storage(storage), fusion(fusion), target(target),
        b(func.getContext()) {}

  /// Emits the whole lowered module into `module` (emptied first).
  LogicalResult run(ModuleOp module, const llvm::json::Object &manifest);

  int64_t kernelCalls = 0;
  /// StepEmitOptions::symbolSuffix.
  std::string symbolSuffix;

private:
  Type opaque(StringRef name) {
    return emitc::OpaqueType::get(b.getContext(), name);
  }
  Type pointer(Type pointee) { return emitc::PointerType::get(pointee); }
  Type tensorType() { return opaque("ivl_tensor"); }
  Type statusType() { return opaque("ivl_status"); }

  Value emitCall(StringRef callee, Type result, ArrayRef<CallArg> args,
              ArrayRef<Value> leading = {});
  /// The wait for the latest collective that `wait` names, counted back
  /// from the last one launched.
  LogicalResult commWait(CommWaitOp wait);
  void check(Value status, StringRef where);
  std::string where(Operation *op);

  Value view(Value v);
  LogicalResult lower(Operation *op);
  void comment(Operation *op);

  func::FuncOp func;
  const StepStorage &storage;
  const FusionPlan &fusion;
  StepTarget target;
  OpBuilder b;
  Location loc = UnknownLoc::get(func.getContext());
  Value ctx, arena, grads, args;
  llvm::DenseMap<Value, Value> views;
  std::string lastScope, lastPhase;
  /// The asynchronous collectives and host copies so far, each in launch
  /// order on its stream.
  llvm::DenseMap<Operation *, int64_t> launchIndex, copyIndex;
};

} // namespace

Value StepLowering::emitCall(StringRef callee, Type result, ArrayRef<CallArg> list,
                         ArrayRef<Value> leading) {
  SmallVector<Value> operands(leading.begin(), leading.end());
  SmallVector<Attribute> order;
  for (size_t i = 0; i < leading.size(); ++i)
    order.push_back(b.getIndexAttr(i));
  for (const CallArg &a : list) {
    if (a.value || a.emitted) {
      order.push_back(b.getIndexAttr(operands.size()));
      operands.push_back(a.emitted ? a.emitted : view(a.value));
    } else {
      order.push_back(emitc::OpaqueAttr::get(b.getContext(), a.literal));
    }
  }
  SmallVector<Type> results;
  if (result)
    results.push_back(result);
  auto op = b.create<emitc::CallOpaqueOp>(loc, results, callee, operands,
                                          b.getArrayAttr(order));
  return result ? op.getResult(0) : Value();
}

std::string StepLowering::where(Operation *op) {
  std::string s = op->getName().getStringRef().str();
  if (auto scope = op->getAttrOfType<StringAttr>(TGDialect::getScopeAttrName()))
    s += " (" + scope.getValue().str() + ")";
  return s;
}

void StepLowering::check(Value status, StringRef text) {
  b.create<emitc::CallOpaqueOp>(
      loc, TypeRange(), "IVL_CHECK", ValueRange{ctx, status},
      b.getArrayAttr({b.getIndexAttr(0), b.getIndexAttr(1),
                      emitc::OpaqueAttr::get(b.getContext(), quoted(text))}));
}

LogicalResult StepLowering::commWait(CommWaitOp wait) {
  // The step is straight-line code, so launch order is program order: the
  // runtime need only wait for the latest collective (or copy) named here
  // and those before it on its stream, not for later launches.
  auto waitFor = [&](const llvm::DenseMap<Operation *, int64_t> &launches,
                     StringRef callee) {
    int64_t latest = -1;
    for (Operation *c : waitedAsyncOps(wait))
      if (auto it = launches.find(c); it != launches.end())
        latest = std::max(latest, it->second);
    if (latest < 0)
      return; // nothing in flight: its results are its operands
    int64_t newer = static_cast<int64_t>(launches.size()) - 1 - latest;
    Value status = emitCall(callee, statusType(), {lit(newer)}, {ctx});
    check(status, where(wait));
    ++kernelCalls;
  };
  waitFor(launchIndex, "ivl::call<ivl_comm_wait>");
  waitFor(copyIndex, "ivl::call<ivl_copy_wait>");
  return success();
}

Value StepLowering::view(Value v) {
  if (Value existing = views.lookup(v))
    return existing;
  auto type = cast<RankedTensorType>(v.getType());
  std::string dtype = dtypeLiteral(type.getElementType());
  std::string dims = dimsLiteral(type.getShape());
  Value result;
  if (auto reshape = v.getDefiningOp<ReshapeOp>()) {
    Value input = view(reshape.getInput());
    result = emitCall("ivl::reshape", tensorType(), {lit(dims)}, {input});
  } else {
    const Storage &s = storage.lookup(v);
    switch (s.space) {
    case Storage::Space::Argument:
      result = emitCall("ivl::argument", tensorType(),
                    {lit(int64_t(s.argument)), lit(dtype), lit(dims)}, {args});
      break;
    case Storage::Space::Arena:
    case Storage::Space::Grads:
      result = emitCall("ivl::view", tensorType(),
                    {lit(s.offset), lit(dtype), lit(dims)},
                    {s.space == Storage::Space::Arena ? arena : grads});
      break;
    case Storage::Space::Host:
      result = emitCall("ivl::hostView", tensorType(),
                        {lit(s.offset), lit(dtype), lit(dims)}, {ctx});
      break;
    }
  }
  views[v] = result;
  return result;
}

/// A comment line where the module path or the phase changes, so the
/// emitted schedule reads like the model.
void StepLowering::comment(Operation *op) {
  std::string p = phaseName(op).str();
  if (p != lastPhase) {
    b.create<emitc::VerbatimOp>(loc, "// ---- " + p + " ----");
    lastPhase = p;
    lastScope.clear();
  }
  std::string s = scopeOf(op).str();
  if (!s.empty() && s != lastScope)
    b.create<emitc::VerbatimOp>(loc, "// " + s);
  lastScope = s;
}

/// `std::array<T, N>{...}`: a C array argument that lives until the call
/// returns.
template <typename T, typename Spell>
static std::string arrayLiteral(StringRef element, ArrayRef<T> items,
                                Spell spell) {
  std::string s = "std::array<" + element.str() + ", " +
                  std::to_string(items.size()) + ">{";
  for (auto [i, x] : llvm::enumerate(items))
    s += (i ? ", " : "") + spell(x);
  return s + "}";
}

LogicalResult StepLowering::lower(Operation *op) {
  if (auto wait = dyn_cast<CommWaitOp>(op))
    return commWait(wait);
  auto kernelOp = dyn_cast<KernelOpInterface>(op);
  if (!kernelOp)
    return op->emitError("has no runtime kernel to lower to");
  KernelCall call;
  kernelOp.describeKernelCall(call);
  // A view of the operand's storage is made where it is first used.
  if (!call.entry)
    return success();

  // The results' views exist before the call that writes them.
  for (Value r : op->getResults())
    (void)view(r);
  bool collective = llvm::any_of(call.args, [](const KernelArg &a) {
    return a.kind == KernelArg::Kind::Buffer;
  });
  auto workspace = op->getAttrOfType<AllocAttr>(kWorkspaceAttr);
  if (workspace && !collective) {
    // Planned scratch memory of the kernel (tg.attention_grad's).
    Value status = emitCall("ivl::setScratch", statusType(),
                         {lit(workspace.getOffset()), lit(workspace.getSize())},
                         {ctx, arena});
    check(status, where(op) + " scratch");
  }

  auto spellInt = [](int64_t x) { return std::to_string(x); };
  SmallVector<CallArg> list;
  for (const KernelArg &a : call.args) {
    switch (a.kind) {
    case KernelArg::Kind::Input:
    case KernelArg::Kind::Output:
      list.push_back({a.values[0], ""});
      break;
    case KernelArg::Kind::Null:
      list.push_back(lit(std::string("nullptr")));
      break;
    case KernelArg::Kind::TensorList: {
      SmallVector<Value> views;
      for (Value v : a.values)
        views.push_back(view(v));
      list.push_back(emitted(emitCall("ivl::list", opaque("auto"), {}, views)));
      break;
    }
    case KernelArg::Kind::Integer:
      list.push_back(a.spelling.empty() ? lit(a.integer) : lit(a.spelling));
      break;
    case KernelArg::Kind::Real:
      list.push_back(lit(a.real));
      break;
    case KernelArg::Kind::Integers:
      list.push_back(lit(arrayLiteral<int64_t>("int64_t", a.integers, spellInt)));
      break;
    case KernelArg::Kind::Flags:
      list.push_back(lit(arrayLiteral<int64_t>("uint8_t", a.integers, spellInt)));
      break;
    case KernelArg::Kind::Reals:
      list.push_back(lit(arrayLiteral<double>("double", a.reals, doubleLiteral)));
      break;
    case KernelArg::Kind::Buffer:
      if (!workspace)
        return op->emitError("has no planned buffer (")
               << kWorkspaceAttr << "): run --tg-plan-memory before lowering";
      list.push_back(emitted(emitCall("ivl::at", pointer(opaque("void")),
                                   {lit(workspace.getOffset())}, {arena})));
      break;
    case KernelArg::Kind::BufferSize:
      list.push_back(lit(workspace.getSize()));
      break;
    }
  }
  std::string callee = "ivl::call<" + kernelSymbol(*call.entry).str() + ">";
  Value status = emitCall(callee, statusType(), list, {ctx});
  check(status, where(op));
  if (collective)
    launchIndex.try_emplace(op, launchIndex.size());
  if (isHostCopy(op))
    copyIndex.try_emplace(op, copyIndex.size());
  ++kernelCalls;
  return success();
}

LogicalResult StepLowering::run(ModuleOp module,
                                const llvm::json::Object &manifest) {
  MLIRContext *context = b.getContext();
  // Element types the runtime cannot take are rejected before anything is
  // emitted.
  for (Operation &op : func.getBody().front().without_terminator())
    for (Value r : op.getResults())
      if (dtypeLiteral(cast<ShapedType>(r.getType()).getElementType())
              .empty())
        return op.emitError("has a result of element type ")
               << cast<ShapedType>(r.getType()).getElementType()
               << ", which the runtime does not support";

  // The new module body is built apart and swapped in at the end, so a
  // failure leaves the input untouched.
  auto staging = ModuleOp::create(loc);
  b.setInsertionPointToEnd(staging.getBody());
  b.create<emitc::IncludeOp>(loc, "internvl/runtime/StepSupport.h",
                             /*is_standard_include=*/false);
  if (!fusion.groups.empty())
    b.create<emitc::IncludeOp>(loc, "internvl/runtime/FusedSupport.h", false);

  // The manifest, as a raw string literal.
  Type cString = pointer(opaque("const char"));
  auto manifestFn = b.create<emitc::FuncOp>(
      loc, "ivl_step_manifest" + symbolSuffix,
      FunctionType::get(context, {}, {cString}));
  manifestFn.setSpecifiersAttr(b.getStrArrayAttr({"extern \"C\""}));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(manifestFn.addEntryBlock());
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(llvm::json::Object(manifest));
    Value literal = b.create<emitc::LiteralOp>(
        loc, cString, "R\"ivl(" + text + ")ivl\"");
    b.create<emitc::ReturnOp>(loc, literal);
  }

  // Generated elementwise kernels, before the step that launches them.
  FusedKernelEmitter fused(fusion, target);
  if (failed(fused.emitKernels(b, loc)))
    return failure();

  // The schedule, in parts of a few hundred ops cut at layer boundaries:
  // host compilers are superlinear in function size, and a part per layer
  // reads well. Each part makes its own views.
  Type voidPtr = pointer(opaque("void"));
  auto stepType = FunctionType::get(
      context,
      {pointer(opaque("ivl_context")), voidPtr, voidPtr, pointer(voidPtr)},
      {statusType()});
  Block *moduleBody = staging.getBody();
  SmallVector<emitc::FuncOp> parts;
  auto endPart = [&] {
    if (parts.empty())
      return;
    Value ok = b.create<emitc::LiteralOp>(loc, statusType(), "IVL_OK");
    b.create<emitc::ReturnOp>(loc, ok);
  };
  auto beginPart = [&](Operation *first) {
    endPart();
    b.setInsertionPointToEnd(moduleBody);
    b.create<emitc::VerbatimOp>(loc, "// " + partTitle(first));
    auto part = b.create<emitc::FuncOp>(
        loc, "ivl_step_part_" + std::to_string(parts.size()), stepType);
    part.setSpecifiersAttr(b.getStrArrayAttr({"static"}));
    Block *body = part.addEntryBlock();
    ctx = body->getArgument(0);
    arena = body->getArgument(1);
    grads = body->getArgument(2);
    args = body->getArgument(3);
    b.setInsertionPointToStart(body);
    views.clear();
    lastScope.clear();
    lastPhase.clear();
    parts.push_back(part);
  };

  int64_t opsInPart = 0;
  std::string lastLayer;
  for (Operation &op : func.getBody().front().without_terminator()) {
    const FusedGroup *group = fusion.groupOf(&op);
    if (group && group->ops.back() != &op)
      continue;
    std::string layer = layerKey(&op);
    if (parts.empty() || opsInPart >= kMaxPartOps ||
        (opsInPart >= kMinPartOps && layer != lastLayer)) {
      beginPart(&op);
      opsInPart = 0;
    }
    lastLayer = layer;
    ++opsInPart;
    comment(&op);
    if (group) {
      for (Value r : op.getResults())
        (void)view(r);
      SmallVector<Value> operands;
      for (Value leaf : group->leaves)
        operands.push_back(view(leaf));
      operands.push_back(view(op.getResult(0)));
      Value status = fused.launch(b, loc, *group, ctx, operands);
      check(status, "fused " + group->describe());
      continue;
    }
    if (failed(lower(&op)))
      return failure();
  }
  endPart();

  b.setInsertionPointToEnd(moduleBody);
  auto step = b.create<emitc::FuncOp>(loc, "ivl_step" + symbolSuffix, stepType);
  step.setSpecifiersAttr(b.getStrArrayAttr({"extern \"C\""}));
  Block *body = step.addEntryBlock();
  ctx = body->getArgument(0);
  arena = body->getArgument(1);
  b.setInsertionPointToStart(body);
  if (int64_t hostBytes = getMemoryPlan(func).getHostBytes()) {
    // Offloaded activations go to the caller's pinned host buffer.
    Value status = emitCall("ivl_require_host_buffer", statusType(),
                            {lit(hostBytes)}, {ctx});
    check(status, "host buffer");
  }
  if (AllocAttr ws = getMemoryPlan(func).getCublasltWorkspace()) {
    Value status = emitCall("ivl::setWorkspace", statusType(),
                        {lit(ws.getOffset()), lit(ws.getSize())},
                        {ctx, arena});
    check(status, "cuBLASLt workspace");
  }
  for (emitc::FuncOp part : parts) {
    Value status =
        b.create<emitc::CallOp>(loc, part, body->getArguments()).getResult(0);
    b.create<emitc::CallOpaqueOp>(loc, TypeRange(), "IVL_PROPAGATE",
                                  ValueRange{status});
  }
  Value ok = b.create<emitc::LiteralOp>(loc, statusType(), "IVL_OK");
  b.create<emitc::ReturnOp>(loc, ok);

  module.getBodyRegion().takeBody(staging.getBodyRegion());
  staging->erase();
  return success();
}

FailureOr<StepEmitResult>
mlir::tg::convertStepToEmitC(ModuleOp module, const StepEmitOptions &options) {
  // Callers outside a pass (internvl-compile) need not have loaded it.
  module.getContext()->getOrLoadDialect<emitc::EmitCDialect>();
  func::FuncOp func = findPlannedFunction(module, options.function);
  if (!func)
    return failure();
  MemoryPlanAttr plan = getMemoryPlan(func);
  if (!plan)
    return func.emitError("@")
           << func.getName() << " has no " << TGDialect::getMemoryPlanAttrName()
           << ": run --tg-plan-memory before --convert-tg-to-emitc";
  // The lowering writes every offset and size of the plan into the step:
  // it must check out first.
  if (failed(verifyMemoryPlan(func)))
    return failure();
  DataParallelAttr dp = getDataParallel(func);
  if (plan.getWorldSize() != 1 && !dp)
    return func.emitError("@")
           << func.getName() << " is planned for " << plan.getWorldSize()
           << " data-parallel ranks but has no collectives: run "
              "--tg-data-parallel before --tg-plan-memory";

  // Collectives and shards are all for the ranks the step is built for.
  if (dp) {
    int64_t ranks = dp.getWorldSize();
    WalkResult walk = func.walk([&](Operation *op) {
      auto w = op->getAttrOfType<IntegerAttr>("world_size");
      if (!w || w.getInt() == ranks)
        return WalkResult::advance();
      op->emitOpError("has world_size ")
          << w.getInt() << " but @" << func.getName()
          << " is data parallel over " << ranks << " ranks";
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      return failure();
  }

  FailureOr<StepStorage> storage = StepStorage::read(func);
  if (failed(storage))
    return failure();
  FailureOr<llvm::json::Object> manifest =
      stepManifest(func, *storage, stringifyStepTarget(options.target));
  if (failed(manifest))
    return failure();
  FusionPlan fusion;
  if (options.fuseElementwise)
    fusion = planElementwiseFusion(func, *storage);

  StepLowering lowering(func, *storage, fusion, options.target);
  lowering.symbolSuffix = options.symbolSuffix;
  if (failed(lowering.run(module, *manifest)))
    return failure();
  StepEmitResult stats;
  stats.manifest = std::move(*manifest);
  stats.kernelCalls = lowering.kernelCalls;
  stats.fusedKernels = fusion.groups.size();
  for (const FusedGroup &g : fusion.groups)
    stats.fusedOps += g.ops.size();
  return stats;
}

namespace {
struct ConvertTGToEmitCPass
    : public internvl::PassWithOptionErrors<tg::impl::ConvertTGToEmitCBase<ConvertTGToEmitCPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;
  void runOnOperation() override {
    std::optional<StepTarget> parsed = parseStepTarget(target);
    if (!parsed) {
      getOperation().emitError("--convert-tg-to-emitc: target '")
          << target << "' is not one of: cpu, cuda";
      return signalPassFailure();
    }
    StepEmitOptions options;
    options.function = function;
    options.target = *parsed;
    options.fuseElementwise = fuseElementwise;
    FailureOr<StepEmitResult> stats =
        convertStepToEmitC(getOperation(), options);
    if (failed(stats))
      return signalPassFailure();
    numKernelCalls = stats->kernelCalls;
    numFusedKernels = stats->fusedKernels;
    numFusedOps = stats->fusedOps;
  }
};
} // namespace
