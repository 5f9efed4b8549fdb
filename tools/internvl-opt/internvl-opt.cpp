//===- internvl-opt.cpp - the tg pass driver ------------------------------===//
//
// mlir-opt for training graphs: the tg, func, arith and emitc dialects with
// every project pass (and the -test-* passes) registered. It takes
// mlir-opt's options but drives each input chunk itself, so that
//  - the output is written whole or not at all, beside the file it replaces
//    (`-o` may name the input; a full disk leaves no partial file);
//  - diagnostics are compact: a signature line of megabytes or an attribute
//    of megabytes is not echoed in full.
//
//===----------------------------------------------------------------------===//

#include "internvl/Conversion/Passes.h"
#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/BucketModules.h"
#include "internvl/Dialect/TG/Transforms/BucketTable.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/Diagnostics.h"
#include "internvl/Support/OutputFile.h"
#include "internvl/Version.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Support/ToolUtilities.h"
#include "mlir/Tools/ParseUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <vector>

using namespace mlir;

namespace internvl::test {
void registerTestPasses();
} // namespace internvl::test

namespace {

constexpr const char *kTool = "internvl-opt";

/// Parses one chunk, runs the pipeline on it and prints it to `os`.
LogicalResult runChunk(raw_ostream &os,
                       const std::shared_ptr<llvm::SourceMgr> &sources,
                       MLIRContext &context, const MlirOptMainConfig &config) {
  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope timing = timingManager.getRootScope();
  ParserConfig parserConfig(&context, /*verifyAfterParse=*/true);
  TimingScope parserTiming = timing.nest("Parser");
  OwningOpRef<Operation *> op = parseSourceFileForTool(
      sources, parserConfig, !config.shouldUseExplicitModule());
  parserTiming.stop();
  if (!op)
    return failure();

  PassManager pm(op.get()->getName(), PassManager::Nesting::Implicit);
  pm.enableVerifier(config.shouldVerifyPasses());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  pm.enableTiming(timing);
  if (failed(config.setupPassPipeline(pm)))
    return failure();
  // A bucketed module (internvl-import --buckets): the pipeline runs on each
  // bucket's module, then the memory-plan report puts them side by side.
  auto top = dyn_cast<ModuleOp>(op.get());
  SmallVector<ModuleOp> buckets = top ? tg::bucketModules(top)
                                      : SmallVector<ModuleOp>();
  if (buckets.empty()) {
    if (failed(pm.run(*op)))
      return failure();
  } else {
    for (ModuleOp bucket : buckets)
      if (failed(pm.run(bucket)))
        return failure();
    std::string pipeline;
    llvm::raw_string_ostream text(pipeline);
    pm.printAsTextualPipeline(text);
    if (llvm::StringRef(pipeline).contains("tg-print-memory-plan") &&
        failed(tg::printBucketTable(top, llvm::outs())))
      return failure();
  }

  TimingScope outputTiming = timing.nest("Output");
  if (config.shouldEmitBytecode()) {
    BytecodeWriterConfig writerConfig;
    if (std::optional<int64_t> version = config.bytecodeVersionToEmit())
      writerConfig.setDesiredBytecodeVersion(*version);
    if (config.shouldElideResourceDataFromBytecode())
      writerConfig.setElideResourceDataFlag();
    return writeBytecodeToFile(op.get(), os, writerConfig);
  }
  op.get()->print(os);
  os << "\n";
  return success();
}

/// One `// -----` chunk in its own context, as mlir-opt does; with
/// -verify-diagnostics the expected-* comments are checked instead.
LogicalResult processChunk(std::unique_ptr<llvm::MemoryBuffer> chunk,
                           raw_ostream &os, DialectRegistry &registry,
                           const MlirOptMainConfig &config) {
  auto sources = std::make_shared<llvm::SourceMgr>();
  sources->AddNewSourceBuffer(std::move(chunk), llvm::SMLoc());
  internvl::useCompactDiagnostics(*sources, kTool);
  MLIRContext context(registry);
  context.allowUnregisteredDialects(config.shouldAllowUnregisteredDialects());
  if (!config.shouldVerifyDiagnostics()) {
    SourceMgrDiagnosticHandler handler(*sources, &context);
    return runChunk(os, sources, context, config);
  }
  context.printOpOnDiagnostic(false);
  SourceMgrDiagnosticVerifierHandler handler(*sources, &context);
  // What the actions did matters only through the diagnostics they gave.
  (void)runChunk(os, sources, context, config);
  return handler.verify();
}

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), kTool)
      << internvl::clipText(message.str()) << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::SetVersionPrinter(
      [](llvm::raw_ostream &os) { internvl::printVersion(os, kTool); });

  DialectRegistry registry;
  registry.insert<tg::TGDialect, func::FuncDialect, arith::ArithDialect,
                  emitc::EmitCDialect>();
  tg::registerTGPasses();
  tg::registerConversionPasses();
  internvl::test::registerTestPasses();

  // An error on the module would otherwise print the whole step (a 26B
  // model's is tens of MB) after the message; ask with
  // --mlir-print-op-on-diagnostic=true.
  std::vector<char *> args(argv, argv + argc);
  bool asked = llvm::any_of(args, [](const char *a) {
    return llvm::StringRef(a).contains("mlir-print-op-on-diagnostic");
  });
  static char quiet[] = "--mlir-print-op-on-diagnostic=false";
  if (!asked)
    args.insert(args.begin() + 1, quiet);
  auto [inputPath, outputPath] = registerAndParseCLIOptions(
      static_cast<int>(args.size()), args.data(),
      "internvl-opt: training-graph optimizer", registry);
  const MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects()) {
    llvm::outs() << "Available Dialects: ";
    llvm::interleave(registry.getDialectNames(), llvm::outs(), ",");
    llvm::outs() << "\n";
    return internvl::flushStandardOutput() ? 1 : 0;
  }
  if (config.shouldVerifyRoundtrip() || config.shouldRunReproducer() ||
      !config.getIrdlFile().empty())
    return fail("--verify-roundtrip, --run-reproducer and --irdl-file are "
                "mlir-opt's; internvl-opt does not take them");

  // Read whole, not mapped: the output may replace the input.
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> input =
      inputPath == "-"
          ? llvm::MemoryBuffer::getSTDIN()
          : llvm::MemoryBuffer::getFile(inputPath, /*IsText=*/false,
                                        /*RequiresNullTerminator=*/true,
                                        /*IsVolatile=*/true);
  if (!input)
    return fail("cannot read '" + inputPath +
                "': " + input.getError().message());

  bool processed = true;
  llvm::Error written =
      internvl::writeOutputFile(outputPath, [&](llvm::raw_ostream &os) {
        auto chunk = [&](std::unique_ptr<llvm::MemoryBuffer> buffer,
                         raw_ostream &out) {
          return processChunk(std::move(buffer), out, registry, config);
        };
        processed = succeeded(splitAndProcessBuffer(
            std::move(*input), chunk, os, config.inputSplitMarker(),
            config.outputSplitMarker()));
        // Failed processing writes nothing; its diagnostics said why.
        return processed ? llvm::Error::success()
                         : llvm::createStringError(
                               llvm::inconvertibleErrorCode(), "");
      });
  if (written) {
    std::string message = llvm::toString(std::move(written));
    return processed ? fail(message) : 1;
  }
  // Reports (--tg-print-memory-plan) print to stdout beside -o.
  if (llvm::Error e = internvl::flushStandardOutput())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
