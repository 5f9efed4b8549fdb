//===- TGDialect.cpp - training-graph dialect --------------------------------===//

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

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

#include "internvl/Dialect/TG/IR/TGOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "internvl/Dialect/TG/IR/TGAttrs.cpp.inc"

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
  return op->emitError() << "unknown module attribute '" << name
                         << "'; allowed: tg.model, tg.grad_checkpoint";
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
    auto phase = dyn_cast<StringAttr>(attr.getValue());
    if (!phase || !llvm::is_contained({"backward", "optimizer", "recompute"},
                                      phase.getValue()))
      return op->emitError() << "'" << name
                             << "' must be \"backward\", \"optimizer\" or "
                                "\"recompute\" (forward ops carry none), got "
                             << attr.getValue();
    return success();
  }
  if (isa<ModuleOp>(op))
    return verifyModuleAttribute(op, attr);
  return op->emitError() << "unknown attribute '" << name
                         << "' on an operation; allowed: tg.scope, tg.phase";
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
    bool known =
        str && llvm::StringSwitch<bool>(str.getValue())
                   .Cases("param", "input", "master", "exp_avg", "exp_avg_sq",
                          "step", "loss", "grad", true)
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
                         << "tg.kind" << (isArgument ? ", tg.trainable, tg.init" : "");
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
