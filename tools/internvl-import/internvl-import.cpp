//===- internvl-import.cpp - InternVL config.json to a tg forward graph ---===//
//
//   internvl-import MODEL.json [InternVL finetune flags] [-o out.mlir]
//   [--summary]
//
// Flags carry the names of internvl_chat_finetune.py so a user can paste them;
// boolean flags take `--flag`, `--flag=True` or `--flag True`.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Import/DeepSpeedConfig.h"
#include "internvl/Import/ForwardGraph.h"
#include "internvl/Import/ImportLimits.h"
#include "internvl/Import/ShapeBuckets.h"
#include "internvl/Support/Diagnostics.h"
#include "internvl/Support/OutputFile.h"
#include "internvl/Support/Region.h"
#include "internvl/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace internvl;
namespace cl = llvm::cl;

namespace {
cl::OptionCategory category("InternVL fine-tuning flags");

cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                               cl::desc("<model config.json>"));
cl::opt<std::string> outputPath("o",
                                cl::desc("Output file (default: stdout, "
                                         "or none with --summary)"),
                                cl::value_desc("file"), cl::init(""));
cl::opt<bool> summary("summary",
                      cl::desc("Print parameter counts per region and the "
                               "tile and token counts"),
                      cl::init(false));

cl::opt<int64_t> batchSize("per_device_train_batch_size",
                           cl::desc("Samples per device and step"), cl::init(8),
                           cl::cat(category));
cl::opt<int64_t> maxDynamicPatch("max_dynamic_patch",
                                 cl::desc("Tiles per image (the bucket's "
                                          "upper bound)"),
                                 cl::init(12), cl::cat(category));
cl::opt<bool> useThumbnail("use_thumbnail",
                           cl::desc("Add a thumbnail tile to split images"),
                           cl::init(false), cl::cat(category));
cl::opt<int64_t> maxSeqLength("max_seq_length",
                              cl::desc("Tokens per sample (padded)"),
                              cl::init(8192), cl::cat(category));
cl::opt<int64_t> forceImageSize("force_image_size",
                                cl::desc("Tile size in pixels (default: the "
                                         "config's)"),
                                cl::init(0), cl::cat(category));
cl::opt<double> downSampleRatio("down_sample_ratio",
                                cl::desc("Pixel-shuffle ratio (default: the "
                                         "config's)"),
                                cl::init(0.0), cl::cat(category));
cl::opt<int64_t> visionSelectLayer("vision_select_layer",
                                   cl::desc("InternViT layer whose output "
                                            "feeds the projector (default: "
                                            "the config's select_layer)"),
                                   cl::init(INT64_MIN), cl::cat(category));
cl::opt<double> dropPathRate("drop_path_rate",
                             cl::desc("Stochastic depth of the last ViT layer"),
                             cl::init(0.0), cl::cat(category));
cl::opt<bool> freezeBackbone("freeze_backbone", cl::desc("Freeze InternViT"),
                             cl::init(false), cl::cat(category));
cl::opt<bool> freezeLlm("freeze_llm", cl::desc("Freeze the LLM"),
                        cl::init(false), cl::cat(category));
cl::opt<bool> freezeMlp("freeze_mlp", cl::desc("Freeze the projector (mlp1)"),
                        cl::init(false), cl::cat(category));
cl::opt<int64_t> unfreezeVitLayers(
    "unfreeze_vit_layers",
    cl::desc("Train layers[n:] of a frozen InternViT (a Python slice)"),
    cl::init(0), cl::cat(category));
cl::opt<bool> unfreezeLmHead("unfreeze_lm_head",
                             cl::desc("Train lm_head of a frozen LLM"),
                             cl::init(false), cl::cat(category));
cl::opt<int64_t> useLlmLora("use_llm_lora",
                            cl::desc("LoRA rank of every LLM decoder linear "
                                     "(alpha 2 x rank; 0: off); the LLM's "
                                     "base weights freeze"),
                            cl::init(0), cl::cat(category));
cl::opt<int64_t> useBackboneLora(
    "use_backbone_lora",
    cl::desc("LoRA rank of every InternViT linear (alpha 2 x rank; 0: off); "
             "InternViT's base weights freeze"),
    cl::init(0), cl::cat(category));
cl::opt<double> loraDropout("lora_dropout",
                            cl::desc("Dropout on each LoRA branch's input "
                                     "(InternVL's 0.05)"),
                            cl::init(0.05), cl::cat(category));
cl::opt<bool> gradCheckpoint("grad_checkpoint",
                             cl::desc("Checkpoint every LLM decoder layer "
                                      "(recorded for --tg-remat)"),
                             cl::init(true), cl::cat(category));
cl::opt<std::string> dtype("dtype", cl::desc("Working precision: bf16 or f32"),
                           cl::init("bf16"), cl::cat(category));
cl::opt<int64_t> imageTokenId("img_context_token_id",
                              cl::desc("Token id of <IMG_CONTEXT> (default: "
                                       "the config's, else the last id)"),
                              cl::init(-1), cl::cat(category));
cl::opt<int64_t> seed("seed", cl::desc("Seed of the drop_path masks"),
                      cl::init(0), cl::cat(category));
cl::opt<bool> usePackedDs("use_packed_ds",
                          cl::desc("Pack whole samples into rows of "
                                   "--max_packed_tokens tokens (InternVL's "
                                   "packed dataset)"),
                          cl::init(false), cl::cat(category));
cl::opt<int64_t> maxPackedTokens("max_packed_tokens",
                                 cl::desc("Tokens per pack"), cl::init(8192),
                                 cl::cat(category));
cl::opt<int64_t> numImagesExpected("num_images_expected",
                                   cl::desc("Tiles per pack (the ViT batch "
                                            "of one pack)"),
                                   cl::init(40), cl::cat(category));
cl::opt<bool> strictMode("strict_mode",
                         cl::desc("Pad every pack to --num_images_expected "
                                  "tiles (the compiled step always does)"),
                         cl::init(true), cl::cat(category));
cl::opt<std::string> lossReduction("loss_reduction",
                                   cl::desc("Weight of a packed sample's "
                                            "tokens: token, sample or square"),
                                   cl::init("token"), cl::cat(category));
cl::opt<int64_t> maxSamplesPerPack(
    "max_samples_per_pack",
    cl::desc("Not InternVL's: samples a pack may hold, the cu_seqlens "
             "capacity (default: --max_packed_tokens)"),
    cl::init(0), cl::cat(category));
cl::opt<int64_t> expectedSamplesPerPack(
    "expected_samples_per_pack",
    cl::desc("Not InternVL's: samples the cost model assumes a pack holds "
             "(default: --num_images_expected / tiles per image)"),
    cl::init(0), cl::cat(category));
cl::opt<std::string> bucketsFlag(
    "buckets",
    cl::desc("Plan one step per batch shape: \"seq=1024,2048 tiles=1,3,7\" "
             "(every pair whose sequence holds its tiles' image tokens)"),
    cl::init(""), cl::cat(category));
cl::opt<std::string> deepspeed("deepspeed",
                               cl::desc("DeepSpeed config JSON: its ZeRO stage "
                                        "and bucket sizes are recorded on the "
                                        "module for the memory plan"),
                               cl::init(""), cl::cat(category));
cl::opt<int64_t> worldSize("world_size",
                           cl::desc("Data-parallel ranks (GPUs) of the run"),
                           cl::init(1), cl::cat(category));

/// The boolean flags, which InternVL's script also accepts as `--flag True`.
const llvm::StringSet<> boolFlags = {
    "use_thumbnail",    "freeze_backbone", "freeze_llm", "freeze_mlp",
    "unfreeze_lm_head", "grad_checkpoint", "summary",    "use_packed_ds",
    "strict_mode"};

/// Rewrites `--flag True` into `--flag=True` for the boolean flags so that
/// llvm::cl (which takes boolean values only after '=') reads them.
std::vector<std::string> joinBoolValues(int argc, char **argv) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    llvm::StringRef name = arg.ltrim('-');
    bool isFlag = arg.starts_with("-") && !name.contains('=');
    if (isFlag && boolFlags.contains(name) && i + 1 < argc) {
      llvm::StringRef next = argv[i + 1];
      if (next == "True" || next == "False" || next == "true" ||
          next == "false" || next == "1" || next == "0") {
        args.push_back((arg + "=" + next).str());
        ++i;
        continue;
      }
    }
    args.push_back(arg.str());
  }
  return args;
}

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "internvl-import")
      << clipText(message.str()) << "\n";
  return 1;
}

/// Parameter element counts, read off the function's arguments (each within
/// the tensor ceiling, their number bounded by the layer ceiling).
struct ParameterCounts {
  std::map<ModelRegion, int64_t> perRegion;
  int64_t total = 0, trainable = 0;
  /// The LoRA adapters' (lora_A / lora_B) elements.
  int64_t lora = 0;
};

ParameterCounts countParameters(mlir::func::FuncOp forward) {
  ParameterCounts counts;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    auto kind = forward.getArgAttrOfType<mlir::StringAttr>(
        i, mlir::tg::TGDialect::getKindAttrName());
    if (!kind || kind.getValue() != "param")
      continue;
    auto name = forward.getArgAttrOfType<mlir::StringAttr>(
        i, mlir::tg::TGDialect::getNameAttrName());
    int64_t n =
        llvm::cast<mlir::RankedTensorType>(forward.getArgument(i).getType())
            .getNumElements();
    counts.perRegion[regionOf(name.getValue())] += n;
    counts.total += n;
    if (isLoraAdapter(name.getValue()))
      counts.lora += n;
    if (forward.getArgAttr(i, mlir::tg::TGDialect::getTrainableAttrName()))
      counts.trainable += n;
  }
  return counts;
}

/// `withShape`: the tile and token lines of the one batch shape (a
/// bucketed import prints a line per bucket instead).
void printSummary(const ParameterCounts &counts, const ModelConfig &config,
                  const ImportShape &shape, bool withShape,
                  llvm::raw_ostream &os) {
  const std::map<ModelRegion, int64_t> &perRegion = counts.perRegion;
  int64_t total = counts.total, trainable = counts.trainable;
  os << "model " << llvm::sys::path::stem(config.path) << " ("
     << config.llm.architecture << ", InternViT " << config.vision.numLayers
     << " layers x " << config.vision.hiddenSize << ")\n";
  for (ModelRegion r :
       {ModelRegion::Vision, ModelRegion::Projector, ModelRegion::Llm})
    os << "params " << stringifyRegion(r) << " "
       << (perRegion.count(r) ? perRegion.at(r) : 0) << "\n";
  os << "params total " << total << "\n";
  os << "params trainable " << trainable << "\n";
  if (counts.lora)
    os << "params lora " << counts.lora << "\n";
  const char *unit = shape.packed ? "per_pack " : "per_sample ";
  if (withShape)
    os << "tiles " << unit << shape.tilesPerSample << " micro_batch "
     << shape.numTiles << "\n";
  if (withShape)
    os << "tokens " << unit << shape.seqLen << " image "
     << shape.imageTokensPerSample << " micro_batch "
     << shape.batch * shape.seqLen << "\n";
  if (shape.packed)
    os << "samples per_pack capacity " << shape.packCapacity << " expected "
       << shape.expectedSamples << "\n";
  os << "vit_layers used " << shape.vitLayersUsed << " of "
     << config.vision.numLayers << "\n";
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    internvl::printVersion(os, "internvl-import");
  });
  std::vector<std::string> args = joinBoolValues(argc, argv);
  std::vector<const char *> cargs;
  for (const std::string &a : args)
    cargs.push_back(a.c_str());
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      cargs.size(), cargs.data(),
      "internvl-import: InternVL config.json -> tg forward graph\n");

  llvm::Expected<ModelConfig> config = loadModelConfig(inputPath);
  if (!config)
    return fail(llvm::toString(config.takeError()));

  ImportOptions options;
  options.perDeviceTrainBatchSize = batchSize;
  options.maxDynamicPatch = maxDynamicPatch;
  options.useThumbnail = useThumbnail;
  options.maxSeqLength = maxSeqLength;
  if (forceImageSize.getNumOccurrences())
    options.forceImageSize = forceImageSize;
  if (downSampleRatio.getNumOccurrences())
    options.downSampleRatio = downSampleRatio;
  if (visionSelectLayer.getNumOccurrences())
    options.visionSelectLayer = visionSelectLayer;
  options.dropPathRate = dropPathRate;
  options.freezeBackbone = freezeBackbone;
  options.freezeLlm = freezeLlm;
  options.freezeMlp = freezeMlp;
  options.unfreezeVitLayers = unfreezeVitLayers;
  options.unfreezeLmHead = unfreezeLmHead;
  options.useLlmLora = useLlmLora;
  options.useBackboneLora = useBackboneLora;
  options.loraDropout = loraDropout;
  options.gradCheckpoint = gradCheckpoint;
  if (imageTokenId.getNumOccurrences())
    options.imageTokenId = imageTokenId;
  options.seed = seed;
  if (dtype != "bf16" && dtype != "f32")
    return fail("--dtype must be bf16 or f32, got '" + dtype + "'");
  options.bf16 = dtype == "bf16";
  options.usePackedDs = usePackedDs;
  options.maxPackedTokens = maxPackedTokens;
  options.numImagesExpected = numImagesExpected;
  options.strictMode = strictMode;
  if (lossReduction == "token")
    options.lossReduction = LossReduction::Token;
  else if (lossReduction == "sample")
    options.lossReduction = LossReduction::Sample;
  else if (lossReduction == "square")
    options.lossReduction = LossReduction::Square;
  else
    return fail("--loss_reduction must be token, sample or square, got '" +
                lossReduction + "'");
  if (maxSamplesPerPack.getNumOccurrences())
    options.maxSamplesPerPack = maxSamplesPerPack;
  if (expectedSamplesPerPack.getNumOccurrences())
    options.expectedSamplesPerPack = expectedSamplesPerPack;
  // InternVL ignores its own pack flags without packing; ours are refused.
  if (!usePackedDs)
    for (const cl::Option *packFlag :
         {static_cast<const cl::Option *>(&maxSamplesPerPack),
          static_cast<const cl::Option *>(&expectedSamplesPerPack)})
      if (packFlag->getNumOccurrences())
        return fail("--" + packFlag->ArgStr.str() +
                    " describes packs: it needs --use_packed_ds True");

  std::optional<DeepSpeedConfig> zero;
  if (!deepspeed.empty()) {
    llvm::Expected<DeepSpeedConfig> ds = loadDeepSpeedConfig(deepspeed);
    if (!ds)
      return fail(llvm::toString(ds.takeError()));
    zero = *ds;
  }
  if (worldSize < 1 || worldSize > mlir::tg::kMaxWorldSize)
    return fail("--world_size must be in [1, " +
                std::to_string(mlir::tg::kMaxWorldSize) + "], got " +
                std::to_string(worldSize));

  // The batch shapes: one, or one per bucket.
  std::vector<ShapeBucket> buckets;
  if (bucketsFlag.getNumOccurrences()) {
    if (maxSeqLength.getNumOccurrences())
      return fail("--max_seq_length and --buckets both give sequence "
                  "lengths: give the buckets' seq= only");
    if (usePackedDs)
      return fail("--buckets pads batches that are not packed; "
                  "--use_packed_ds gives every pack one shape already");
    llvm::Expected<BucketSpec> spec = parseBucketSpec(bucketsFlag);
    if (!spec)
      return fail(llvm::toString(spec.takeError()));
    llvm::Expected<TileGeometry> tile = tileGeometry(*config, options);
    if (!tile)
      return fail(llvm::toString(tile.takeError()));
    llvm::Expected<std::vector<ShapeBucket>> all =
        bucketsOf(*spec, tile->tokensPerTile);
    if (!all)
      return fail(llvm::toString(all.takeError()));
    buckets = std::move(*all);
  }

  mlir::MLIRContext context;
  mlir::Builder b(&context);
  // The step of one batch shape, with the run's settings on its module.
  auto importStep = [&](const ImportOptions &opts, ImportShape &shape)
      -> llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> {
    llvm::Expected<ImportShape> computed = computeImportShape(*config, opts);
    if (!computed)
      return computed.takeError();
    shape = *computed;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        buildForwardModule(context, *config, opts, shape);
    module->getOperation()->setAttr("tg.world_size",
                                    b.getI64IntegerAttr(worldSize));
    if (zero) {
      module->getOperation()->setAttr("tg.zero_stage",
                                      b.getI64IntegerAttr(zero->zeroStage));
      module->getOperation()->setAttr(
          "tg.reduce_bucket_size",
          b.getI64IntegerAttr(zero->reduceBucketSize));
      module->getOperation()->setAttr(
          "tg.allgather_bucket_size",
          b.getI64IntegerAttr(zero->allgatherBucketSize));
    }
    return module;
  };

  ImportShape shape;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (buckets.empty()) {
    llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> one =
        importStep(options, shape);
    if (!one)
      return fail(llvm::toString(one.takeError()));
    module = std::move(*one);
  } else {
    // One nested module per bucket, named after it.
    module = mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
    for (const ShapeBucket &bucket : buckets) {
      ImportOptions opts = options;
      opts.maxSeqLength = bucket.seq;
      opts.tilesPerSample = bucket.tiles;
      llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> one =
          importStep(opts, shape);
      if (!one)
        return fail(llvm::toString(one.takeError()));
      mlir::ModuleOp nested = one->release();
      nested.setSymName(bucket.name());
      nested->setAttr("tg.bucket", mlir::tg::BucketAttr::get(
                                       &context, bucket.seq, bucket.tiles));
      module->getBody()->push_back(nested);
    }
  }
  // Every size a user can write was checked above: a graph that does not
  // verify now is the importer's fault. Say what the verifier said.
  std::string problem;
  {
    mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
      if (problem.empty())
        problem = d.str();
      return mlir::success();
    });
    if (mlir::failed(mlir::verify(*module)))
      return fail("the imported graph of " + inputPath +
                  " does not verify, a bug in the importer: " + problem);
  }

  // Parameters are the same in every bucket: count the first forward.
  mlir::func::FuncOp firstForward;
  module->walk([&](mlir::func::FuncOp f) {
    if (!firstForward)
      firstForward = f;
  });
  ParameterCounts counts = countParameters(firstForward);
  int64_t parameterBytes = counts.total * (options.bf16 ? 2 : 4);
  if (parameterBytes > limits::kMaxParameterBytes)
    return fail(inputPath + ": the model has " + std::to_string(counts.total) +
                " parameters, " + std::to_string(parameterBytes) +
                " bytes at --dtype " + dtype +
                ", above the ceiling of 16 TiB (docs/import.md); check "
                "num_hidden_layers, hidden_size, intermediate_size and "
                "vocab_size");
  if (summary) {
    printSummary(counts, *config, shape, buckets.empty(), llvm::outs());
    for (const ShapeBucket &bucket : buckets)
      llvm::outs() << "bucket " << bucket.name() << " seq " << bucket.seq
                   << " tiles " << bucket.tiles << " micro_batch tokens "
                   << shape.batch * bucket.seq << " tiles "
                   << shape.batch * bucket.tiles << "\n";
  }

  std::string out = outputPath;
  if (out.empty() && !summary)
    out = "-";
  if (!out.empty())
    if (llvm::Error e = writeOutputFile(out, [&](llvm::raw_ostream &os) {
          module->print(os);
          return llvm::Error::success();
        }))
      return fail(llvm::toString(std::move(e)));
  if (llvm::Error e = flushStandardOutput())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
