//===- TGOps.td - training-graph operations ----------------*- tablegen -*-===//
//
// Forward ops, the gradient ops that are not expressible with forward ops, and
// the optimizer ops of an InternVL training step. Shapes are static; every op
// verifies the shape relation between its operands and results.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_IR_TGOPS_TD
#define INTERNVL_DIALECT_TG_IR_TGOPS_TD

include "internvl/Dialect/TG/IR/TGDialect.td"
include "internvl/Dialect/TG/IR/TGInterfaces.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def TG_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "how GELU is evaluated", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"Tanh", 1, "tanh">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::tg";
}
def TG_GeluApproximationAttr :
    EnumAttr<TG_Dialect, TG_GeluApproximation, "gelu_approximation">;

def TG_PixelShuffleVersion : I32EnumAttr<"PixelShuffleVersion",
    "InternVL's ps_version", [
      I32EnumAttrCase<"V1", 1, "v1">,
      I32EnumAttrCase<"V2", 2, "v2">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::tg";
}
def TG_PixelShuffleVersionAttr :
    EnumAttr<TG_Dialect, TG_PixelShuffleVersion, "ps_version">;

def TG_Phase : I32EnumAttr<"Phase",
    "the part of the step an op belongs to (forward ops carry none)", [
      I32EnumAttrCase<"Backward", 1, "backward">,
      I32EnumAttrCase<"Optimizer", 2, "optimizer">,
      I32EnumAttrCase<"Recompute", 3, "recompute">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::tg";
}
/// `tg.phase = #tg.phase<backward>` on ops that --tg-autodiff,
/// --tg-data-parallel and --tg-remat create (tg::phaseOf, tg::setPhase).
def TG_PhaseAttr : EnumAttr<TG_Dialect, TG_Phase, "phase"> {
  let assemblyFormat = "`<` $value `>`";
}

def TG_LossReduction : I32EnumAttr<"LossReduction",
    "InternVL's --loss_reduction: the weight of each labelled token of a "
    "sample with n of them", [
      I32EnumAttrCase<"Token", 0, "token">,
      I32EnumAttrCase<"Sample", 1, "sample">,
      I32EnumAttrCase<"Square", 2, "square">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::tg";
}
/// `tg.loss_reduction = #tg.loss_reduction<square>` on a module of packed
/// steps: how its `loss_weight` input is made (1, 1/n or 1/sqrt(n)), which
/// internvl-run and the compiled runners follow when they make packs.
def TG_LossReductionAttr : EnumAttr<TG_Dialect, TG_LossReduction,
                                    "loss_reduction"> {
  let assemblyFormat = "`<` $value `>`";
}

def TG_MemorySpace : I32EnumAttr<"MemorySpace",
    "where a planned buffer lives", [
      I32EnumAttrCase<"Arena", 0, "arena">,
      I32EnumAttrCase<"Grads", 1, "grads">,
      I32EnumAttrCase<"Host", 2, "host">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::tg";
}

def TG_AllocAttr : AttrDef<TG_Dialect, "Alloc"> {
  let mnemonic = "alloc";
  let summary = "planned location of one op result";
  let description = [{
    Set by `--tg-plan-memory` (in the `tg.alloc` array of an op, one entry
    per result): the buffer holding the result lives in `space` (the step's
    transient arena, the persistent buffer of parameter gradients, or the
    pinned host buffer of offloaded activations) at byte
    `offset`, `size` bytes long. Reshape results alias their operand and
    AdamW writes the optimizer state in place, so those carry no entry.

    Example: `tg.alloc = [#tg.alloc<arena, 4096, 2048>]`
  }];
  let parameters = (ins EnumParameter<TG_MemorySpace>:$space,
                        "int64_t":$offset, "int64_t":$size);
  let assemblyFormat = "`<` $space `,` $offset `,` $size `>`";
  // Offsets and sizes are non-negative and their sum fits in int64, so that
  // every reader can add them.
  let genVerifyDecl = 1;
}

def TG_MemoryPlanAttr : AttrDef<TG_Dialect, "MemoryPlan"> {
  let mnemonic = "memory_plan";
  let summary = "what --tg-plan-memory planned for a step";
  let description = [{
    Set by `--tg-plan-memory` on the planned function (`tg.memory_plan`),
    read by the reports, the lowering and internvl-compile after
    `verifyMemoryPlan` checked it against the IR. Sizes are bytes per rank:
    the arena of transient values and its live lower bound, the persistent
    bytes by category (after ZeRO sharding), the gradient buffer, the peak
    (persistent + arena). `cublaslt_workspace` is the GEMM library's
    workspace in the arena (absent when the step has no GEMM),
    `budget_bytes` the budget --tg-remat planned for (absent without one),
    `host_bytes` the pinned host buffer of offloaded activations (absent when
    nothing is offloaded; not part of the peak).

    Example:
    `tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1,
    alignment = 256, steps = 2, arena_bytes = 512, live_lower_bound_bytes =
    512, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0,
    grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 512>`
  }];
  let parameters = (ins
    "int64_t":$zero_stage, "int64_t":$world_size, "int64_t":$alignment,
    "int64_t":$steps, "int64_t":$arena_bytes, "int64_t":$live_lower_bound_bytes,
    "int64_t":$params_bytes, "int64_t":$master_params_bytes,
    "int64_t":$grads_bytes, "int64_t":$grads_buffer_bytes,
    "int64_t":$optimizer_bytes, "int64_t":$peak_bytes,
    OptionalParameter<"AllocAttr">:$cublaslt_workspace,
    OptionalParameter<"std::optional<int64_t>">:$budget_bytes,
    DefaultValuedParameter<"int64_t", "0">:$host_bytes);
  let assemblyFormat = "`<` struct(params) `>`";
  // Each field in its range; that the fields agree with the IR is
  // verifyMemoryPlan's check.
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// params + master + grads + optimizer.
    int64_t getPersistentBytes() const {
      return getParamsBytes() + getMasterParamsBytes() + getGradsBytes() +
             getOptimizerBytes();
    }
  }];
}

def TG_BucketAttr : AttrDef<TG_Dialect, "Bucket"> {
  let mnemonic = "bucket";
  let summary = "the batch shape one step of a bucketed module is planned for";
  let description = [{
    `internvl-import --buckets` writes one nested module per bucket, each
    holding the step of batches padded to `seq` tokens and `tiles` tiles
    per sample (`tg.bucket` on the nested module, named `@seq<S>_tiles<T>`).
    `internvl-opt` runs its pipeline on each of them.

    Example: `tg.bucket = #tg.bucket<seq = 4096, tiles = 7>`
  }];
  let parameters = (ins "int64_t":$seq, "int64_t":$tiles);
  let assemblyFormat = "`<` struct(params) `>`";
}

def TG_DataParallelAttr : AttrDef<TG_Dialect, "DataParallel"> {
  let mnemonic = "data_parallel";
  let summary = "the settings --tg-data-parallel lowered a step for";
  let description = [{
    Set by `--tg-data-parallel` on the step it rewrote into one rank's
    (`tg.data_parallel`): the planner and the lowering read its arguments as
    that rank's. `buckets` is the number of gradient buckets,
    `frozen_buckets` (ZeRO-3 only) the groups of frozen parameters sharded
    after them.

    Example: `tg.data_parallel = #tg.data_parallel<world_size = 8,
    zero_stage = 1, reduce_bucket_size = 500000000, allgather_bucket_size =
    500000000, buckets = 3>`
  }];
  let parameters = (ins
    "int64_t":$world_size, "int64_t":$zero_stage,
    "int64_t":$reduce_bucket_size, "int64_t":$allgather_bucket_size,
    "int64_t":$buckets,
    OptionalParameter<"std::optional<int64_t>">:$frozen_buckets);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

/// Forward ops that --tg-autodiff differentiates (TGGradients.cpp).
def TG_Differentiable : DeclareOpInterfaceMethods<TG_GradientOpInterface>;

/// Every tg op is pure (random ops take their randomness from attributes and
/// the step counter) and has a cost. `costMethods` names the cost methods the
/// op computes itself instead of taking the elementwise default.
///
/// `kernelCall` is the body of describeKernelCall (TG_KernelOpInterface): a
/// tg::KernelCall chain on `call` naming the runtime entry point and its
/// arguments in C parameter order, e.g.
///   call.kernel(Kernel::linear).in(getInput()).out(getResult())
/// Both the EmitC lowering and the interpreter run the op from it.
///
/// `inPlaceOperands` and `storageSource` are the storage facts
/// (TG_StorageOpInterface): the operands the kernel may overwrite with its
/// first result, and the body of getStorageSource(unsigned result).
/// `workspaceBytes` is the body of getWorkspaceBytes(): the kernel's scratch.
class TG_Op<string mnemonic, list<Trait> traits = [],
            list<string> costMethods = []> :
    Op<TG_Dialect, mnemonic,
       !listconcat([Pure,
                    DeclareOpInterfaceMethods<TG_CostOpInterface, costMethods>,
                    TG_KernelOpInterface, TG_StorageOpInterface],
                   traits)> {
  code kernelCall = "";
  list<int> inPlaceOperands = [];
  code storageSource = "return {};";
  code workspaceBytes = "return 0;";
  let extraClassDeclaration = [{
    void describeKernelCall(::mlir::tg::KernelCall &call);
    bool mayOverwriteOperand(unsigned operand);
    ::mlir::Value getStorageSource(unsigned result);
    int64_t getWorkspaceBytes();
  }];
  let extraClassDefinition = [{
    void $cppClass::describeKernelCall(::mlir::tg::KernelCall &call) {
      (void)call;
      }] # kernelCall # [{;
    }
    bool $cppClass::mayOverwriteOperand(unsigned operand) {
      return ::llvm::is_contained(std::initializer_list<unsigned>{}] #
          !interleave(inPlaceOperands, ", ") # [{}, operand);
    }
    ::mlir::Value $cppClass::getStorageSource(unsigned result) {
      (void)result;
      }] # storageSource # [{
    }
    int64_t $cppClass::getWorkspaceBytes() {
      }] # workspaceBytes # [{
    }
  }];
}

/// Elementwise binary op with numpy-style broadcasting of either operand.
class TG_BinaryOp<string mnemonic, string formula, string kind> :
    TG_Op<mnemonic, [TG_Differentiable]> {
  let inPlaceOperands = [0, 1];
  let kernelCall = "call.kernel(Kernel::binary).TG_ENUMERATOR(" # kind #
                   ").in(getLhs()).in(getRhs()).out(getResult())";
  let summary = "elementwise " # formula # " with broadcasting";
  let description = [{
    Computes `}] # formula # [{` element by element. The operands broadcast
    against each other with numpy rules (shapes aligned on the right, a
    dimension of size 1 stretches); the result has the broadcast shape. All
    element types are the same float type.

    Example:
    ```mlir
    %y = tg.}] # mnemonic # [{ %a, %b : tensor<2x8x64xbf16>, tensor<64xbf16> -> tensor<2x8x64xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$lhs, TG_FloatTensor:$rhs);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

/// Elementwise unary op on floats whose result has the operand's type.
class TG_UnaryOp<string mnemonic, list<string> costMethods = []> :
    TG_Op<mnemonic, [SameOperandsAndResultType, TG_Differentiable],
          costMethods> {
  let arguments = (ins TG_FloatTensor:$input);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Constants and elementwise ops
//===----------------------------------------------------------------------===//

def TG_FillOp : TG_Op<"fill", [], ["getFlops"]> {
  let summary = "tensor filled with one value";
  let description = [{
    Produces a tensor whose every element is `value` (rounded to the element
    type). Used for the seed of backpropagation and for zero tensors.

    Example:
    ```mlir
    %one = tg.fill 1.000000e+00 : tensor<f32>
    ```
  }];
  let arguments = (ins F64Attr:$value);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$value attr-dict `:` type($result)";
  let kernelCall = [{
    call.kernel(Kernel::fill)
        .out(getResult())
        .real(getValue().convertToDouble())
  }];
}

def TG_AddOp : TG_BinaryOp<"add", "lhs + rhs", "IVL_ADD">;
def TG_SubOp : TG_BinaryOp<"sub", "lhs - rhs", "IVL_SUB">;
def TG_MulOp : TG_BinaryOp<"mul", "lhs * rhs", "IVL_MUL">;
def TG_DivOp : TG_BinaryOp<"div", "lhs / rhs", "IVL_DIV">;

def TG_NegOp : TG_UnaryOp<"neg"> {
  let summary = "elementwise negation";
  let description = [{
    Example:
    ```mlir
    %y = tg.neg %x : tensor<4x8xf32>
    ```
  }];
  let kernelCall = [{
    call.kernel(Kernel::unary)
        .TG_ENUMERATOR(IVL_NEG)
        .in(getInput())
        .real(0)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_ScaleOp : TG_UnaryOp<"scale"> {
  let summary = "multiplication by a constant";
  let description = [{
    Multiplies every element by the constant `factor`.

    Example:
    ```mlir
    %y = tg.scale %x {factor = 5.000000e-01 : f64} : tensor<4x8xf32>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, F64Attr:$factor);
  let kernelCall = [{
    call.kernel(Kernel::unary)
        .TG_ENUMERATOR(IVL_SCALE)
        .in(getInput())
        .real(getFactor().convertToDouble())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_CastOp : TG_Op<"cast", [TG_Differentiable, SameOperandsAndResultShape]> {
  let summary = "element type conversion between float types";
  let description = [{
    Converts each element to the result's float type with round-to-nearest-even.

    Example:
    ```mlir
    %y = tg.cast %x : tensor<4x8xbf16> -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let kernelCall = [{
    call.kernel(Kernel::unary)
        .TG_ENUMERATOR(IVL_CAST)
        .in(getInput())
        .real(0)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_GeluOp : TG_UnaryOp<"gelu", ["getFlops"]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `x * Phi(x)`, with the error function (`approximate = none`, as
    `nn.GELU()` in InternViT and mlp1) or its tanh approximation.

    Example:
    ```mlir
    %y = tg.gelu %x : tensor<2x1025x4096xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input,
      DefaultValuedAttr<TG_GeluApproximationAttr,
                        "::mlir::tg::GeluApproximation::None">:$approximate);
  let assemblyFormat = "$input (`approximate` `=` $approximate^)? attr-dict `:` type($result)";
  let kernelCall = [{
    call.kernel(Kernel::unary)
        .TG_ENUMERATOR(IVL_GELU)
        .in(getInput())
        .real(getApproximate() == GeluApproximation::Tanh)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_SiluOp : TG_UnaryOp<"silu", ["getFlops"]> {
  let summary = "sigmoid linear unit, x * sigmoid(x)";
  let description = [{
    Example:
    ```mlir
    %y = tg.silu %gate : tensor<2x128x4864xbf16>
    ```
  }];
  let kernelCall = [{
    call.kernel(Kernel::unary)
        .TG_ENUMERATOR(IVL_SILU)
        .in(getInput())
        .real(0)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_GeluGradOp : TG_Op<"gelu_grad", [SameOperandsAndResultType], ["getFlops"]> {
  let summary = "gradient of gelu";
  let description = [{
    `grad * d gelu(x) / dx`, with the same approximation as the forward op.

    Example:
    ```mlir
    %dx = tg.gelu_grad %dy, %x : tensor<2x1025x4096xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_FloatTensor:$input,
      DefaultValuedAttr<TG_GeluApproximationAttr,
                        "::mlir::tg::GeluApproximation::None">:$approximate);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input (`approximate` `=` $approximate^)? attr-dict `:` type($result)
  }];
  let kernelCall = [{
    call.kernel(Kernel::activation_grad)
        .TG_ENUMERATOR(IVL_GELU)
        .in(getGrad())
        .in(getInput())
        .real(getApproximate() == GeluApproximation::Tanh)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_SiluGradOp : TG_Op<"silu_grad", [SameOperandsAndResultType], ["getFlops"]> {
  let summary = "gradient of silu";
  let description = [{
    `grad * s * (1 + x * (1 - s))` with `s = sigmoid(x)`.

    Example:
    ```mlir
    %dx = tg.silu_grad %dy, %x : tensor<2x128x4864xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_FloatTensor:$input);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` type($result)";
  let kernelCall = [{
    call.kernel(Kernel::activation_grad)
        .TG_ENUMERATOR(IVL_SILU)
        .in(getGrad())
        .in(getInput())
        .real(0)
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

//===----------------------------------------------------------------------===//
// Matrix products
//===----------------------------------------------------------------------===//

def TG_LinearOp : TG_Op<"linear", [TG_Differentiable], ["getFlops"]> {
  let summary = "affine map x * W^T + b in Hugging Face weight layout";
  let description = [{
    `input` is `[..., K]`, `weight` is `[N, K]` (the `nn.Linear` layout),
    the optional `bias` is `[N]`; the result is `[..., N]`. Accumulation is in
    f32; all element types are the same.

    Example:
    ```mlir
    %y = tg.linear %x, %w, %b : (tensor<2x1025x1024xbf16>, tensor<3072x1024xbf16>, tensor<3072xbf16>) -> tensor<2x1025x3072xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, TG_FloatTensor:$weight,
                       Optional<TG_FloatTensor>:$bias);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::linear)
        .in(getInput())
        .in(getWeight())
        .optionalIn(getBias())
        .out(getResult())
  }];
}

def TG_MatmulOp : TG_Op<"matmul", [TG_Differentiable], ["getFlops"]> {
  let summary = "(batched) matrix product";
  let description = [{
    `lhs` is `[batch..., M, K]` (`[batch..., K, M]` with `transpose_lhs`),
    `rhs` is `[batch..., K, N]` (`[batch..., N, K]` with `transpose_rhs`); the
    result is `[batch..., M, N]`. The batch dimensions of both operands are
    equal, or `rhs` is a matrix shared by every batch (then `lhs` may not be
    transposed and its leading dimensions all act as rows). Accumulation in f32.

    Example (the input gradient of a linear layer):
    ```mlir
    %dx = tg.matmul %dy, %w : (tensor<2x16x64xbf16>, tensor<64x32xbf16>) -> tensor<2x16x32xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$lhs, TG_FloatTensor:$rhs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::matmul)
        .in(getLhs())
        .in(getRhs())
        .integer(getTransposeLhs())
        .integer(getTransposeRhs())
        .out(getResult())
  }];
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def TG_ReshapeOp : TG_Op<"reshape", [TG_Differentiable, SameOperandsAndResultElementType],
                         ["getFlops", "getBytesRead", "getBytesWritten"]> {
  let summary = "new shape for the same elements in row-major order";
  let description = [{
    A view: it moves no data, and the memory plan lets the result share the
    operand's buffer.

    Example:
    ```mlir
    %y = tg.reshape %x : tensor<2x1025x3072xbf16> -> tensor<2x1025x3x16x64xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let storageSource = [{
    return getInput();
  }];
}

def TG_TransposeOp : TG_Op<"transpose", [TG_Differentiable, SameOperandsAndResultElementType],
                           ["getFlops"]> {
  let summary = "permutation of dimensions";
  let description = [{
    Result dimension `i` is operand dimension `permutation[i]`.

    Example:
    ```mlir
    %y = tg.transpose %x {permutation = array<i64: 0, 2, 1, 3>} : tensor<2x16x8x4xbf16> -> tensor<2x8x16x4xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::transpose)
        .in(getInput())
        .integers(getPermutation())
        .out(getResult())
  }];
}

def TG_BroadcastOp : TG_Op<"broadcast", [TG_Differentiable, SameOperandsAndResultElementType],
                           ["getFlops"]> {
  let summary = "numpy-style broadcast to a larger shape";
  let description = [{
    Shapes are aligned on the right; each operand dimension is 1 or equal to
    the result dimension.

    Example (the class token for every tile):
    ```mlir
    %y = tg.broadcast %cls : tensor<1x1x1024xbf16> -> tensor<7x1x1024xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::broadcast)
        .in(getInput())
        .out(getResult())
  }];
}

def TG_ConcatOp : TG_Op<"concat", [TG_Differentiable, SameOperandsAndResultElementType],
                        ["getFlops"]> {
  let summary = "concatenation along one dimension";
  let description = [{
    Example (class token before the patch embeddings):
    ```mlir
    %y = tg.concat %cls, %patches {dim = 1 : i64} : (tensor<7x1x1024xbf16>, tensor<7x1024x1024xbf16>) -> tensor<7x1025x1024xbf16>
    ```
  }];
  let arguments = (ins Variadic<TG_Tensor>:$inputs, I64Attr:$dim);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::concat)
        .list(getInputs())
        .integer(getDim())
        .out(getResult())
  }];
}

def TG_SliceOp : TG_Op<"slice", [TG_Differentiable, SameOperandsAndResultElementType],
                       ["getFlops", "getBytesRead"]> {
  let summary = "static box of a tensor";
  let description = [{
    Takes the elements from `offsets` with the result's shape (stride 1).

    Example (drop the class token):
    ```mlir
    %y = tg.slice %x {offsets = array<i64: 0, 1, 0>} : tensor<7x1025x1024xbf16> -> tensor<7x1024x1024xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input, DenseI64ArrayAttr:$offsets);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::slice)
        .in(getInput())
        .integers(getOffsets())
        .out(getResult())
  }];
}

def TG_PadOp : TG_Op<"pad", [TG_Differentiable, SameOperandsAndResultElementType], ["getFlops"]> {
  let summary = "zero padding (the gradient of slice)";
  let description = [{
    Surrounds the operand with `low[i]` zeros before and `high[i]` zeros after
    it in dimension `i`.

    Example:
    ```mlir
    %y = tg.pad %x {low = array<i64: 0, 1, 0>, high = array<i64: 0, 0, 0>} : tensor<7x1024x1024xbf16> -> tensor<7x1025x1024xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input, DenseI64ArrayAttr:$low,
                       DenseI64ArrayAttr:$high);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::pad)
        .in(getInput())
        .integers(getLow())
        .out(getResult())
  }];
}

def TG_ReduceSumOp : TG_Op<"reduce_sum", [TG_Differentiable], ["getFlops"]> {
  let summary = "sum over dimensions (bias and broadcast gradients)";
  let description = [{
    Sums over `dims` with f32 accumulation. The reduced dimensions are removed,
    or kept with size 1 under `keep_dims`. The result may be of another float
    type than the operand.

    Example (bias gradient of a linear layer):
    ```mlir
    %db = tg.reduce_sum %dy {dims = array<i64: 0, 1>} : tensor<2x16x64xbf16> -> tensor<64xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, DenseI64ArrayAttr:$dims,
                       UnitAttr:$keep_dims);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::reduce_sum)
        .in(getInput())
        .integers(getDims())
        .integer(getDims().size())
        .out(getResult())
  }];
}

//===----------------------------------------------------------------------===//
// Normalisation
//===----------------------------------------------------------------------===//

def TG_LayerNormOp : TG_Op<"layer_norm", [TG_Differentiable], ["getFlops"]> {
  let summary = "layer normalisation over the last dimension";
  let description = [{
    `y = (x - mean) * rstd * weight + bias` over the last dimension `D`. Also
    returns the per-row `mean` and `rstd = 1/sqrt(var + epsilon)` in f32, which
    `tg.layer_norm_grad` needs.

    Example:
    ```mlir
    %y, %mean, %rstd = tg.layer_norm %x, %w, %b {epsilon = 1.000000e-06 : f64} : (tensor<2x1025x1024xbf16>, tensor<1024xbf16>, tensor<1024xbf16>) -> (tensor<2x1025x1024xbf16>, tensor<2x1025xf32>, tensor<2x1025xf32>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, TG_FloatTensor:$weight,
                       TG_FloatTensor:$bias, F64Attr:$epsilon);
  let results = (outs TG_FloatTensor:$result, TG_F32Tensor:$mean,
                      TG_F32Tensor:$rstd);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::layer_norm)
        .in(getInput())
        .in(getWeight())
        .in(getBias())
        .real(getEpsilon().convertToDouble())
        .outs(getResults())
  }];
}

def TG_LayerNormGradOp : TG_Op<"layer_norm_grad", [], ["getFlops"]> {
  let summary = "gradient of layer_norm";
  let description = [{
    From the output gradient, the forward input, the weight and the saved
    statistics, computes the input, weight and bias gradients (weight and bias
    gradients accumulate over all rows in f32).

    Example:
    ```mlir
    %dx, %dw, %db = tg.layer_norm_grad %dy, %x, %w, %mean, %rstd : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_FloatTensor:$input,
                       TG_FloatTensor:$weight, TG_F32Tensor:$mean,
                       TG_F32Tensor:$rstd);
  let results = (outs TG_FloatTensor:$input_grad, TG_FloatTensor:$weight_grad,
                      TG_FloatTensor:$bias_grad);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::layer_norm_grad)
        .in(getGrad())
        .in(getInput())
        .in(getWeight())
        .in(getMean())
        .in(getRstd())
        .outs(getResults())
  }];
}

def TG_RmsNormOp : TG_Op<"rms_norm", [TG_Differentiable], ["getFlops"]> {
  let summary = "RMS normalisation over the last dimension";
  let description = [{
    `y = x * rstd * weight` with `rstd = 1/sqrt(mean(x^2) + epsilon)` over the
    last dimension, computed in f32. Also returns `rstd` per row.

    Example:
    ```mlir
    %y, %rstd = tg.rms_norm %x, %w {epsilon = 1.000000e-06 : f64} : (tensor<2x128x896xbf16>, tensor<896xbf16>) -> (tensor<2x128x896xbf16>, tensor<2x128xf32>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, TG_FloatTensor:$weight,
                       F64Attr:$epsilon);
  let results = (outs TG_FloatTensor:$result, TG_F32Tensor:$rstd);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::rms_norm)
        .in(getInput())
        .in(getWeight())
        .real(getEpsilon().convertToDouble())
        .outs(getResults())
  }];
}

def TG_RmsNormGradOp : TG_Op<"rms_norm_grad", [], ["getFlops"]> {
  let summary = "gradient of rms_norm";
  let description = [{
    Example:
    ```mlir
    %dx, %dw = tg.rms_norm_grad %dy, %x, %w, %rstd : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_FloatTensor:$input,
                       TG_FloatTensor:$weight, TG_F32Tensor:$rstd);
  let results = (outs TG_FloatTensor:$input_grad, TG_FloatTensor:$weight_grad);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::rms_norm_grad)
        .in(getGrad())
        .in(getInput())
        .in(getWeight())
        .in(getRstd())
        .outs(getResults())
  }];
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def TG_AttentionOp : TG_Op<"attention", [TG_Differentiable], ["getFlops"]> {
  let summary = "scaled dot-product attention with flash semantics";
  let description = [{
    `query` is `[B, S, Hq, D]`, `key` `[B, Skv, Hkv, D]` and `value`
    `[B, Skv, Hkv, Dv]` (the layout of a reshaped projection, no transpose).
    Grouped KV heads: `Hq` is a multiple of `Hkv` and query head `h` reads KV
    head `h / (Hq / Hkv)`. Returns `softmax(scale * Q K^T [+ causal mask]) V`
    as `[B, S, Hq, Dv]` and the row logsumexp of the scaled scores as
    `[B, Hq, S]` in f32. The S x Skv score matrix is never materialised.

    Packed sequences (varlen attention): the optional `cu_seqlens` `[B, N+1]`
    i64 holds each row's sample boundaries as flash_attn_varlen_func's
    cu_seqlens, `0 = c[0] <= ... <= c[N] = S` (empty samples fill unused
    capacity; a run-time check enforces the rules). A query attends only to
    keys of its own sample. `expected_samples` (default 1) is the number of
    samples the cost model assumes a row holds, in equal parts: causal
    attention over k samples of S/k tokens costs about 1/k of that over S.

    Example:
    ```mlir
    %o, %lse = tg.attention %q, %k, %v {causal, scale = 1.250000e-01 : f64} : (tensor<2x128x14x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x2x64xbf16>) -> (tensor<2x128x14x64xbf16>, tensor<2x14x128xf32>)
    %po, %plse = tg.attention %q1, %k1, %v1, %cu {causal, expected_samples = 4 : i64, scale = 1.250000e-01 : f64} : (tensor<1x256x14x64xbf16>, tensor<1x256x2x64xbf16>, tensor<1x256x2x64xbf16>, tensor<1x9xi64>) -> (tensor<1x256x14x64xbf16>, tensor<1x14x256xf32>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$query, TG_FloatTensor:$key,
                       TG_FloatTensor:$value,
                       Optional<TG_I64Tensor>:$cu_seqlens, UnitAttr:$causal,
                       F64Attr:$scale,
                       DefaultValuedAttr<I64Attr, "1">:$expected_samples);
  let results = (outs TG_FloatTensor:$output, TG_F32Tensor:$logsumexp);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::attention)
        .in(getQuery())
        .in(getKey())
        .in(getValue())
        .optionalIn(getCuSeqlens())
        .integer(getCausal())
        .real(getScale().convertToDouble())
        .outs(getResults())
  }];
}

def TG_AttentionGradOp : TG_Op<"attention_grad", [], ["getFlops"]> {
  let summary = "gradient of attention from the saved logsumexp";
  let description = [{
    Recomputes the attention probabilities block by block from `query`, `key`
    and the saved `logsumexp` and returns the query, key and value gradients.
    Needs the forward `output` for the softmax correction term
    `rowsum(dO * O)`. `cu_seqlens` and `expected_samples` as for
    `tg.attention`.

    Example:
    ```mlir
    %dq, %dk, %dv = tg.attention_grad %do, %q, %k, %v, %o, %lse {causal, scale = 1.250000e-01 : f64} : (tensor<2x128x14x64xbf16>, tensor<2x128x14x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x14x64xbf16>, tensor<2x14x128xf32>) -> (tensor<2x128x14x64xbf16>, tensor<2x128x2x64xbf16>, tensor<2x128x2x64xbf16>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_FloatTensor:$query,
                       TG_FloatTensor:$key, TG_FloatTensor:$value,
                       TG_FloatTensor:$output, TG_F32Tensor:$logsumexp,
                       Optional<TG_I64Tensor>:$cu_seqlens, UnitAttr:$causal,
                       F64Attr:$scale,
                       DefaultValuedAttr<I64Attr, "1">:$expected_samples);
  let results = (outs TG_FloatTensor:$query_grad, TG_FloatTensor:$key_grad,
                      TG_FloatTensor:$value_grad);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::attention_grad)
        .in(getGrad())
        .in(getQuery())
        .in(getKey())
        .in(getValue())
        .in(getOutput())
        .in(getLogsumexp())
        .optionalIn(getCuSeqlens())
        .integer(getCausal())
        .real(getScale().convertToDouble())
        .outs(getResults())
  }];
  // dQ accumulated in f32 and rowsum(dO * O) per query row (FlashAttention-2's
  // dq_accum and softmax_d).
  let workspaceBytes = [{
    auto q = ::llvm::cast<::mlir::RankedTensorType>(getQuery().getType());
    int64_t rows = q.getDimSize(0) * q.getDimSize(1) * q.getDimSize(2);
    return 4 * rows * q.getDimSize(3) + 4 * rows;
  }];
}

def TG_RopeOp : TG_Op<"rope", [TG_Differentiable, AllTypesMatch<["input", "result"]>], ["getFlops"]> {
  let summary = "rotary position embedding (rotate-half convention)";
  let description = [{
    Rotates `[B, S, H, D]` by position `s` (0 to S-1) with Hugging Face's
    rotate-half pairing `(i, i + D/2)`. Frequency `i` is
    `theta^(-2i/D) / freq_factors[i]` (factors default to 1; they express
    linear, Llama-3 and LongRoPE scaling), and cos/sin are multiplied by
    `attention_factor`. `inverse` applies the transposed rotation with the same
    factor, which is exactly the gradient of the forward op. With
    `cu_seqlens` (packed sequences, as for `tg.attention`) the position
    restarts at 0 at each sample's first token, as InternVL's packed
    position_ids.

    Example:
    ```mlir
    %y = tg.rope %q {theta = 1.000000e+06 : f64} : tensor<2x128x14x64xbf16>
    %yp = tg.rope %q1 samples %cu : tensor<1x9xi64> {theta = 1.000000e+06 : f64} : tensor<1x256x14x64xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input,
                       Optional<TG_I64Tensor>:$cu_seqlens, F64Attr:$theta,
                       UnitAttr:$inverse,
                       OptionalAttr<DenseF64ArrayAttr>:$freq_factors,
                       DefaultValuedAttr<F64Attr, "1.0">:$attention_factor);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`samples` $cu_seqlens^ `:` type($cu_seqlens))? attr-dict `:`
    type($result)
  }];
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::rope)
        .in(getInput())
        .optionalIn(getCuSeqlens())
        .real(getTheta().convertToDouble())
        .reals(getFreqFactors())
        .real(getAttentionFactor().convertToDouble())
        .integer(getInverse())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

//===----------------------------------------------------------------------===//
// Embeddings and multimodal plumbing
//===----------------------------------------------------------------------===//

def TG_EmbeddingOp : TG_Op<"embedding", [TG_Differentiable],
                           ["getFlops", "getBytesRead"]> {
  let summary = "row lookup in an embedding table";
  let description = [{
    `table` is `[V, H]`, `indices` any shape of i64 in `[0, V)`; the result is
    `indices.shape + [H]`.

    Example:
    ```mlir
    %e = tg.embedding %table, %ids : (tensor<151655x896xbf16>, tensor<2x128xi64>) -> tensor<2x128x896xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$table, TG_I64Tensor:$indices);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::embedding)
        .in(getTable())
        .in(getIndices())
        .out(getResult())
  }];
}

def TG_EmbeddingGradOp : TG_Op<"embedding_grad", [], ["getFlops"]> {
  let summary = "gradient of embedding: scatter-add of rows";
  let description = [{
    Adds row `grad[i]` into row `indices[i]` of a zero table of the result's
    shape `[V, H]` (f32 accumulation, in index order so the sum is
    deterministic).

    Example:
    ```mlir
    %dtable = tg.embedding_grad %dy, %ids : (tensor<2x128x896xbf16>, tensor<2x128xi64>) -> tensor<151655x896xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_I64Tensor:$indices);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::embedding_grad)
        .in(getGrad())
        .in(getIndices())
        .out(getResult())
  }];
}

def TG_ScatterImageEmbedsOp : TG_Op<"scatter_image_embeds", [TG_Differentiable], ["getFlops"]> {
  let summary = "image embeddings into the IMG_CONTEXT token positions";
  let description = [{
    `embeds` is `[B, S, H]`, `input_ids` `[B, S]`, `image_embeds` `[N, H]`. The
    result equals `embeds` except that the k-th position (in row-major order)
    whose id is `image_token_id` holds row k of `image_embeds`. The number of
    such positions must be N; a run-time check enforces it.

    With `image_flags` (`[tiles]` i64, N a multiple of tiles), InternVL's
    flags: only the rows of tiles whose flag is 1 are used, in order (a
    packed pack's padding tiles and text-only samples' dummy tiles have 0),
    and the positions must number the used rows.

    Example:
    ```mlir
    %e2 = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 151667 : i64} : (tensor<2x600x896xbf16>, tensor<2x600xi64>, tensor<512x896xbf16>) -> tensor<2x600x896xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$embeds, TG_I64Tensor:$input_ids,
                       TG_FloatTensor:$image_embeds,
                       Optional<TG_I64Tensor>:$image_flags,
                       I64Attr:$image_token_id);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::scatter_image_embeds)
        .in(getEmbeds())
        .in(getInputIds())
        .in(getImageEmbeds())
        .optionalIn(getImageFlags())
        .integer(getImageTokenId())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_GatherImageEmbedsOp : TG_Op<"gather_image_embeds", [], ["getFlops"]> {
  let summary = "rows at the IMG_CONTEXT positions (gradient of the image side)";
  let description = [{
    The inverse of `tg.scatter_image_embeds` for its `image_embeds` operand:
    row k of the `[N, H]` result is `grad` at the k-th image token position.
    With `image_flags`, the k-th used row (see `tg.scatter_image_embeds`);
    unused rows are zero.

    Example:
    ```mlir
    %dimg = tg.gather_image_embeds %dy, %ids {image_token_id = 151667 : i64} : (tensor<2x600x896xbf16>, tensor<2x600xi64>) -> tensor<512x896xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_I64Tensor:$input_ids,
                       Optional<TG_I64Tensor>:$image_flags,
                       I64Attr:$image_token_id);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::gather_image_embeds)
        .in(getGrad())
        .in(getInputIds())
        .optionalIn(getImageFlags())
        .integer(getImageTokenId())
        .out(getResult())
  }];
}

def TG_MaskImagePositionsOp : TG_Op<"mask_image_positions",
                                    [AllTypesMatch<["grad", "result"]>],
                                    ["getFlops"]> {
  let summary = "zero the IMG_CONTEXT positions (gradient of the text side)";
  let description = [{
    `grad` with every position whose id is `image_token_id` set to zero: the
    gradient that reaches the token embeddings through
    `tg.scatter_image_embeds`.

    Example:
    ```mlir
    %de = tg.mask_image_positions %dy, %ids {image_token_id = 151667 : i64} : (tensor<2x600x896xbf16>, tensor<2x600xi64>) -> tensor<2x600x896xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$grad, TG_I64Tensor:$input_ids,
                       I64Attr:$image_token_id);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::mask_image_positions)
        .in(getGrad())
        .in(getInputIds())
        .integer(getImageTokenId())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_PixelShuffleOp : TG_Op<"pixel_shuffle", [TG_Differentiable, SameOperandsAndResultElementType],
                              ["getFlops"]> {
  let summary = "InternVL's pixel shuffle (space-to-depth for scale < 1)";
  let description = [{
    `input` is `[N, W, H, C]` (the patch grid of each tile). With
    `scale_factor` s (0.5 in InternVL) the result is
    `[N, W*s, H*s, C/(s*s)]`; `ps_version = v2` applies InternVL's final
    transpose of the two spatial dimensions, `v1` does not (both give the same
    shape on square grids).

    Example:
    ```mlir
    %y = tg.pixel_shuffle %x {scale_factor = 5.000000e-01 : f64, version = #tg<ps_version v2>} : tensor<7x32x32x1024xbf16> -> tensor<7x16x16x4096xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input, F64Attr:$scale_factor,
                       TG_PixelShuffleVersionAttr:$version);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::pixel_shuffle)
        .in(getInput())
        .real(getScaleFactor().convertToDouble())
        .integer(static_cast<int64_t>(getVersion()))
        .out(getResult())
  }];
}

//===----------------------------------------------------------------------===//
// Regularisation
//===----------------------------------------------------------------------===//

def TG_DropPathOp : TG_Op<"drop_path", [TG_Differentiable, AllTypesMatch<["input", "result"]>]> {
  let summary = "stochastic depth: per-sample random keep mask";
  let description = [{
    Sample `b` (dimension 0) is kept with probability `1 - rate` and then scaled
    by `1 / (1 - rate)`, or zeroed. The keep decision is a pure function of
    (`seed`, `offset`, `step`, `b`) through Philox-4x32-10, so a recomputed
    op with the same attributes reproduces the same mask bit for bit, and
    the step counter gives every step a fresh mask. Since the op is linear in
    its input with that mask, it is also its own gradient.

    Example:
    ```mlir
    %y = tg.drop_path %x, %step {offset = 3 : i64, rate = 1.000000e-01 : f64, seed = 0 : i64} : (tensor<7x1025x1024xbf16>, tensor<i64>) -> tensor<7x1025x1024xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, TG_I64Scalar:$step,
                       F64Attr:$rate, I64Attr:$seed, I64Attr:$offset);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::drop_path)
        .in(getInput())
        .in(getStep())
        .real(getRate().convertToDouble())
        .integer(getSeed())
        .integer(getOffset())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

def TG_DropoutOp : TG_Op<"dropout", [TG_Differentiable, AllTypesMatch<["input", "result"]>]> {
  let summary = "element-wise random keep mask (LoRA dropout)";
  let description = [{
    Element `i` of the input (row-major) is kept with probability `1 - rate`
    and scaled by `1 / (1 - rate)`, or zeroed: PyTorch's `nn.Dropout`, which
    PEFT applies to the input of each LoRA branch. The keep decision is a
    pure function of (`seed`, `offset`, `step`, `i`) through Philox-4x32-10
    (`ivl::dropoutKeeps`: one Philox call per four elements, in a stream
    apart from drop_path's), so a recomputed op with the same attributes
    reproduces the same mask bit for bit, and the gradient is the same op
    applied to the incoming gradient.

    Example:
    ```mlir
    %y = tg.dropout %x, %step {offset = 5 : i64, rate = 5.000000e-02 : f64, seed = 0 : i64} : (tensor<2x24x64xbf16>, tensor<i64>) -> tensor<2x24x64xbf16>
    ```
  }];
  let arguments = (ins TG_FloatTensor:$input, TG_I64Scalar:$step,
                       F64Attr:$rate, I64Attr:$seed, I64Attr:$offset);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::dropout)
        .in(getInput())
        .in(getStep())
        .real(getRate().convertToDouble())
        .integer(getSeed())
        .integer(getOffset())
        .out(getResult())
  }];
  let inPlaceOperands = [0];
}

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

def TG_CrossEntropyOp : TG_Op<"cross_entropy", [TG_Differentiable], ["getFlops"]> {
  let summary = "softmax cross-entropy, mean over tokens with a label";
  let description = [{
    `logits` is `[T, V]`, `labels` `[T]`. Tokens whose label is
    `ignore_index` do not count; the loss is the mean of
    `logsumexp(logits_t) - logits_t[label_t]` over the others (NaN when there
    is none, as in PyTorch). Also returns the per-token logsumexp, which
    `tg.cross_entropy_grad` reuses. Labels outside `[0, V)` other than
    `ignore_index` are a run-time error.

    With `weights` (`[T]` f32, InternVL's loss_weight) the loss is instead
    the weighted sum `sum_t w_t * ce_t` over the labelled tokens; the graph
    divides it by the weights' sum.

    Example:
    ```mlir
    %loss, %lse = tg.cross_entropy %logits, %labels : (tensor<254x151655xbf16>, tensor<254xi64>) -> (tensor<f32>, tensor<254xf32>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$logits, TG_I64Tensor:$labels,
                       Optional<TG_F32Tensor>:$weights,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs TG_F32Scalar:$loss, TG_F32Tensor:$logsumexp);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::cross_entropy)
        .in(getLogits())
        .in(getLabels())
        .optionalIn(getWeights())
        .integer(getIgnoreIndex())
        .outs(getResults())
  }];
}

def TG_CrossEntropyGradOp : TG_Op<"cross_entropy_grad",
                                  [AllTypesMatch<["logits", "result"]>],
                                  ["getFlops"]> {
  let summary = "gradient of cross_entropy with respect to the logits";
  let description = [{
    `grad * (softmax(logits_t) - onehot(label_t)) / n_valid` for tokens with a
    label, zero for ignored tokens; with `weights`, `grad * w_t * (...)`.

    Example:
    ```mlir
    %dlogits = tg.cross_entropy_grad %dloss, %logits, %labels, %lse : (tensor<f32>, tensor<254x151655xbf16>, tensor<254xi64>, tensor<254xf32>) -> tensor<254x151655xbf16>
    ```
  }];
  let arguments = (ins TG_F32Scalar:$grad, TG_FloatTensor:$logits,
                       TG_I64Tensor:$labels, TG_F32Tensor:$logsumexp,
                       Optional<TG_F32Tensor>:$weights,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index);
  let results = (outs TG_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::cross_entropy_grad)
        .in(getGrad())
        .in(getLogits())
        .in(getLabels())
        .in(getLogsumexp())
        .optionalIn(getWeights())
        .integer(getIgnoreIndex())
        .out(getResult())
  }];
  let inPlaceOperands = [1];
}

def TG_LinearCrossEntropyOp : TG_Op<"linear_cross_entropy", [TG_Differentiable],
                                    ["getFlops", "getBytesRead", "getBytesWritten"]> {
  let summary = "lm_head and the next-token cross-entropy, chunk by chunk";
  let description = [{
    `hidden` is `[B, S, H]`, `weight` the lm_head's `[V, H]`, `labels`
    `[B, S]`. Token `(b, t)` predicts `labels[b, t + 1]`: the labels are
    shifted, not the logits, and the last token of each row predicts
    nothing. Its logits `hidden[b, t] · weightᵀ` are rounded to the hidden
    state's type as `tg.linear` rounds them, then scored as by
    `tg.cross_entropy`: the loss is the mean of
    `logsumexp(logits) - logits[label]` over the tokens whose shifted label
    is not `ignore_index` (NaN when none is), or with `weights` (`[B, S]`
    f32, shifted like the labels) the weighted sum. Also returns each
    token's logsumexp (`[B, S]`, that of the last token of a row unused),
    which the gradient reuses.

    The logits never exist whole: `chunk_tokens` rows of them at a time live
    in the op's workspace (Liger's fused linear cross-entropy, Cut
    Cross-Entropy). The result does not depend on the chunk size.

    Example:
    ```mlir
    %loss, %lse = tg.linear_cross_entropy %h, %w, %labels {chunk_tokens = 128 : i64} : (tensor<2x256x896xbf16>, tensor<151655x896xbf16>, tensor<2x256xi64>) -> (tensor<f32>, tensor<2x256xf32>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$hidden, TG_FloatTensor:$weight,
                       TG_I64Tensor:$labels, Optional<TG_F32Tensor>:$weights,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index,
                       I64Attr:$chunk_tokens);
  let results = (outs TG_F32Scalar:$loss, TG_F32Tensor:$logsumexp);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::linear_cross_entropy)
        .in(getHidden())
        .in(getWeight())
        .in(getLabels())
        .optionalIn(getWeights())
        .integer(getIgnoreIndex())
        .integer(getChunkTokens())
        .outs(getResults())
  }];
  // One chunk of logits.
  let workspaceBytes = [{
    return ::mlir::tg::linearCrossEntropyShape(*this).forward().workspaceBytes;
  }];
}

def TG_LinearCrossEntropyGradOp : TG_Op<"linear_cross_entropy_grad", [],
                                        ["getFlops", "getBytesRead",
                                         "getBytesWritten"]> {
  let summary = "gradients of linear_cross_entropy, chunk by chunk";
  let description = [{
    Recomputes each chunk of `chunk_tokens` logits from `hidden` and
    `weight`, turns it into the logits' gradient in place
    (`tg.cross_entropy_grad`'s, from the saved `logsumexp`, rounded to the
    hidden state's type) and accumulates `hidden_grad = dlogits · weight`
    and `weight_grad = dlogitsᵀ · hidden`, the latter only when the op has
    that result (a trainable lm_head). `weight_grad` is summed in f32 over the tokens in order and
    rounded once, so on the CPU it equals the unchunked product bit for bit;
    with more than one chunk and a weight that is not f32, that f32 sum
    lives in the workspace beside the chunk.

    Example:
    ```mlir
    %dh, %dw = tg.linear_cross_entropy_grad %g, %h, %w, %labels, %lse {chunk_tokens = 128 : i64} : (tensor<f32>, tensor<2x256x896xbf16>, tensor<151655x896xbf16>, tensor<2x256xi64>, tensor<2x256xf32>) -> (tensor<2x256x896xbf16>, tensor<151655x896xbf16>)
    ```
  }];
  let arguments = (ins TG_F32Scalar:$grad, TG_FloatTensor:$hidden,
                       TG_FloatTensor:$weight, TG_I64Tensor:$labels,
                       TG_F32Tensor:$logsumexp, Optional<TG_F32Tensor>:$weights,
                       DefaultValuedAttr<I64Attr, "-100">:$ignore_index,
                       I64Attr:$chunk_tokens);
  let results = (outs TG_FloatTensor:$hidden_grad,
                      Optional<TG_FloatTensor>:$weight_grad);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::linear_cross_entropy_grad)
        .in(getGrad())
        .in(getHidden())
        .in(getWeight())
        .in(getLabels())
        .in(getLogsumexp())
        .optionalIn(getWeights())
        .integer(getIgnoreIndex())
        .integer(getChunkTokens())
        .out(getHiddenGrad())
        .optionalOut(getWeightGrad())
  }];
  // One chunk of logits, and the f32 sum of weight_grad across chunks.
  let workspaceBytes = [{
    return ::mlir::tg::linearCrossEntropyShape(*this)
        .backward(/*hiddenGrad=*/true, getWeightGrad() != nullptr)
        .workspaceBytes;
  }];
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

def TG_GlobalNormOp : TG_Op<"global_norm", [], ["getFlops"]> {
  let summary = "L2 norm over all gradients together";
  let description = [{
    `sqrt(sum over every operand and element of g^2)`, the squares summed in
    f64 in operand order (the runtimes' ivl_global_norm) and the root rounded
    to f32.

    Example:
    ```mlir
    %norm = tg.global_norm %g0, %g1 : (tensor<64x32xbf16>, tensor<64xbf16>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Variadic<TG_FloatTensor>:$grads, UnitAttr:$across_ranks);
  let results = (outs TG_F32Scalar:$result);
  let assemblyFormat = "$grads attr-dict `:` functional-type($grads, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(getAcrossRanks() ? Kernel::global_norm_across_ranks : Kernel::global_norm)
        .list(getGrads())
        .out(getResult())
  }];
}

def TG_ClipScaleOp : TG_Op<"clip_scale", [AllTypesMatch<["norm", "result"]>], []> {
  let summary = "gradient scale factor of global-norm clipping";
  let description = [{
    `min(1, max_norm / (norm + 1e-6))`, the factor `torch.nn.utils.clip_grad_norm_`
    multiplies every gradient by.

    Example:
    ```mlir
    %s = tg.clip_scale %norm {max_norm = 1.000000e+00 : f64} : tensor<f32>
    ```
  }];
  let arguments = (ins TG_F32Scalar:$norm, F64Attr:$max_norm);
  let results = (outs TG_F32Scalar:$result);
  let assemblyFormat = "$norm attr-dict `:` type($result)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::clip_scale)
        .in(getNorm())
        .real(getMaxNorm().convertToDouble())
        .out(getResult())
  }];
}

def TG_AdamWOp : TG_Op<"adamw", [], ["getFlops"]> {
  let summary = "AdamW update of one parameter";
  let description = [{
    `torch.optim.AdamW` (decoupled weight decay) on the f32 master copy, with
    `g = grad * grad_scale` and `t = step` (1 for the first update):
    ```
    master *= 1 - lr * weight_decay
    m' = beta1 m + (1 - beta1) g          v' = beta2 v + (1 - beta2) g^2
    master' = master - (lr / (1 - beta1^t)) * m' / (sqrt(v') / sqrt(1 - beta2^t) + epsilon)
    ```
    `new_param` is `master'` rounded to the working element type (bf16 in
    mixed-precision training). An f32 parameter is its own master: the step
    passes the parameter as `master`, and `new_master` and `new_param` are
    the same values in the same storage.

    Example:
    ```mlir
    %w1, %m1, %v1, %p1 = tg.adamw %w, %m, %v, %g, %s, %step {beta1 = 9.000000e-01 : f64, beta2 = 9.990000e-01 : f64, epsilon = 1.000000e-08 : f64, lr = 1.000000e-05 : f64, weight_decay = 5.000000e-02 : f64} : (tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xbf16>, tensor<f32>, tensor<i64>) -> (tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xbf16>)
    ```
  }];
  let arguments = (ins TG_F32Tensor:$master, TG_F32Tensor:$exp_avg,
                       TG_F32Tensor:$exp_avg_sq, TG_FloatTensor:$grad,
                       TG_F32Scalar:$grad_scale, TG_I64Scalar:$step,
                       F64Attr:$lr, F64Attr:$beta1, F64Attr:$beta2,
                       F64Attr:$epsilon, F64Attr:$weight_decay);
  let results = (outs TG_F32Tensor:$new_master, TG_F32Tensor:$new_exp_avg,
                      TG_F32Tensor:$new_exp_avg_sq, TG_FloatTensor:$new_param);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::adamw)
        .in(getMaster())
        .in(getExpAvg())
        .in(getExpAvgSq())
        .in(getGrad())
        .in(getGradScale())
        .in(getStep())
        .real(getLr().convertToDouble())
        .real(getBeta1().convertToDouble())
        .real(getBeta2().convertToDouble())
        .real(getEpsilon().convertToDouble())
        .real(getWeightDecay().convertToDouble())
        .outs(getResults())
  }];
  let storageSource = [{
    // master, exp_avg and exp_avg_sq in place; the new parameter is not an
    // operand (tg::updatedParameterArgument finds it).
    return result < 3 ? getOperand(result) : ::mlir::Value();
  }];
}

//===----------------------------------------------------------------------===//
// Data parallel
//
// The step is SPMD: every rank runs the same function on its own part of the
// global batch. These ops communicate across the `world_size` ranks; their
// lowering may run them asynchronously, and `tg.comm_wait` marks where their
// results are needed (docs/data-parallel.md).
//===----------------------------------------------------------------------===//

def TG_AllReduceMeanOp : TG_Op<"all_reduce_mean", [], ["getFlops"]> {
  let summary = "mean of a bucket of tensors over the data-parallel ranks";
  let description = [{
    Each result is the mean over the `world_size` ranks of the operand in the
    same position (ZeRO stage 0's gradient averaging). The bucket is packed
    into one f32 buffer (the op's `tg.workspace` once planned), summed in f32
    and divided by `world_size`; results are rounded to their element type.
    Results take the operands' storage (in place).

    Example:
    ```mlir
    %a, %b = tg.all_reduce_mean %g0, %g1 {world_size = 8 : i64} : (tensor<64x32xbf16>, tensor<64xbf16>) -> (tensor<64x32xbf16>, tensor<64xbf16>)
    ```
  }];
  let arguments = (ins Variadic<TG_FloatTensor>:$inputs, I64Attr:$world_size);
  let results = (outs Variadic<TG_FloatTensor>:$results);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::all_reduce_mean)
        .list(getResults())
        .buffer()
  }];
  let storageSource = [{
    return getOperand(result);
  }];
}

def TG_ReduceScatterMeanOp : TG_Op<"reduce_scatter_mean", [], ["getFlops"]> {
  let summary = "this rank's shard of the mean of a bucket over the ranks";
  let description = [{
    The operands, flattened and concatenated into `n` elements and padded
    with zeros to `world_size * c` (`c = ceil(n / world_size)`), are summed in
    f32 over the ranks and divided by `world_size`; rank `r` gets elements
    `[r * c, (r + 1) * c)` as its 1-D shard (ZeRO stages 1 and 2).

    Example:
    ```mlir
    %s = tg.reduce_scatter_mean %g0, %g1 {world_size = 8 : i64} : (tensor<64x32xbf16>, tensor<64xbf16>) -> tensor<264xbf16>
    ```
  }];
  let arguments = (ins Variadic<TG_FloatTensor>:$inputs, I64Attr:$world_size);
  let results = (outs TG_FloatTensor:$shard);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::reduce_scatter_mean)
        .list(getInputs())
        .buffer()
        .out(getShard())
  }];
}

def TG_AllGatherOp : TG_Op<"all_gather", [], ["getFlops"]> {
  let summary = "every rank's shard, concatenated and split into tensors";
  let description = [{
    The inverse of `tg.reduce_scatter_mean`'s layout: the shards of ranks
    0..world_size-1 concatenated, the padding dropped, and the elements split
    in order into the results (the updated parameters of a bucket). Bytes
    move unchanged. With destinations, each result takes the storage of the
    destination in its position (the parameter it updates, ZeRO stages 1 and
    2); without, the results are new values (the parameters ZeRO stage 3
    gathers for a layer's forward or backward).

    Example:
    ```mlir
    %w1, %b1 = tg.all_gather %s into %w, %b {world_size = 8 : i64} : (tensor<264xbf16>, tensor<64x32xbf16>, tensor<64xbf16>) -> (tensor<64x32xbf16>, tensor<64xbf16>)
    %w2, %b2 = tg.all_gather %s {world_size = 8 : i64} : (tensor<264xbf16>) -> (tensor<64x32xbf16>, tensor<64xbf16>)
    ```
  }];
  let arguments = (ins TG_FloatTensor:$shard, Variadic<TG_FloatTensor>:$dests,
                       I64Attr:$world_size);
  let results = (outs Variadic<TG_FloatTensor>:$results);
  let assemblyFormat = [{
    $shard (`into` $dests^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::all_gather)
        .in(getShard())
        .buffer()
        .list(getResults())
  }];
  let storageSource = [{
    return getDests().empty() ? ::mlir::Value() : getDests()[result];
  }];
}

def TG_ShardAdamWOp : TG_Op<"shard_adamw", [], ["getFlops"]> {
  let summary = "AdamW on this rank's shard of a bucket of parameters";
  let description = [{
    `tg.adamw` element by element on the rank's shard of a bucket (the layout
    of `tg.reduce_scatter_mean`): element `j` is element `rank * c + j` of the
    bucket, which lies in the parameter `segments` says (the element counts of
    the bucket's parameters, in order); `decay` says which of them take
    `weight_decay`. Padding past the bucket stays zero. `new_param` is the
    updated shard in the working element type, for `tg.all_gather`. The new
    master and moments take the storage of the old ones (in place), and
    `new_param` that of `param` when given (ZeRO stage 3, whose parameters
    live as shards).
  }];
  let arguments = (ins TG_F32Tensor:$master, TG_F32Tensor:$exp_avg,
                       TG_F32Tensor:$exp_avg_sq, TG_FloatTensor:$grad,
                       TG_F32Scalar:$grad_scale, TG_I64Scalar:$step,
                       Optional<TG_FloatTensor>:$param,
                       F64Attr:$lr, F64Attr:$beta1, F64Attr:$beta2,
                       F64Attr:$epsilon, F64Attr:$weight_decay,
                       DenseI64ArrayAttr:$segments, DenseBoolArrayAttr:$decay,
                       I64Attr:$world_size);
  let results = (outs TG_F32Tensor:$new_master, TG_F32Tensor:$new_exp_avg,
                      TG_F32Tensor:$new_exp_avg_sq, TG_FloatTensor:$new_param);
  let assemblyFormat = [{
    $master `,` $exp_avg `,` $exp_avg_sq `,` $grad `,` $grad_scale `,` $step
    (`into` $param^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::shard_adamw)
        .in(getMaster())
        .in(getExpAvg())
        .in(getExpAvgSq())
        .in(getGrad())
        .in(getGradScale())
        .in(getStep())
        .real(getLr().convertToDouble())
        .real(getBeta1().convertToDouble())
        .real(getBeta2().convertToDouble())
        .real(getEpsilon().convertToDouble())
        .real(getWeightDecay().convertToDouble())
        .integers(getSegments())
        .flags(getDecay())
        .integer(getSegments().size())
        .outs(getResults())
  }];
  let storageSource = [{
    return result < 3 ? getOperand(result) : getParam();
  }];
}

def TG_CommWaitOp : TG_Op<"comm_wait", [], ["getFlops"]> {
  let summary = "the point where collective or copy results are needed";
  let description = [{
    Returns its operands (same storage): the results of asynchronous
    collectives and host copies (`tg.offload`, `tg.prefetch`) are used
    through it, so the lowering waits for them here and the memory plan
    keeps their operands (and a collective's buffer) alive until here.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
  let storageSource = [{
    return getOperand(result);
  }];
}

//===----------------------------------------------------------------------===//
// Host offload
//
// --tg-remat's offload lever keeps an activation in pinned host memory from
// forward until backward needs it. Both copies run on a copy stream of their
// own, overlapping compute, until the `tg.comm_wait` that takes their
// results: the memory plan keeps a copy's source alive until that wait.
// They cost nothing on the compute roofline; --tg-remat prices the transfer
// on the card's host link and counts only what compute does not hide.
//===----------------------------------------------------------------------===//

def TG_OffloadOp : TG_Op<"offload", [SameOperandsAndResultType],
                         ["getFlops", "getBytesRead", "getBytesWritten"]> {
  let summary = "a device tensor copied into host memory";
  let description = [{
    The result holds the operand's elements in the step's pinned host
    buffer (`#tg.alloc<host, ...>` once planned); only `tg.comm_wait` and
    `tg.prefetch` may read it.

    Example:
    ```mlir
    %h = tg.offload %x : tensor<2x16x64xbf16>
    %w = tg.comm_wait %h : (tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::offload)
        .in(getInput())
        .out(getResult())
  }];
}

def TG_PrefetchOp : TG_Op<"prefetch", [SameOperandsAndResultType],
                          ["getFlops", "getBytesRead", "getBytesWritten"]> {
  let summary = "an offloaded tensor copied back into device memory";
  let description = [{
    The inverse of `tg.offload`: its operand is an offloaded value (through
    the `tg.comm_wait` of the offload), its result a device tensor that
    backward reads through the `tg.comm_wait` of the prefetch.

    Example:
    ```mlir
    %d = tg.prefetch %w : tensor<2x16x64xbf16>
    %x2 = tg.comm_wait %d : (tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16>
    ```
  }];
  let arguments = (ins TG_Tensor:$input);
  let results = (outs TG_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let kernelCall = [{
    call.kernel(Kernel::prefetch)
        .in(getInput())
        .out(getResult())
  }];
}

#endif // INTERNVL_DIALECT_TG_IR_TGOPS_TD
