//===- Passes.td - tg passes -------------------------------*- tablegen -*-===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_TD
#define INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def TGAutodiff : Pass<"tg-autodiff", "::mlir::ModuleOp"> {
  let summary = "Build @train_step: forward, loss, backward, clipping, AdamW";
  let description = [{
    Turns `func.func @forward` (as internvl-import writes it) into
    `func.func @train_step`, kept beside it. The step runs the forward pass,
    differentiates the loss in reverse mode through each op's
    `GradientOpInterface`, clips the gradients by their global norm like
    `torch.nn.utils.clip_grad_norm_`, and updates every trainable parameter
    that receives a gradient with AdamW on an f32 master copy.

    Only values that depend on a trainable parameter get gradients, so a
    frozen vision encoder with nothing trainable before it has no backward
    ops and keeps no activations for backward. Forward activations that
    backward reads stay plain SSA values.

    Arguments of @train_step: the forward arguments, `step` (i64, the AdamW
    step counting from 1; shared with drop_path), then per updated parameter
    its `master`, `exp_avg` and `exp_avg_sq` (f32). Results: the loss, then
    per updated parameter its new working copy, master, exp_avg and
    exp_avg_sq (and its gradient with `emit-gradients`).

    Weight decay applies to parameters of rank >= 2 (not to biases, norm
    weights or layer scales).
  }];
  let options = [
    Option<"lr", "lr", "double", "5e-5", "AdamW learning rate">,
    Option<"beta1", "beta1", "double", "0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", "0.999", "AdamW beta2">,
    Option<"epsilon", "eps", "double", "1e-8", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", "0.0",
           "Decoupled weight decay of parameters of rank >= 2">,
    Option<"maxGradNorm", "max-grad-norm", "double", "1.0",
           "Global-norm gradient clipping threshold">,
    Option<"emitGradients", "emit-gradients", "bool", "false",
           "Also return every parameter gradient (before clipping)">,
    Option<"forwardName", "forward", "std::string", "\"forward\"",
           "The function to differentiate">,
  ];
  let statistics = [
    Statistic<"numBackwardOps", "backward-ops", "Ops emitted for backward">,
    Statistic<"numUpdatedParams", "updated-params",
              "Parameters updated by AdamW">,
    Statistic<"numFrozenParams", "frozen-params",
              "Parameters with no gradient (frozen or unused)">,
  ];
  let dependentDialects = ["::mlir::tg::TGDialect", "::mlir::func::FuncDialect"];
}

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_TD
