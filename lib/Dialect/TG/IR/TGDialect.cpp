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
  if (name == "tg.grad_checkpoint") {
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
                            "tg.zero_stage, tg.world_size, "
                            "tg.reduce_bucket_size, tg.allgather_bucket_size";
}

/// The settings --tg-data-parallel recorded on the step it rewrote: the
/// planner and the lowering read them as one rank's.
namespace {
/// An integer entry of a discardable dictionary attribute and its range.
struct IntegerEntry {
  StringRef name;
  int64_t min, max;
  bool required;
};
} // namespace

static LogicalResult verifyIntegerEntries(Operation *op, StringRef attrName,
                                          DictionaryAttr dict,
                                          ArrayRef<IntegerEntry> keys) {
  for (const IntegerEntry &key : keys) {
    Attribute value = dict.get(key.name);
    if (!value && !key.required)
      continue;
    auto integer = dyn_cast_or_null<IntegerAttr>(value);
    if (integer && integer.getInt() >= key.min && integer.getInt() <= key.max)
      continue;
    InFlightDiagnostic diag = op->emitError();
    diag << "'" << attrName << "' needs " << key.name
         << " as an integer in [" << key.min << ", "
         << (key.max == INT64_MAX ? std::string("inf")
                                  : std::to_string(key.max))
         << "], got ";
    if (value)
      diag << value;
    else
      diag << "none";
    return diag;
  }
  return success();
}

static LogicalResult verifyDataParallel(Operation *op, DictionaryAttr dict) {
  static const IntegerEntry keys[] = {
      {"world_size", 1, kMaxWorldSize, true},
      {"zero_stage", 0, 3, true},
      {"buckets", 0, INT64_MAX, false},
      {"frozen_buckets", 0, INT64_MAX, false},
      {"reduce_bucket_size", 1, INT64_MAX, false},
      {"allgather_bucket_size", 1, INT64_MAX, false}};
  if (failed(verifyIntegerEntries(op, "tg.data_parallel", dict, keys)))
    return failure();
  for (NamedAttribute entry : dict)
    if (!llvm::any_of(keys, [&](const IntegerEntry &key) {
          return key.name == entry.getName().getValue();
        }))
      return op->emitError()
             << "'tg.data_parallel' has an unknown entry '"
             << entry.getName().getValue()
             << "'; allowed: world_size, zero_stage, buckets, "
                "frozen_buckets, reduce_bucket_size, allgather_bucket_size";
  return success();
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
  if (name == "tg.memory_plan" || name == "tg.data_parallel") {
    auto dict = dyn_cast<DictionaryAttr>(attr.getValue());
    if (!dict)
      return op->emitError() << "'" << name << "' must be a dictionary";
    if (name == "tg.data_parallel")
      return verifyDataParallel(op, dict);
    // The plan's settings, as the reports and the lowering read them.
    return verifyIntegerEntries(op, name, dict,
                                {{"world_size", 1, kMaxWorldSize, false},
                                 {"zero_stage", 0, 3, false}});
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
