//===- TGDialect.cpp - training-graph dialect -----------------------------===//

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/runtime/CheckedMath.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tg;

FailureOr<Initializer> mlir::tg::parseInitializer(StringRef spec) {
  Initializer init;
  if (spec == "zeros") {
    init.kind = Initializer::Constant;
    init.value = 0.0;
    return init;
  }
  if (spec == "ones") {
    init.kind = Initializer::Constant;
    init.value = 1.0;
    return init;
  }
  auto [kind, number] = spec.split(':');
  if (number.empty() || number.getAsDouble(init.value))
    return failure();
  if (kind == "normal" && init.value >= 0) {
    init.kind = Initializer::Normal;
    return init;
  }
  if (kind == "constant") {
    init.kind = Initializer::Constant;
    return init;
  }
  return failure();
}

bool mlir::tg::isWithinTensorCeiling(ShapedType type) {
  if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
    return false;
  int64_t elementBytes = (type.getElementTypeBitWidth() + 7) / 8;
  ArrayRef<int64_t> shape = type.getShape();
  return ivl::fitsTensorCeiling(shape.data(), shape.size(), elementBytes);
}

bool mlir::tg::isStepTensorType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return false;
  Type e = tensor.getElementType();
  bool supported = e.isBF16() || e.isF16() || e.isF32() || e.isInteger(64) ||
                   e.isInteger(1);
  return supported && isWithinTensorCeiling(tensor);
}

#include "internvl/Dialect/TG/IR/TGOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "internvl/Dialect/TG/IR/TGAttrs.cpp.inc"

LogicalResult AllocAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                MemorySpace, int64_t offset, int64_t size) {
  if (offset < 0 || size < 0 || offset > INT64_MAX - size)
    return emitError() << "#tg.alloc needs a non-negative offset and size "
                          "whose sum fits in 64 bits, got offset "
                       << offset << " and size " << size;
  return success();
}

/// Fails with "<what> must be in [lo, hi], got v" unless it is.
static LogicalResult expectIn(function_ref<InFlightDiagnostic()> emitError,
                              StringRef attr, StringRef what, int64_t value,
                              int64_t lo, int64_t hi) {
  if (value >= lo && value <= hi)
    return success();
  return emitError() << attr << ": " << what << " must be in [" << lo << ", "
                     << hi << "], got " << value;
}

LogicalResult MemoryPlanAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t zeroStage,
    int64_t worldSize, int64_t alignment, int64_t steps, int64_t arenaBytes,
    int64_t liveLowerBoundBytes, int64_t paramsBytes, int64_t masterParamsBytes,
    int64_t gradsBytes, int64_t gradsBufferBytes, int64_t optimizerBytes,
    int64_t peakBytes, AllocAttr cublasltWorkspace,
    std::optional<int64_t> budgetBytes, int64_t hostBytes) {
  // Sizes stay far from overflow when a reader adds a few of them.
  constexpr int64_t kMaxBytes = INT64_MAX / 16;
  StringRef attr = "#tg.memory_plan";
  if (failed(expectIn(emitError, attr, "zero_stage", zeroStage, 0, 3)) ||
      failed(expectIn(emitError, attr, "world_size", worldSize, 1,
                      kMaxWorldSize)) ||
      failed(expectIn(emitError, attr, "alignment", alignment, 1,
                      int64_t(1) << 30)) ||
      failed(expectIn(emitError, attr, "steps", steps, 0, INT64_MAX)))
    return failure();
  if ((alignment & (alignment - 1)) != 0)
    return emitError() << attr << ": alignment must be a power of two, got "
                       << alignment;
  std::pair<StringRef, int64_t> sizes[] = {
      {"arena_bytes", arenaBytes},
      {"live_lower_bound_bytes", liveLowerBoundBytes},
      {"params_bytes", paramsBytes},
      {"master_params_bytes", masterParamsBytes},
      {"grads_bytes", gradsBytes},
      {"grads_buffer_bytes", gradsBufferBytes},
      {"optimizer_bytes", optimizerBytes},
      {"peak_bytes", peakBytes},
      {"budget_bytes", budgetBytes.value_or(0)},
      {"host_bytes", hostBytes}};
  for (auto [name, value] : sizes)
    if (failed(expectIn(emitError, attr, name, value, 0, kMaxBytes)))
      return failure();
  if (cublasltWorkspace && cublasltWorkspace.getSpace() != MemorySpace::Arena)
    return emitError() << attr << ": cublaslt_workspace must be in the arena";
  return success();
}

LogicalResult DataParallelAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t worldSize,
    int64_t zeroStage, int64_t reduceBucketSize, int64_t allgatherBucketSize,
    int64_t buckets, std::optional<int64_t> frozenBuckets) {
  StringRef attr = "#tg.data_parallel";
  if (failed(expectIn(emitError, attr, "world_size", worldSize, 1,
                      kMaxWorldSize)) ||
      failed(expectIn(emitError, attr, "zero_stage", zeroStage, 0, 3)) ||
      failed(expectIn(emitError, attr, "reduce_bucket_size", reduceBucketSize,
                      1, INT64_MAX)) ||
      failed(expectIn(emitError, attr, "allgather_bucket_size",
                      allgatherBucketSize, 1, INT64_MAX)) ||
      failed(expectIn(emitError, attr, "buckets", buckets, 0, INT64_MAX)) ||
      failed(expectIn(emitError, attr, "frozen_buckets",
                      frozenBuckets.value_or(0), 0, INT64_MAX)))
    return failure();
  if (frozenBuckets && zeroStage != 3)
    return emitError() << attr
                       << ": frozen_buckets is ZeRO-3's, but zero_stage is "
                       << zeroStage;
  return success();
}

void TGDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "internvl/Dialect/TG/IR/TGOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "internvl/Dialect/TG/IR/TGAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

/// Module attributes the importer records for later passes.
static LogicalResult verifyModuleAttribute(Operation *op, NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == "tg.grad_checkpoint" || name == "tg.vision_grad_checkpoint") {
    if (!isa<BoolAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a bool attribute";
    return success();
  }
  if (name == "tg.model") {
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a string attribute";
    return success();
  }
  if (name == "tg.zero_stage" || name == "tg.world_size" ||
      name == "tg.reduce_bucket_size" || name == "tg.allgather_bucket_size") {
    auto value = dyn_cast<IntegerAttr>(attr.getValue());
    int64_t min = name == "tg.zero_stage" ? 0 : 1;
    int64_t max = name == "tg.zero_stage"   ? 3
                  : name == "tg.world_size" ? kMaxWorldSize
                                            : INT64_MAX;
    if (!value || value.getInt() < min || value.getInt() > max)
      return op->emitError()
             << "'" << name << "' must be an integer in [" << min << ", "
             << (max == INT64_MAX ? std::string("inf") : std::to_string(max))
             << "], got " << attr.getValue();
    return success();
  }
  return op->emitError() << "unknown module attribute '" << name
                         << "'; allowed: tg.model, tg.grad_checkpoint, "
                            "tg.vision_grad_checkpoint, tg.zero_stage, "
                            "tg.world_size, "
                            "tg.reduce_bucket_size, tg.allgather_bucket_size";
}

LogicalResult TGDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == getScopeAttrName()) {
    if (!isa<StringAttr>(attr.getValue()))
      return op->emitError() << "'" << name
                             << "' must be a string attribute (a module path "
                                "such as \"vision_model.encoder.layers.0\"), "
                                "got "
                             << attr.getValue();
    return success();
  }
  if (name == getPhaseAttrName()) {
    if (!isa<PhaseAttr>(attr.getValue()))
      return op->emitError()
             << "'" << name
             << "' must be #tg.phase<backward>, #tg.phase<optimizer> or "
                "#tg.phase<recompute> (forward ops carry none), got "
             << attr.getValue();
    return success();
  }
  if (name == "tg.alloc") {
    // One location per result that owns storage: views and in-place updates
    // take their operand's.
    unsigned owning = llvm::count_if(op->getResults(), [](OpResult r) {
      return !storageSource(r);
    });
    auto allocs = dyn_cast<ArrayAttr>(attr.getValue());
    if (!allocs || allocs.size() != owning ||
        !llvm::all_of(allocs, [](Attribute a) { return isa<AllocAttr>(a); }))
      return op->emitError()
             << "'tg.alloc' must hold one #tg.alloc per result that owns "
                "storage ("
             << owning << "), got " << attr.getValue();
    return success();
  }
  if (name == "tg.workspace") {
    if (!isa<AllocAttr>(attr.getValue()))
      return op->emitError()
             << "'tg.workspace' must be a #tg.alloc, got " << attr.getValue();
    return success();
  }
  if (name == "tg.remat") {
    auto remat = dyn_cast<DictionaryAttr>(attr.getValue());
    if (!remat)
      return op->emitError() << "'tg.remat' must be a dictionary";
    // What --tg-remat did per region, as the reports read it.
    for (StringRef region : {"vision", "llm"}) {
      Attribute entry = remat.get(region);
      if (!entry)
        continue;
      auto dict = dyn_cast<DictionaryAttr>(entry);
      auto policy = dict ? dict.getAs<StringAttr>("policy") : StringAttr();
      if (!policy || !llvm::is_contained({"force", "auto", "off"},
                                         policy.getValue()))
        return op->emitError()
               << "'tg.remat' entry '" << region
               << "' must be a dictionary with a policy of \"force\", "
                  "\"auto\" or \"off\", got "
               << entry;
    }
    return success();
  }
  if (name == "tg.bucket") {
    auto bucket = dyn_cast<BucketAttr>(attr.getValue());
    auto module = dyn_cast<ModuleOp>(op);
    if (!bucket || !module || bucket.getSeq() < 2 || bucket.getTiles() < 1)
      return op->emitError() << "'tg.bucket' must be a #tg.bucket<seq = S, "
                                "tiles = T> (S >= 2, T >= 1) on a module, got "
                             << attr.getValue();
    // Reports and --bucket find a bucket by its name (unique among its
    // siblings: the parent's symbol table checks that).
    if (!module.getSymName() || !isa_and_nonnull<ModuleOp>(op->getParentOp()))
      return op->emitError() << "a module with 'tg.bucket' must be named "
                                "(@seq<S>_tiles<T>) and nested in the module "
                                "of all buckets";
    return success();
  }
  if (name == "tg.loss_reduction") {
    if (!isa<LossReductionAttr>(attr.getValue()))
      return op->emitError() << "'tg.loss_reduction' must be "
                                "#tg.loss_reduction<token>, <sample> or "
                                "<square>, got "
                             << attr.getValue();
    return success();
  }
  if (name == getMemoryPlanAttrName()) {
    if (!isa<MemoryPlanAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a #tg.memory_plan";
    return success();
  }
  if (name == getDataParallelAttrName()) {
    if (!isa<DataParallelAttr>(attr.getValue()))
      return op->emitError() << "'" << name
                             << "' must be a #tg.data_parallel";
    return success();
  }
  if (name == "tg.zero_buckets") {
    // One array of parameter names per gradient bucket.
    auto buckets = dyn_cast<ArrayAttr>(attr.getValue());
    bool ok = buckets && llvm::all_of(buckets, [](Attribute bucket) {
                auto names = dyn_cast<ArrayAttr>(bucket);
                return names && !names.empty() &&
                       llvm::all_of(names, llvm::IsaPred<StringAttr>);
              });
    if (!ok)
      return op->emitError() << "'tg.zero_buckets' must be an array of "
                                "non-empty arrays of parameter names";
    return success();
  }
  if (name == "tg.zero_params") {
    // The parameters ZeRO stage 3 replaced by shards: name, type, init.
    auto params = dyn_cast<ArrayAttr>(attr.getValue());
    bool ok = params && llvm::all_of(params, [](Attribute p) {
                auto d = dyn_cast<DictionaryAttr>(p);
                auto type = d ? d.getAs<TypeAttr>("type") : TypeAttr();
                auto tensor =
                    type ? dyn_cast<RankedTensorType>(type.getValue())
                         : RankedTensorType();
                auto init = d ? d.getAs<StringAttr>("init") : StringAttr();
                return d && d.getAs<StringAttr>("name") && tensor &&
                       isWithinTensorCeiling(tensor) &&
                       (tensor.getElementType().isBF16() ||
                        tensor.getElementType().isF16() ||
                        tensor.getElementType().isF32()) &&
                       (!d.get("init") ||
                        (init && succeeded(parseInitializer(init))));
              });
    if (!ok)
      return op->emitError()
             << "'tg.zero_params' must be an array of {name, type[, init]} "
                "dictionaries (type a static bf16, f16 or f32 tensor "
                "type of at most 1 TiB, init as tg.init spells it)";
    return success();
  }
  if (isa<ModuleOp>(op))
    return verifyModuleAttribute(op, attr);
  return op->emitError() << "unknown attribute '" << name
                         << "' on an operation; allowed: tg.scope, tg.phase, "
                            "tg.alloc, tg.workspace, tg.memory_plan, tg.remat, "
                            "tg.data_parallel, tg.zero_buckets, tg.zero_params";
}

/// Shared by arguments and results: both carry a name and a kind, arguments
/// also the trainable flag.
static LogicalResult verifyValueAttribute(Operation *op, NamedAttribute attr,
                                          bool isArgument) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  if (name == TGDialect::getNameAttrName()) {
    auto str = dyn_cast<StringAttr>(value);
    if (!str || str.getValue().empty())
      return op->emitError() << "'" << name << "' must be a non-empty string";
    return success();
  }
  if (name == TGDialect::getKindAttrName()) {
    auto str = dyn_cast<StringAttr>(value);
    bool known = str && llvm::StringSwitch<bool>(str.getValue())
                            .Cases("param", "input", "master", "exp_avg",
                                   "exp_avg_sq", "step", "loss", "grad", true)
                            .Default(false);
    if (!known)
      return op->emitError()
             << "'" << name << "' must be one of \"param\", \"input\", "
             << "\"master\", \"exp_avg\", \"exp_avg_sq\", \"step\", \"loss\", "
             << "\"grad\"; "
             << "got " << value;
    return success();
  }
  if (isArgument && name == TGDialect::getInitAttrName()) {
    auto str = dyn_cast<StringAttr>(value);
    if (!str || failed(parseInitializer(str.getValue())))
      return op->emitError()
             << "'" << name << "' must be \"zeros\", \"ones\", "
             << "\"normal:<std>\" or \"constant:<value>\", got " << value;
    return success();
  }
  if (isArgument && name == TGDialect::getTrainableAttrName()) {
    if (!isa<UnitAttr>(value))
      return op->emitError() << "'" << name << "' must be a unit attribute";
    return success();
  }
  return op->emitError() << "unknown " << (isArgument ? "argument" : "result")
                         << " attribute '" << name << "'; allowed: tg.name, "
                         << "tg.kind"
                         << (isArgument ? ", tg.trainable, tg.init" : "");
}

LogicalResult TGDialect::verifyRegionArgAttribute(Operation *op,
                                                  unsigned /*regionIndex*/,
                                                  unsigned /*argIndex*/,
                                                  NamedAttribute attr) {
  return verifyValueAttribute(op, attr, /*isArgument=*/true);
}

LogicalResult TGDialect::verifyRegionResultAttribute(Operation *op,
                                                     unsigned /*regionIndex*/,
                                                     unsigned /*resultIndex*/,
                                                     NamedAttribute attr) {
  return verifyValueAttribute(op, attr, /*isArgument=*/false);
}
