//===- TGDialect.td - training-graph dialect definition ----*- tablegen -*-===//
//
// The `tg` dialect describes one training step of an InternVL-family model at
// tensor level: forward, loss, backward and optimizer, with static shapes.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_IR_TGDIALECT_TD
#define INTERNVL_DIALECT_TG_IR_TGDIALECT_TD

include "mlir/IR/OpBase.td"

def TG_Dialect : Dialect {
  let name = "tg";
  let cppNamespace = "::mlir::tg";
  let summary = "Training graphs of InternVL-family models";
  let description = [{
    The `tg` dialect holds the training step of an InternVL model as a graph of
    tensor operations with static shapes: the forward pass (InternViT vision
    encoder, pixel-shuffle MLP projector, decoder-only LLM), the loss, the
    backward pass and the optimizer update.

    Values are builtin ranked tensors of `bf16`, `f16`, `f32`, `i64` or `i1`.
    Every op may carry the discardable attribute `tg.scope`, the Hugging Face
    module path it comes from (`vision_model.encoder.layers.3.attn`); memory
    reports and recomputation policies are keyed on it. Function arguments
    carry `tg.name` (the Hugging Face parameter or input name) and, for
    parameters, `tg.trainable`.

    Attention follows flash-attention semantics: it returns the output and the
    row logsumexp and never materialises the S x S score matrix, so backward
    needs only the saved logsumexp. Training graphs have no KV cache.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Name of the discardable attribute that holds an op's module path.
    static constexpr ::llvm::StringLiteral getScopeAttrName() {
      return ::llvm::StringLiteral("tg.scope");
    }
    /// Name of the argument attribute that holds a parameter or input name.
    static constexpr ::llvm::StringLiteral getNameAttrName() {
      return ::llvm::StringLiteral("tg.name");
    }
    /// Name of the unit argument attribute that marks a trainable parameter.
    static constexpr ::llvm::StringLiteral getTrainableAttrName() {
      return ::llvm::StringLiteral("tg.trainable");
    }
    /// Name of the discardable attribute that marks ops autodiff and remat
    /// create: a #tg.phase (backward, optimizer or recompute).
    static constexpr ::llvm::StringLiteral getPhaseAttrName() {
      return ::llvm::StringLiteral("tg.phase");
    }
    /// Name of the argument attribute that says how a parameter is
    /// initialised: "zeros", "ones", "normal:<std>", "constant:<value>".
    static constexpr ::llvm::StringLiteral getInitAttrName() {
      return ::llvm::StringLiteral("tg.init");
    }
    /// Name of the function attribute holding the #tg.memory_plan.
    static constexpr ::llvm::StringLiteral getMemoryPlanAttrName() {
      return ::llvm::StringLiteral("tg.memory_plan");
    }
    /// Name of the function attribute holding the #tg.data_parallel
    /// settings of a step --tg-data-parallel rewrote.
    static constexpr ::llvm::StringLiteral getDataParallelAttrName() {
      return ::llvm::StringLiteral("tg.data_parallel");
    }
    /// Name of the argument attribute that says what an argument is
    /// ("param", "input", "master", "exp_avg", "exp_avg_sq", "step"; results
    /// also "loss" and "grad").
    static constexpr ::llvm::StringLiteral getKindAttrName() {
      return ::llvm::StringLiteral("tg.kind");
    }
  }];
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def TG_FloatElement : AnyTypeOf<[BF16, F16, F32]>;

/// No tensor holds more than 1 TiB (ivl::kMaxTensorBytes): a verified op's
/// element counts, byte sizes and strides cannot overflow.
def TG_WithinCeilingPred : CPred<
    "::mlir::tg::isWithinTensorCeiling(::llvm::cast<::mlir::ShapedType>($_self))">;

class TG_TensorOf<list<Type> allowedTypes>
    : RankedTensorOf<allowedTypes, [HasStaticShapePred, TG_WithinCeilingPred],
                     "statically shaped tensor (at most 1 TiB)">;

def TG_Tensor : TG_TensorOf<[BF16, F16, F32, I64, I1]>;
def TG_FloatTensor : TG_TensorOf<[BF16, F16, F32]>;
def TG_F32Tensor : TG_TensorOf<[F32]>;
def TG_I64Tensor : TG_TensorOf<[I64]>;

def TG_F32Scalar : Type<
    And<[TensorRankOf<[F32], [0]>.predicate, HasStaticShapePred]>,
    "0-d tensor of 32-bit float", "::mlir::RankedTensorType">;
def TG_I64Scalar : Type<
    And<[TensorRankOf<[I64], [0]>.predicate, HasStaticShapePred]>,
    "0-d tensor of 64-bit signless integer", "::mlir::RankedTensorType">;

#endif // INTERNVL_DIALECT_TG_IR_TGDIALECT_TD
