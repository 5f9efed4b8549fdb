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

def TGRemat : Pass<"tg-remat", "::mlir::ModuleOp"> {
  let summary = "Keep or recompute each activation of the layers under a budget";
  let description = [{
    Decides, for every InternViT and LLM layer of @train_step, which of the
    activations backward reads are kept from forward and which are
    recomputed in backward, and rewrites the step: the ops to recompute are
    cloned (tg.phase = "recompute") before the first backward op that reads
    them, and backward reads the clones.

    Per region (`vision`, `lm`):
    - `force`: InternVL's checkpointing: only each layer's input is kept,
      everything backward needs inside the layer is recomputed. Unlike
      torch.utils.checkpoint, only the ops backward needs run again
      (`prune=false` re-runs every op of the layer, for comparison).
    - `off`: every activation is kept.
    - `auto`: per layer, a point of the layer type's exact Pareto frontier of
      (bytes kept, recompute time on the `gpu` roofline), chosen across all
      auto layers by a multiple-choice knapsack so that the planned peak
      (persistent + arena, from the real memory plan after the rewrite) stays
      under `budget` at the least recompute time; the capacity is corrected
      with the measured peak until the plan fits.
    `vision` defaults to force (InternVL checkpoints its ViT always; for
    InternVL3.5, whose code gates it on --grad_checkpoint, the importer
    records tg.vision_grad_checkpoint and false means off), `lm` to force
    when the module was imported with --grad_checkpoint True and to off
    otherwise.

    `budget`: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, or a card: h100-80gb,
    h200-141gb, a100-80gb, a100-40gb, rtx4090-24gb, v100-32gb (its memory as nvidia-smi reports it,
    less 2 GiB for the CUDA context, library handles and allocator slack).
    An infeasible budget fails with the minimum feasible peak.

    `levers` names what `auto` may use (comma-separated; default all):
    `recompute` (keep or recompute each activation of an auto layer; without
    it auto layers keep everything inside them), `segments` (runs of auto
    layers whose outputs are dropped and re-run once in backward from the
    run's first input, the run length chosen per region), `offload` (an auto
    layer's kept activations, its outputs included, copied to pinned host
    memory during forward and back before backward reads them, on a copy
    stream; priced as the transfer time at the `gpu`'s host link, Targets.h,
    that the layer's forward and backward do not hide) and `chunk-loss`
    (the number of tokens
    tg.linear_cross_entropy processes at a time, chosen together with the
    layers: the chunk's logits against the time each extra pass over the
    lm_head weight costs on the roofline). Under force and off alone the loss
    stays one chunk. `loss-chunk=N` fixes the chunk at N tokens (at most all
    of them) under any policy, taking the choice from the solver: for
    experiments and for checking the chunked kernels. `segment-layers=N`
    likewise fixes the run length of every force or auto region, and
    `offload-outputs=true` moves every layer output of those regions to the
    host.
  }];
  let options = [
    Option<"levers", "levers", "std::string", "\"\"",
           "What auto may use: recompute, segments, offload, chunk-loss "
           "(default: all)">,
    Option<"segmentLayers", "segment-layers", "int64_t", "0",
           "Layers per segment run, fixed, in every force or auto region (0: "
           "auto's choice with the segments lever, else none)">,
    Option<"offloadOutputs", "offload-outputs", "bool", "false",
           "Offload every layer output of the force and auto regions, fixed "
           "(for experiments and checks of the host copies)">,
    Option<"lossChunk", "loss-chunk", "int64_t", "0",
           "Tokens per chunk of the fused loss, fixed (0: auto's choice "
           "with the chunk-loss lever, else one chunk)">,
    Option<"vision", "vision", "std::string", "\"\"",
           "Policy of the InternViT layers: force, auto or off (default: "
           "force, off for an InternVL3.5 import without grad_checkpoint)">,
    Option<"lm", "lm", "std::string", "\"\"",
           "Policy of the LLM layers (default: force with grad_checkpoint, else off)">,
    Option<"budget", "budget", "std::string", "\"\"",
           "Peak memory per GPU the plan must fit (needed by auto)">,
    Option<"gpu", "gpu", "std::string", "\"h100\"",
           "Roofline for recompute time: h100, h200, a100, rtx4090 or v100">,
    Option<"prune", "prune", "bool", "true",
           "Re-run only the ops backward needs (false: every op of a recomputed layer)">,
    Option<"functionName", "function", "std::string", "\"\"",
           "Function to rewrite (default: train_step)">,
    Option<"exportProblem", "export-problem", "std::string", "\"\"",
           "Write the auto layers' keep/recompute problem and the chosen "
           "answer as JSON (for the exact-ILP comparison in bench/remat.py)">,
    Option<"zeroStage", "zero-stage", "int64_t", "-1",
           "ZeRO stage of the peak estimate (default: the module's)">,
    Option<"worldSize", "world-size", "int64_t", "-1",
           "World size of the peak estimate (default: the module's)">,
    Option<"dataParallel", "data-parallel", "bool", "false",
           "Plan each candidate as --tg-data-parallel will lower it (the "
           "world size, ZeRO stage and bucket sizes here, else the "
           "module's), so that ZeRO-3's gathered parameters and the "
           "communication buffers count in the peak">,
    Option<"reduceBucketSize", "reduce-bucket-size", "int64_t", "-1",
           "With data-parallel: --tg-data-parallel's reduce-bucket-size">,
    Option<"allgatherBucketSize", "allgather-bucket-size", "int64_t", "-1",
           "With data-parallel: --tg-data-parallel's allgather-bucket-size">,
  ];
  let dependentDialects = ["::mlir::tg::TGDialect"];
}

def TGDataParallel : Pass<"tg-data-parallel", "::mlir::ModuleOp"> {
  let summary = "Make @train_step one rank of a data-parallel / ZeRO step";
  let description = [{
    Rewrites @train_step (after --tg-autodiff and --tg-remat, before
    --tg-plan-memory) into the step each of `world-size` data-parallel ranks
    runs on its part of the global batch, as DeepSpeed does at the given ZeRO
    stage:

    - Gradients go out in buckets of `reduce-bucket-size` elements, in the
      order backward produces them, each right after its last gradient
      (overlapping the rest of backward); a bucket is waited for
      (`tg.comm_wait`) when the next one starts, the last before the
      optimizer.
    - Stage 0: `tg.all_reduce_mean` of each bucket, then the optimizer as
      before on every rank.
    - Stages 1 and 2: `tg.reduce_scatter_mean` leaves each rank the shard of
      every bucket it owns; the global norm sums the shards' squares over the
      ranks; `tg.shard_adamw` updates the shard's master and moments (new
      per-bucket arguments `zero.bucket<k>.master`, `.exp_avg`,
      `.exp_avg_sq`, 1/world-size of the state) and `tg.all_gather` brings
      every rank the updated bf16 parameters, at most
      `allgather-bucket-size` elements in flight (the oldest gather is
      waited for before one more would exceed it). Stage 1 keeps the whole
      gradient buffer (the memory plan counts it); stage 2 lets each bucket's
      gradients go once its reduce-scatter is done.
    - Stage 3: a bucket per layer (FSDP-style flat shards): each rank keeps
      only its shard of the layer's bf16 parameters (`zero.bucket<k>.param`),
      all-gathers them before the layer's forward and again before its
      backward (recomputation included), prefetching up to
      `allgather-bucket-size` elements ahead (DeepSpeed's
      stage3_prefetch_bucket_size, default 5e7), and lets them go
      after; AdamW updates the shard in place. Frozen parameters are
      sharded and gathered the same way, a layer's per bucket after the
      gradient buckets (DeepSpeed's stage 3 partitions them too).

    `world-size`, `zero-stage` and the bucket sizes default to the module's
    `tg.world_size`, `tg.zero_stage`, `tg.reduce_bucket_size` and
    `tg.allgather_bucket_size` (from
    `internvl-import --deepspeed FILE --world_size N`). The function gets
    `tg.data_parallel` (the settings), `tg.zero_buckets` (each bucket's
    parameters) and, for stage 3, `tg.zero_params` (the parameters its
    shards replace, for the runners to initialise them).
  }];
  let options = [
    Option<"worldSize", "world-size", "int64_t", "-1",
           "Data-parallel ranks (default: the module's tg.world_size)">,
    Option<"zeroStage", "zero-stage", "int64_t", "-1",
           "DeepSpeed ZeRO stage 0-3 (default: the module's tg.zero_stage)">,
    Option<"reduceBucketSize", "reduce-bucket-size", "int64_t", "-1",
           "Elements per gradient bucket (default: the module's "
           "tg.reduce_bucket_size, else DeepSpeed's 5e8)">,
    Option<"allgatherBucketSize", "allgather-bucket-size", "int64_t", "-1",
           "Stages 1-2: most parameter elements all-gathered at once; stage "
           "3: most elements prefetched ahead (default: the module's "
           "tg.allgather_bucket_size, else DeepSpeed's 5e8 / 5e7)">,
    Option<"functionName", "function", "std::string", "\"train_step\"",
           "The step to rewrite">,
  ];
  let statistics = [
    Statistic<"numBuckets", "buckets", "Gradient buckets">,
  ];
  let dependentDialects = ["::mlir::tg::TGDialect", "::mlir::func::FuncDialect"];
}

def TGPlanMemory : Pass<"tg-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Place every transient tensor of the step into one arena";
  let description = [{
    Plans the device memory of @train_step (or `function`): liveness on the op
    order, one buffer per value (reshape results alias their operand; an
    elementwise op writes over an operand that dies there when its kernel
    allows it), explicit workspaces (cuBLASLt for the whole step, FlashAttention
    backward scratch per attention_grad), and best-fit placement by
    decreasing size into one arena. Parameter gradients go to the persistent
    gradient buffer in the order they are produced.

    Persistent memory per rank follows DeepSpeed ZeRO: stage 1 shards the
    fp32 master weights and AdamW moments over `world-size` ranks, stage 2
    also the gradients, stage 3 also the bf16 parameters. `zero-stage` and
    `world-size` default to the module's `tg.zero_stage` / `tg.world_size`
    (internvl-import --deepspeed / --world_size), else 0 and 1.

    Records `tg.alloc = [#tg.alloc<space, offset, size>, ...]` on each op
    (one per result), `tg.workspace` on attention_grad ops and the summary
    dictionary `tg.memory_plan` on the function.
  }];
  let options = [
    Option<"functionName", "function", "std::string", "\"\"",
           "Function to plan (default: train_step, else forward)">,
    Option<"zeroStage", "zero-stage", "int64_t", "-1",
           "DeepSpeed ZeRO stage 0-3 (default: the module's tg.zero_stage)">,
    Option<"worldSize", "world-size", "int64_t", "-1",
           "Data-parallel ranks (default: the module's tg.world_size)">,
    Option<"alignment", "alignment", "int64_t", "256",
           "Byte alignment of every buffer (a power of two)">,
    Option<"cublasWorkspace", "cublas-workspace", "int64_t", "33554432",
           "Bytes of the cuBLASLt workspace">,
  ];
  let dependentDialects = ["::mlir::tg::TGDialect"];
}

def TGPrintMemoryPlan : Pass<"tg-print-memory-plan", "::mlir::ModuleOp"> {
  let summary = "Print the memory plan as text";
  let description = [{
    Prints the plan of a planned function to stdout: persistent bytes by
    category, the arena and the live lower bound, the peak and the op at the
    peak step, the live bytes at the peak by region and kind, and the largest
    buffers live there.
  }];
  let options = [
    Option<"functionName", "function", "std::string", "\"\"",
           "Planned function (default: train_step, else forward)">,
    Option<"top", "top", "int64_t", "8", "How many of the largest buffers at the peak to list">,
  ];
}

def TGExportMemoryPlan : Pass<"tg-export-memory-plan", "::mlir::ModuleOp"> {
  let summary = "Write the memory plan as JSON";
  let description = [{
    `--tg-export-memory-plan=FILE.json` writes the plan with the top-level
    fields function, steps, arena_bytes, live_lower_bound_bytes,
    persistent_bytes {params, master_params, grads, optimizer, total},
    peak_bytes, budget_bytes, recompute_flops, total_flops and buffers
    (a list of objects with name, scope, kind, bytes, offset, start and
    end, one per arena buffer).
  }];
  let options = [
    Option<"file", "file", "std::string", "\"\"", "Output JSON file">,
    Option<"functionName", "function", "std::string", "\"\"",
           "Planned function (default: train_step, else forward)">,
  ];
}

def TGVerifyMemoryPlan : Pass<"tg-verify-memory-plan", "::mlir::ModuleOp"> {
  let summary = "Check a memory plan independently of the planner";
  let description = [{
    Recomputes every value's lifetime from the IR on its own and checks that
    no two buffers live at the same step share bytes (except an in-place
    kernel's result over the operand that dies at it), that every operand
    reads planned or persistent storage, that every buffer fits its space,
    and that the recorded totals add up. Fails with the offending values and
    byte and step ranges.
  }];
  let options = [
    Option<"functionName", "function", "std::string", "\"\"",
           "Planned function (default: train_step, else forward)">,
  ];
}

def TGMemoryTimeline : Pass<"tg-memory-timeline", "::mlir::ModuleOp"> {
  let summary = "Draw live bytes over the schedule as SVG";
  let description = [{
    `--tg-memory-timeline=FILE.svg`: live arena bytes at every step, stacked
    by kind and region, with the persistent bytes underneath, the peak marked
    and the budget line when there is one.
  }];
  let options = [
    Option<"file", "file", "std::string", "\"\"", "Output SVG file">,
    Option<"functionName", "function", "std::string", "\"\"",
           "Planned function (default: train_step, else forward)">,
  ];
}

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_PASSES_TD
