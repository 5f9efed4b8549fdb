//===- TGInterfaces.td - tg op interfaces ------------------*- tablegen -*-===//

#ifndef INTERNVL_DIALECT_TG_IR_TGINTERFACES_TD
#define INTERNVL_DIALECT_TG_IR_TGINTERFACES_TD

include "mlir/IR/OpBase.td"

def TG_CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::mlir::tg";
  let description = [{
    The work one execution of an op does: floating-point operations and bytes
    moved to and from device memory. Recomputation decisions weigh this cost
    (on a roofline of the target GPU) against the bytes a kept value holds.

    The defaults describe an elementwise op: one FLOP per result element, every
    operand read once and every result written once. Ops that differ override
    the methods; the formulas live in `internvl/Support/CostModel.h` and are
    documented in docs/cost-model.md.
  }];
  let methods = [
    InterfaceMethod<
      "Floating-point operations of one execution (a fused multiply-add "
      "counts as two).",
      "int64_t", "getFlops", (ins), [{}], [{
        return ::mlir::tg::detail::defaultFlops($_op);
      }]>,
    InterfaceMethod<
      "Bytes read from device memory by one execution.",
      "int64_t", "getBytesRead", (ins), [{}], [{
        return ::mlir::tg::detail::defaultBytesRead($_op);
      }]>,
    InterfaceMethod<
      "Bytes written to device memory by one execution.",
      "int64_t", "getBytesWritten", (ins), [{}], [{
        return ::mlir::tg::detail::defaultBytesWritten($_op);
      }]>,
  ];
}

def TG_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::tg";
  let description = [{
    Reverse-mode differentiation rule of a forward op. `--tg-autodiff` calls
    it with the gradient of each result (a null value where a result has no
    gradient) and asks for the gradients of the operands marked in `needed`;
    the op emits the ops that compute them at the builder's insertion point
    and returns one value per operand (null where not needed). The rules use
    only values the forward pass already has, so activations cross from
    forward to backward as plain SSA values.
  }];
  let methods = [
    InterfaceMethod<
      "Emits the operand gradients of this op.",
      "::mlir::LogicalResult", "buildGradient",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ValueRange":$resultGrads,
           "::llvm::ArrayRef<bool>":$needed,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // INTERNVL_DIALECT_TG_IR_TGINTERFACES_TD
