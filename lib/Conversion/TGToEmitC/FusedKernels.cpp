//===- FusedKernels.cpp - generated elementwise kernels in EmitC ----------===//
//
// Each fused group becomes
//
//   static [__global__] void ivl_fused_N(ivl_tensor leaf..., ivl_tensor out,
//                                        int64_t n) {
//     for (int64_t i = ivl::fused::firstIndex(); i < n;
//          i += ivl::fused::indexStride()) { ... }
//   }
//
// whose body evaluates the group's ops on f32 scalars with the same
// operations, in the same order, as the runtime's kernels (Scalar.h for the
// activations), rounding each intermediate to its element type.
//
//===----------------------------------------------------------------------===//

#include "internvl/Conversion/TGToEmitC/ElementwiseFusion.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::tg;

/// "Bf16", "F16" or "F32": the suffix of the FusedSupport.h helpers.
static StringRef typeSuffix(Type t) {
  Type e = cast<ShapedType>(t).getElementType();
  if (e.isBF16())
    return "Bf16";
  if (e.isF16())
    return "F16";
  return "F32";
}

/// An exact f32 literal (hexadecimal).
static std::string floatLiteral(float v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%af", static_cast<double>(v));
  return s;
}

namespace {

/// Builds one kernel's loop body.
class KernelBody {
public:
  KernelBody(OpBuilder &b, Location loc, const FusedGroup &group,
             ValueRange leafArgs, Value index)
      : b(b), loc(loc), group(group), index(index) {
    for (auto [leaf, arg] : llvm::zip(group.leaves, leafArgs))
      leafTensor[leaf] = arg;
  }

  /// The f32 value of each op of the group, in order; returns the output's.
  FailureOr<Value> build();

private:
  Type f32() { return b.getF32Type(); }
  Value callF32(StringRef callee, ValueRange operands) {
    return b.create<emitc::CallOpaqueOp>(loc, TypeRange{f32()}, callee,
                                         operands)
        .getResult(0);
  }
  Value constant(float v) {
    return b.create<emitc::LiteralOp>(loc, f32(), floatLiteral(v));
  }
  /// A leaf's element for the current index, loaded once.
  Value load(Value leaf);
  /// The f32 value of `v` (a leaf or an earlier result of the group).
  Value scalar(Value v) {
    if (Value s = values.lookup(v))
      return s;
    return load(v);
  }
  FailureOr<Value> compute(Operation *op);

  OpBuilder &b;
  Location loc;
  const FusedGroup &group;
  Value index;
  llvm::DenseMap<Value, Value> leafTensor, values;
};

} // namespace

Value KernelBody::load(Value leaf) {
  auto leafType = cast<ShapedType>(leaf.getType());
  auto outType = cast<ShapedType>(group.output().getType());
  Value at = index;
  int64_t n = leafType.getNumElements();
  if (n != outType.getNumElements()) {
    // Trailing broadcast: the leaf repeats every n elements.
    Value period = b.create<emitc::ConstantOp>(loc, b.getI64Type(),
                                               b.getI64IntegerAttr(n));
    at = b.create<emitc::RemOp>(loc, b.getI64Type(), index, period);
  }
  Value v = callF32(("ivl::fused::load" + typeSuffix(leafType)).str(),
                    {leafTensor.lookup(leaf), at});
  values[leaf] = v;
  return v;
}

FailureOr<Value> KernelBody::compute(Operation *op) {
  auto arith = [&](auto tag) -> Value {
    using BinaryOp = decltype(tag);
    return b.create<BinaryOp>(loc, f32(), scalar(op->getOperand(0)),
                              scalar(op->getOperand(1)));
  };
  return llvm::TypeSwitch<Operation *, FailureOr<Value>>(op)
      .Case([&](AddOp) { return arith(emitc::AddOp()); })
      .Case([&](SubOp) { return arith(emitc::SubOp()); })
      .Case([&](MulOp) { return arith(emitc::MulOp()); })
      .Case([&](DivOp) { return arith(emitc::DivOp()); })
      .Case([&](NegOp n) -> Value {
        return b.create<emitc::UnaryMinusOp>(loc, f32(), scalar(n.getInput()));
      })
      .Case([&](ScaleOp s) -> Value {
        float factor = static_cast<float>(s.getFactor().convertToDouble());
        return b.create<emitc::MulOp>(loc, f32(), scalar(s.getInput()),
                                      constant(factor));
      })
      .Case([&](CastOp c) { return scalar(c.getInput()); })
      .Case([&](GeluOp g) {
        return callF32(g.getApproximate() == GeluApproximation::Tanh
                           ? "ivl::scalar::geluTanh"
                           : "ivl::scalar::geluErf",
                       {scalar(g.getInput())});
      })
      .Case([&](SiluOp s) {
        return callF32("ivl::scalar::silu", {scalar(s.getInput())});
      })
      .Case([&](GeluGradOp g) -> Value {
        Value d = callF32(g.getApproximate() == GeluApproximation::Tanh
                              ? "ivl::scalar::geluTanhDerivative"
                              : "ivl::scalar::geluErfDerivative",
                          {scalar(g.getInput())});
        return b.create<emitc::MulOp>(loc, f32(), scalar(g.getGrad()), d);
      })
      .Case([&](SiluGradOp s) -> Value {
        Value d =
            callF32("ivl::scalar::siluDerivative", {scalar(s.getInput())});
        return b.create<emitc::MulOp>(loc, f32(), scalar(s.getGrad()), d);
      })
      .Default([&](Operation *) -> FailureOr<Value> {
        return op->emitError("cannot be part of a fused kernel");
      });
}

FailureOr<Value> KernelBody::build() {
  Value last;
  for (Operation *op : group.ops) {
    FailureOr<Value> v = compute(op);
    if (failed(v))
      return failure();
    last = *v;
    // Later ops read the value as its kernel would have stored it.
    if (op != group.ops.back()) {
      StringRef suffix = typeSuffix(op->getResult(0).getType());
      if (suffix != "F32")
        last = callF32(("ivl::fused::round" + suffix).str(), {last});
    }
    values[op->getResult(0)] = last;
  }
  return last;
}

LogicalResult FusedKernelEmitter::emitKernel(OpBuilder &b, Location loc,
                                             const FusedGroup &group) {
  MLIRContext *ctx = b.getContext();
  Type tensor = emitc::OpaqueType::get(ctx, "ivl_tensor");
  SmallVector<Type> inputs(group.leaves.size() + 1, tensor);
  inputs.push_back(b.getI64Type());
  auto fn = b.create<emitc::FuncOp>(loc, group.name,
                                    FunctionType::get(ctx, inputs, {}));
  SmallVector<StringRef> specifiers = {"static"};
  if (target == StepTarget::Cuda)
    specifiers.push_back("__global__");
  fn.setSpecifiersAttr(b.getStrArrayAttr(specifiers));

  OpBuilder::InsertionGuard guard(b);
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ValueRange args = entry->getArguments();
  Value out = args[group.leaves.size()];
  Value n = args.back();
  Type i64 = b.getI64Type();
  Value first =
      b.create<emitc::CallOpaqueOp>(loc, i64, "ivl::fused::firstIndex",
                                    ValueRange())
          .getResult(0);
  Value stride =
      b.create<emitc::CallOpaqueOp>(loc, i64, "ivl::fused::indexStride",
                                    ValueRange())
          .getResult(0);
  auto loop = b.create<emitc::ForOp>(loc, first, n, stride);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(loop.getBody());
    KernelBody body(b, loc, group, args.take_front(group.leaves.size()),
                    loop.getInductionVar());
    FailureOr<Value> result = body.build();
    if (failed(result))
      return failure();
    StringRef suffix = typeSuffix(group.output().getType());
    b.create<emitc::CallOpaqueOp>(
        loc, TypeRange(), ("ivl::fused::store" + suffix).str(),
        ValueRange{out, loop.getInductionVar(), *result});
  }
  b.create<emitc::ReturnOp>(loc, Value());
  return success();
}

LogicalResult FusedKernelEmitter::emitKernels(OpBuilder &b, Location loc) {
  for (const FusedGroup &group : plan.groups) {
    b.create<emitc::VerbatimOp>(loc, "// " + group.describe());
    if (failed(emitKernel(b, loc, group)))
      return failure();
  }
  return success();
}

Value FusedKernelEmitter::launch(OpBuilder &b, Location loc,
                                 const FusedGroup &group, Value ctx,
                                 ArrayRef<Value> views) {
  SmallVector<Value> operands = {ctx};
  operands.append(views.begin(), views.end());
  int64_t n = cast<ShapedType>(group.output().getType()).getNumElements();
  SmallVector<Attribute> order = {
      b.getIndexAttr(0), emitc::OpaqueAttr::get(b.getContext(), group.name),
      emitc::OpaqueAttr::get(b.getContext(), std::to_string(n))};
  for (size_t i = 0; i < views.size(); ++i)
    order.push_back(b.getIndexAttr(i + 1));
  return b
      .create<emitc::CallOpaqueOp>(
          loc, TypeRange{emitc::OpaqueType::get(b.getContext(), "ivl_status")},
          "ivl::fused::launch", operands, b.getArrayAttr(order))
      .getResult(0);
}
