//===- FuzzImport.cpp - fuzz target: config.json and fine-tune flags ------===//
//
// An input is one line of internvl-import flags (as a user passes them,
// `--max_dynamic_patch 6 --use_thumbnail --max_seq_length 4096`) followed by
// the bytes of a config.json. Whatever the config reader and the shape
// rules accept must import into a graph that verifies: a graph that does not
// is a check the importer is missing, and aborts.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Import/ForwardGraph.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace internvl;

namespace {

/// Reads the flag line into `options`; false for a flag internvl-import
/// does not have (the input is then skipped). Integer values are taken
/// whole, however large, as the tool's parser takes them.
bool parseFlags(llvm::StringRef line, ImportOptions &options) {
  llvm::SmallVector<llvm::StringRef> words;
  line.split(words, ' ', -1, /*KeepEmpty=*/false);
  for (size_t i = 0; i < words.size(); ++i) {
    llvm::StringRef flag = words[i];
    if (!flag.consume_front("--"))
      return false;
    llvm::StringRef value = i + 1 < words.size() ? words[i + 1] : "";
    // Fields are int64_t, double, bool or std::optional of them.
    auto setInteger = [&](auto &field) {
      int64_t v;
      if (value.getAsInteger(10, v))
        return false;
      field = v;
      ++i;
      return true;
    };
    auto setReal = [&](auto &field) {
      double v;
      if (value.getAsDouble(v))
        return false;
      field = v;
      ++i;
      return true;
    };
    // `--flag` alone, or `--flag True/False` as InternVL's scripts write.
    auto setBoolean = [&](bool &field) {
      field = value != "False";
      if (value == "True" || value == "False")
        ++i;
      return true;
    };
    bool ok;
    if (flag == "per_device_train_batch_size")
      ok = setInteger(options.perDeviceTrainBatchSize);
    else if (flag == "max_dynamic_patch")
      ok = setInteger(options.maxDynamicPatch);
    else if (flag == "max_seq_length")
      ok = setInteger(options.maxSeqLength);
    else if (flag == "force_image_size")
      ok = setInteger(options.forceImageSize);
    else if (flag == "down_sample_ratio")
      ok = setReal(options.downSampleRatio);
    else if (flag == "vision_select_layer")
      ok = setInteger(options.visionSelectLayer);
    else if (flag == "drop_path_rate")
      ok = setReal(options.dropPathRate);
    else if (flag == "unfreeze_vit_layers")
      ok = setInteger(options.unfreezeVitLayers);
    else if (flag == "img_context_token_id")
      ok = setInteger(options.imageTokenId);
    else if (flag == "seed")
      ok = setInteger(options.seed);
    else if (flag == "use_llm_lora")
      ok = setInteger(options.useLlmLora);
    else if (flag == "use_backbone_lora")
      ok = setInteger(options.useBackboneLora);
    else if (flag == "lora_dropout")
      ok = setReal(options.loraDropout);
    else if (flag == "max_packed_tokens")
      ok = setInteger(options.maxPackedTokens);
    else if (flag == "num_images_expected")
      ok = setInteger(options.numImagesExpected);
    else if (flag == "max_samples_per_pack")
      ok = setInteger(options.maxSamplesPerPack);
    else if (flag == "expected_samples_per_pack")
      ok = setInteger(options.expectedSamplesPerPack);
    else if (flag == "tiles_per_sample") // a bucket's (--buckets)
      ok = setInteger(options.tilesPerSample);
    else if (flag == "use_packed_ds")
      ok = setBoolean(options.usePackedDs);
    else if (flag == "loss_reduction" &&
             (value == "token" || value == "sample" || value == "square")) {
      options.lossReduction = value == "token"    ? LossReduction::Token
                              : value == "sample" ? LossReduction::Sample
                                                  : LossReduction::Square;
      ++i;
      ok = true;
    } else if (flag == "use_thumbnail")
      ok = setBoolean(options.useThumbnail);
    else if (flag == "freeze_backbone")
      ok = setBoolean(options.freezeBackbone);
    else if (flag == "freeze_llm")
      ok = setBoolean(options.freezeLlm);
    else if (flag == "freeze_mlp")
      ok = setBoolean(options.freezeMlp);
    else if (flag == "unfreeze_lm_head")
      ok = setBoolean(options.unfreezeLmHead);
    else if (flag == "grad_checkpoint")
      ok = setBoolean(options.gradCheckpoint);
    else if (flag == "dtype" && (value == "bf16" || value == "f32")) {
      options.bf16 = value == "bf16";
      ++i;
      ok = true;
    } else {
      return false;
    }
    if (!ok)
      return false;
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef input(reinterpret_cast<const char *>(data), size);
  auto [flagLine, configText] = input.split('\n');
  ImportOptions options;
  if (!parseFlags(flagLine, options))
    return 0;
  llvm::Expected<ModelConfig> config =
      parseModelConfig(configText, "fuzz.json");
  if (!config) {
    llvm::consumeError(config.takeError());
    return 0;
  }
  llvm::Expected<ImportShape> shape = computeImportShape(*config, options);
  if (!shape) {
    llvm::consumeError(shape.takeError());
    return 0;
  }
  // Building 1024 layers takes a tenth of a second and exercises nothing
  // that 8 do not; keep the fuzzer fast.
  if (config->vision.numLayers + config->llm.numLayers > 8)
    return 0;
  mlir::MLIRContext context;
  context.loadDialect<mlir::tg::TGDialect, mlir::func::FuncDialect>();
  std::string problem;
  mlir::ScopedDiagnosticHandler capture(&context, [&](mlir::Diagnostic &d) {
    if (problem.empty())
      problem = d.str();
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildForwardModule(context, *config, options, *shape);
  if (mlir::failed(mlir::verify(*module))) {
    llvm::errs() << "fuzz-import: an accepted config imports into a graph "
                    "that does not verify: "
                 << problem << "\n";
    std::abort();
  }
  return 0;
}
