//===- StepManifest.cpp - the JSON description of a compiled step ---------===//

#include "internvl/Conversion/TGToEmitC/StepManifest.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/StepSignature/StepSignature.h"

using namespace mlir;
using namespace mlir::tg;
namespace json = llvm::json;

static json::Array shapeOf(ArrayRef<int64_t> shape) {
  json::Array a;
  for (int64_t d : shape)
    a.push_back(d);
  return a;
}

FailureOr<json::Object> mlir::tg::stepManifest(func::FuncOp func,
                                               const StepStorage &storage,
                                               StringRef target) {
  MemoryPlanAttr plan = getMemoryPlan(func);
  if (!plan)
    return func.emitError("has no ")
           << TGDialect::getMemoryPlanAttrName()
           << ": run --tg-plan-memory before lowering";
  FailureOr<MemoryPlan> memoryPlan = MemoryPlan::read(func);
  if (failed(memoryPlan))
    return failure();

  json::Object m;
  m["function"] = func.getName().str();
  auto module = func->getParentOfType<ModuleOp>();
  if (auto model = module->getAttrOfType<StringAttr>("tg.model"))
    m["model"] = model.getValue().str();
  m["target"] = target.str();
  m["arena_bytes"] = plan.getArenaBytes();
  m["grads_buffer_bytes"] = plan.getGradsBufferBytes();
  m["host_bytes"] = plan.getHostBytes();
  m["planned_peak_bytes"] = plan.getPeakBytes();
  m["persistent_bytes"] =
      json::Object{{"params", plan.getParamsBytes()},
                   {"master_params", plan.getMasterParamsBytes()},
                   {"grads", plan.getGradsBytes()},
                   {"optimizer", plan.getOptimizerBytes()}};
  m["world_size"] = plan.getWorldSize();
  m["zero_stage"] = plan.getZeroStage();
  m["total_flops"] = memoryPlan->totalFlops();
  m["recompute_flops"] = memoryPlan->recomputeFlops();

  internvl::BatchSpec batch = internvl::batchSpec(func);
  m["batch"] = json::Object{
      {"vocab_size", batch.vocabSize},
      {"image_token_id", batch.imageTokenId},
      {"image_tokens_per_sample", batch.imageTokensPerSample},
      {"ignore_index", batch.ignoreIndex}};
  if (batch.packed) {
    const ivl::io::PackSpec &pack = batch.pack;
    m["batch"].getAsObject()->try_emplace(
        "pack", json::Object{{"row_length", pack.rowLength},
                             {"capacity", pack.capacity},
                             {"tiles_per_row", pack.tilesPerRow},
                             {"tokens_per_tile", pack.tokensPerTile},
                             {"loss_reduction",
                              static_cast<int64_t>(pack.reduction)}});
  }

  int64_t tokens = 0;
  json::Array arguments;
  for (auto [i, spec] : llvm::enumerate(internvl::argumentSpecs(func))) {
    llvm::Expected<ivl_dtype> dtype = internvl::runtimeType(
        cast<ShapedType>(func.getArgument(i).getType()).getElementType());
    if (!dtype) {
      llvm::consumeError(dtype.takeError());
      return func.emitError("argument ")
             << i << " has an element type the runtime does not support";
    }
    json::Object a{{"name", spec.name},
                   {"kind", spec.kind},
                   {"dtype", ivl::io::dtypeName(spec.dtype)},
                   {"shape", shapeOf(spec.shape)}};
    if (spec.kind == "param")
      a["init"] = json::Object{{"normal", spec.normalInit},
                               {"value", spec.initValue}};
    if (!spec.shardOf.empty()) {
      json::Array names;
      for (const std::string &n : spec.shardOf)
        names.push_back(n);
      a["shard_of"] = std::move(names);
    }
    if (spec.name == "input_ids")
      tokens = ivl::io::numElements(spec.shape);
    arguments.push_back(std::move(a));
  }
  m["tokens_per_step"] = tokens;
  // Stage 3's sharded parameters, whose shards the runner generates.
  json::Array zeroParams;
  for (const internvl::ArgSpec &spec : internvl::zeroParameterSpecs(func))
    zeroParams.push_back(json::Object{
        {"name", spec.name},
        {"kind", "param"},
        {"dtype", ivl::io::dtypeName(spec.dtype)},
        {"shape", shapeOf(spec.shape)},
        {"init", json::Object{{"normal", spec.normalInit},
                              {"value", spec.initValue}}}});
  if (!zeroParams.empty())
    m["zero_params"] = std::move(zeroParams);
  m["arguments"] = std::move(arguments);

  json::Array results;
  auto returnOp = func.getBody().front().getTerminator();
  for (auto [i, v] : llvm::enumerate(returnOp->getOperands())) {
    auto type = cast<RankedTensorType>(v.getType());
    auto name = func.getResultAttrOfType<StringAttr>(
        i, TGDialect::getNameAttrName());
    const Storage &s = storage.lookup(v);
    json::Object r{
        {"name", name ? name.getValue().str() : "result" + std::to_string(i)},
        {"shape", shapeOf(type.getShape())}};
    llvm::Expected<ivl_dtype> dtype =
        internvl::runtimeType(type.getElementType());
    if (!dtype) {
      llvm::consumeError(dtype.takeError());
      return returnOp->emitError("result ")
             << i << " has an element type the runtime does not support";
    }
    r["dtype"] = ivl::io::dtypeName(*dtype);
    switch (s.space) {
    case Storage::Space::Arena:
      r["space"] = "arena";
      r["offset"] = s.offset;
      break;
    case Storage::Space::Grads:
      r["space"] = "grads";
      r["offset"] = s.offset;
      break;
    case Storage::Space::Host:
      r["space"] = "host";
      r["offset"] = s.offset;
      break;
    case Storage::Space::Argument:
      r["space"] = "argument";
      r["argument"] = static_cast<int64_t>(s.argument);
      break;
    }
    results.push_back(std::move(r));
  }
  m["results"] = std::move(results);
  return m;
}
