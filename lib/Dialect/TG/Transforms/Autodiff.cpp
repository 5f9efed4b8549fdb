//===- Autodiff.cpp - @forward to @train_step -----------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Dialect/TG/Transforms/ReverseMode.h"
#include "internvl/Support/PassOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::tg {
#define GEN_PASS_DEF_TGAUTODIFF
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;

namespace {

StringRef argString(func::FuncOp func, unsigned i, StringRef attr) {
  auto value = func.getArgAttrOfType<StringAttr>(i, attr);
  return value ? value.getValue() : StringRef();
}

DictionaryAttr valueAttrs(Builder &b, StringRef name, StringRef kind) {
  return b.getDictionaryAttr(
      {b.getNamedAttr(TGDialect::getNameAttrName(), b.getStringAttr(name)),
       b.getNamedAttr(TGDialect::getKindAttrName(), b.getStringAttr(kind))});
}

/// The module path of a parameter: its name without ".weight"/".bias".
StringRef moduleOf(StringRef param) {
  size_t dot = param.rfind('.');
  return dot == StringRef::npos ? param : param.take_front(dot);
}

struct AutodiffPass : public internvl::PassWithOptionErrors<tg::impl::TGAutodiffBase<AutodiffPass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  void runOnOperation() override;
};

void AutodiffPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto forward = module.lookupSymbol<func::FuncOp>(forwardName);
  if (!forward) {
    module.emitError() << "--tg-autodiff: no function @" << forwardName
                       << " to differentiate";
    return signalPassFailure();
  }
  if (failed(expectPlannableBody(forward, "--tg-autodiff")))
    return signalPassFailure();
  if (module.lookupSymbol("train_step")) {
    module.emitError() << "--tg-autodiff: the module already has @train_step";
    return signalPassFailure();
  }
  auto lossType = forward.getNumResults() == 1
                      ? dyn_cast<RankedTensorType>(forward.getResultTypes()[0])
                      : RankedTensorType();
  if (!lossType || lossType.getRank() != 0 ||
      !lossType.getElementType().isF32()) {
    forward.emitOpError() << "must return exactly one scalar f32 loss to be "
                             "differentiated";
    return signalPassFailure();
  }

  // The optimizer state and the step's results are named after the
  // parameters they belong to.
  llvm::StringSet<> names;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    if (argString(forward, i, TGDialect::getKindAttrName()) != "param" ||
        !forward.getArgAttr(i, TGDialect::getTrainableAttrName()))
      continue;
    StringRef name = argString(forward, i, TGDialect::getNameAttrName());
    if (name.empty() || !names.insert(name).second) {
      forward.emitError() << "--tg-autodiff: trainable parameter #" << i
                          << " of @" << forwardName
                          << (name.empty() ? " has no tg.name"
                                           : " has the tg.name of another, '" +
                                                 name.str() + "'")
                          << "; each needs its own";
      return signalPassFailure();
    }
  }

  OpBuilder b(module.getContext());
  b.setInsertionPointAfter(forward);
  auto step = cast<func::FuncOp>(b.clone(*forward));
  step.setName("train_step");
  Block &body = step.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  Value loss = ret.getOperand(0);
  Location loc = step.getLoc();

  // The step counter: drop_path's input if the forward has one.
  Value stepValue;
  for (unsigned i = 0; i < step.getNumArguments(); ++i)
    if (argString(step, i, TGDialect::getNameAttrName()) == "step")
      stepValue = step.getArgument(i);
  if (!stepValue) {
    step.insertArgument(step.getNumArguments(),
                        RankedTensorType::get({}, b.getI64Type()),
                        valueAttrs(b, "step", "input"), loc);
    stepValue = step.getArgument(step.getNumArguments() - 1);
  }

  SmallVector<unsigned> trainable;
  for (unsigned i = 0; i < step.getNumArguments(); ++i)
    if (argString(step, i, TGDialect::getKindAttrName()) == "param" &&
        step.getArgAttr(i, TGDialect::getTrainableAttrName()))
      trainable.push_back(i);
  SmallVector<Value> wrt;
  for (unsigned i : trainable)
    wrt.push_back(step.getArgument(i));

  int64_t backwardOps = 0;
  FailureOr<SmallVector<Value>> grads =
      buildReverseMode(body, loss, wrt, &backwardOps);
  if (failed(grads))
    return signalPassFailure();
  numBackwardOps = backwardOps;

  // Parameters the loss reaches get AdamW; the rest stay as they are.
  SmallVector<std::pair<unsigned, Value>> updated;
  for (auto [i, g] : llvm::zip(trainable, *grads))
    if (g)
      updated.push_back({i, g});
  int64_t params = 0;
  for (unsigned i = 0; i < step.getNumArguments(); ++i)
    params += argString(step, i, TGDialect::getKindAttrName()) == "param";
  numUpdatedParams = updated.size();
  numFrozenParams = params - updated.size();

  SmallVector<Value> results = {loss};
  SmallVector<DictionaryAttr> resultAttrs = {valueAttrs(b, "loss", "loss")};
  b.setInsertionPoint(ret);
  auto tag = [&](Operation *op, StringRef scope) {
    op->setAttr(TGDialect::getScopeAttrName(), b.getStringAttr(scope));
    setPhase(op, Phase::Optimizer);
  };
  if (!updated.empty()) {
    SmallVector<Value> gradValues;
    for (auto &entry : updated)
      gradValues.push_back(entry.second);
    auto scalar = RankedTensorType::get({}, b.getF32Type());
    auto norm = b.create<GlobalNormOp>(loc, scalar, gradValues);
    tag(norm, "optimizer");
    auto scale = b.create<ClipScaleOp>(loc, scalar, norm,
                                       b.getF64FloatAttr(maxGradNorm));
    tag(scale, "optimizer");

    for (auto [index, grad] : updated) {
      std::string name =
          argString(step, index, TGDialect::getNameAttrName()).str();
      auto paramType =
          cast<RankedTensorType>(step.getArgument(index).getType());
      auto stateType =
          RankedTensorType::get(paramType.getShape(), b.getF32Type());
      auto addState = [&](StringRef suffix, StringRef kind) {
        step.insertArgument(step.getNumArguments(), stateType,
                            valueAttrs(b, name + "." + suffix.str(), kind),
                            loc);
        return step.getArgument(step.getNumArguments() - 1);
      };
      // Mixed precision keeps an f32 master copy; an f32 parameter is its
      // own master (as torch.optim.AdamW on f32 parameters), so no copy.
      bool ownMaster = paramType.getElementType().isF32();
      Value master = ownMaster ? step.getArgument(index)
                               : addState("master", "master");
      Value m = addState("exp_avg", "exp_avg");
      Value v = addState("exp_avg_sq", "exp_avg_sq");
      double decay = paramType.getRank() >= 2 ? weightDecay.getValue() : 0.0;
      auto adamw = b.create<AdamWOp>(
          loc, stateType, stateType, stateType, paramType, master, m, v, grad,
          scale, stepValue, b.getF64FloatAttr(lr), b.getF64FloatAttr(beta1),
          b.getF64FloatAttr(beta2), b.getF64FloatAttr(epsilon),
          b.getF64FloatAttr(decay));
      tag(adamw, moduleOf(name));
      results.push_back(adamw.getNewParam());
      resultAttrs.push_back(valueAttrs(b, name, "param"));
      if (!ownMaster) {
        results.push_back(adamw.getNewMaster());
        resultAttrs.push_back(valueAttrs(b, name + ".master", "master"));
      }
      results.append({adamw.getNewExpAvg(), adamw.getNewExpAvgSq()});
      resultAttrs.append({valueAttrs(b, name + ".exp_avg", "exp_avg"),
                          valueAttrs(b, name + ".exp_avg_sq", "exp_avg_sq")});
    }
    if (emitGradients)
      for (auto [index, grad] : updated) {
        results.push_back(grad);
        resultAttrs.push_back(valueAttrs(
            b,
            argString(step, index, TGDialect::getNameAttrName()).str() +
                ".grad",
            "grad"));
      }
  }
  b.create<func::ReturnOp>(loc, results);
  ret.erase();
  step.setType(b.getFunctionType(body.getArgumentTypes(),
                                 ValueRange(results).getTypes()));
  step.setAllResultAttrs(resultAttrs);
}

} // namespace
