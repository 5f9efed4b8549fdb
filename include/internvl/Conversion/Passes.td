//===- Passes.td - conversions out of the tg dialect -------*- tablegen -*-===//

#ifndef INTERNVL_CONVERSION_PASSES_TD
#define INTERNVL_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertTGToEmitC : Pass<"convert-tg-to-emitc", "::mlir::ModuleOp"> {
  let summary = "Lower a planned training step to EmitC: one host function";
  let description = [{
    Replaces the module by the EmitC form of its planned step
    (`--tg-plan-memory` must have run): `emitc.func @ivl_step(ctx, arena,
    grads, args) -> ivl_status` launches the schedule op by op, each tensor a
    view of its planned place (an arena or gradient-buffer offset, or a step
    argument); AdamW updates masters, moments and parameters in place. The
    function allocates nothing. `emitc.func @ivl_step_manifest()` returns the
    step's description as JSON (arguments, results and where they live,
    arena and gradient-buffer sizes, the planned peak), which the runner of
    `internvl-compile` reads.

    Runs of consecutive elementwise ops whose intermediates have no other use
    become one generated kernel (`fuse-elementwise`): a loop on the CPU, a
    `__global__` function on CUDA. Intermediates are rounded to their element
    type exactly as the unfused kernels store them, so fusion changes no bit
    on the CPU.

    Translate the result with `mlir-translate --mlir-to-cpp` semantics
    (`internvl-compile` does it and builds the library).
  }];
  let options = [
    Option<"function", "function", "std::string", "\"\"",
           "The planned function (default: train_step, else forward)">,
    Option<"target", "target", "std::string", "\"cpu\"",
           "cpu (the CPU runtime) or cuda (the CUDA runtime, .cu source)">,
    Option<"fuseElementwise", "fuse-elementwise", "bool", "true",
           "Fuse runs of elementwise ops into generated kernels">,
  ];
  let statistics = [
    Statistic<"numKernelCalls", "kernel-calls", "Runtime kernel calls emitted">,
    Statistic<"numFusedKernels", "fused-kernels", "Generated elementwise kernels">,
    Statistic<"numFusedOps", "fused-ops", "tg ops inside generated kernels">,
  ];
  let dependentDialects = ["::mlir::emitc::EmitCDialect"];
}

#endif // INTERNVL_CONVERSION_PASSES_TD
