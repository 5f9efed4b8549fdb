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

def TG_KernelOpInterface : OpInterface<"KernelOpInterface"> {
  let cppNamespace = "::mlir::tg";
  let description = [{
    The runtime call that runs an op: which `ivl_*` entry point, and what
    goes in each of its C parameters (tg::KernelCall). Every tg op states it
    in its ODS entry (the `kernelCall` field of `TG_Op`); the EmitC lowering
    and the interpreter both execute from it. Ops that are views of their
    operands' storage (`tg.reshape`, `tg.comm_wait`) leave the entry unset.
  }];
  let methods = [
    InterfaceMethod<
      "Fills `call` with the kernel and its arguments.",
      "void", "describeKernelCall", (ins "::mlir::tg::KernelCall &":$call)>,
  ];
}

def TG_StorageOpInterface : OpInterface<"StorageOpInterface"> {
  let cppNamespace = "::mlir::tg";
  let description = [{
    How an op's results share storage with its operands, as the memory plan,
    its checker, the lowering and the interpreter all need it. Every tg op
    states it in its ODS entry (the `inPlaceOperands` and `storageSource`
    fields of `TG_Op`); tg::canWriteInPlace and tg::storageSource read it.
  }];
  let methods = [
    InterfaceMethod<
      "Whether the kernel may write its first result over operand "
      "`operand` (it reads each element before writing it); the planner "
      "also needs the shapes and element widths to match.",
      "bool", "mayOverwriteOperand", (ins "unsigned":$operand)>,
    InterfaceMethod<
      "The operand whose storage result `result` is (a view or an in-place "
      "update), or null when the result gets its own buffer.",
      "::mlir::Value", "getStorageSource", (ins "unsigned":$result)>,
    InterfaceMethod<
      "Bytes of scratch memory the kernel needs while it runs (0: none); "
      "the planner places it in the arena for the op's duration "
      "(`tg.workspace`).",
      "int64_t", "getWorkspaceBytes", (ins)>,
  ];
}

#endif // INTERNVL_DIALECT_TG_IR_TGINTERFACES_TD
