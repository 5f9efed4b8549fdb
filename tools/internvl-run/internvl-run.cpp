//===- internvl-run.cpp - execute a tg function on the CPU ----------------===//
//
//   internvl-run FILE.mlir [--entry NAME] [--seed N] [--inputs DIR] [--dump
//   DIR]
//
// Arguments not found in --inputs are generated from the seed. Prints one
// `output ...` line per result; --dump writes each result as <name>.npy.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/BucketModules.h"
#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Interpreter/Interpreter.h"
#include "internvl/Support/Diagnostics.h"
#include "internvl/Support/OutputFile.h"
#include "internvl/runtime/HostMemory.h"
#include "internvl/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

#include <chrono>
#include <cmath>

using namespace internvl;
namespace cl = llvm::cl;

namespace {
cl::opt<std::string> bucket("bucket",
                           cl::desc("The bucket of a bucketed module "
                                    "(internvl-import --buckets) to run, "
                                    "e.g. seq4096_tiles7"),
                           cl::init(""));
cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                               cl::desc("<tg module .mlir>"));
cl::opt<std::string> entry("entry",
                           cl::desc("Function to run (default: train_step, "
                                    "else forward, else the only one)"),
                           cl::init(""));
cl::opt<uint64_t> seed("seed", cl::desc("Seed of generated inputs"),
                       cl::init(0));
cl::opt<std::string> inputsDir("inputs",
                               cl::desc("Directory of .npy / .safetensors "
                                        "files named after the arguments"),
                               cl::init(""));
cl::opt<std::string> dumpDir("dump",
                             cl::desc("Write every output as <name>.npy here"),
                             cl::init(""));
cl::opt<bool> allowNonfiniteLoss(
    "allow-nonfinite-loss",
    cl::desc("Exit 0 even when the loss is NaN or infinite (by default that "
             "is an error that says why)"),
    cl::init(false));

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "internvl-run")
      << clipText(message.str()) << "\n";
  return 1;
}

/// Every tensor in `dir`: <name>.npy files and all tensors of .safetensors.
llvm::Expected<llvm::StringMap<HostTensor>> readInputs(llvm::StringRef dir) {
  llvm::StringMap<HostTensor> tensors;
  std::error_code ec;
  if (!llvm::sys::fs::is_directory(dir))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "--inputs " + dir + " is not a directory");
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef path = it->path();
    if (path.ends_with(".npy")) {
      llvm::Expected<HostTensor> t = readNpy(path);
      if (!t)
        return t.takeError();
      tensors[llvm::sys::path::stem(path)] = *t;
    } else if (path.ends_with(".safetensors")) {
      llvm::Expected<llvm::StringMap<HostTensor>> all = readSafetensors(path);
      if (!all)
        return all.takeError();
      for (auto &entry : *all)
        tensors[entry.getKey()] = entry.getValue();
    }
  }
  if (ec)
    return llvm::createStringError(ec, "cannot list " + dir);
  return tensors;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    internvl::printVersion(os, "internvl-run");
  });
  cl::ParseCommandLineOptions(
      argc, argv, "internvl-run: execute a tg function on the CPU\n");

  mlir::MLIRContext context;
  context.loadDialect<mlir::tg::TGDialect, mlir::func::FuncDialect>();
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sources;
  useCompactDiagnostics(sources, "internvl-run");
  mlir::SourceMgrDiagnosticHandler diagnostics(sources, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(inputFile, sources, &context);
  if (!module)
    return fail("cannot parse " + inputFile);
  // A bucketed module holds one step per batch shape: run the one named.
  {
    llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> chosen =
        mlir::tg::selectBucket(*module, bucket);
    if (!chosen)
      return fail(inputFile + ": " + llvm::toString(chosen.takeError()));
    module = std::move(*chosen);
  }

  mlir::func::FuncOp func;
  if (!entry.empty()) {
    func = module->lookupSymbol<mlir::func::FuncOp>(entry);
    if (!func)
      return fail("no function @" + entry + " in " + inputFile);
  } else {
    for (llvm::StringRef name : {"train_step", "forward"})
      if (!func)
        func = module->lookupSymbol<mlir::func::FuncOp>(name);
    auto funcs = module->getOps<mlir::func::FuncOp>();
    if (!func && std::distance(funcs.begin(), funcs.end()) == 1)
      func = *funcs.begin();
    if (!func)
      return fail("no @train_step or @forward in " + inputFile +
                  "; name the function with --entry");
  }

  // A defined function of static tensors within the ceiling, and memory
  // for its arguments and the values live at once.
  if (mlir::failed(mlir::tg::expectPlannableBody(func, "internvl-run")))
    return 1;
  std::vector<ArgSpec> specs = argumentSpecs(func);
  int64_t argumentBytes = 0;
  for (const std::vector<ArgSpec> &group : {specs, zeroParameterSpecs(func)})
    for (const ArgSpec &spec : group)
      argumentBytes +=
          ivl::io::numElements(spec.shape) * ivl_dtype_size(spec.dtype);
  int64_t valueBytes = interpreterPeakBytes(func);
  int64_t memory = ivl::hostMemoryBytes();
  if (argumentBytes + valueBytes > memory)
    return fail("@" + func.getName() + " needs " +
                ivl::io::formatGiB(argumentBytes + valueBytes) +
                " of host memory (" + ivl::io::formatGiB(argumentBytes) +
                " of arguments, " + ivl::io::formatGiB(valueBytes) +
                " of values live at once), more than this machine's " +
                ivl::io::formatGiB(memory));

  llvm::StringMap<HostTensor> provided;
  if (!inputsDir.empty()) {
    llvm::Expected<llvm::StringMap<HostTensor>> read = readInputs(inputsDir);
    if (!read)
      return fail(llvm::toString(read.takeError()));
    provided = std::move(*read);
  }

  BatchSpec batch = batchSpec(func);
  llvm::StringSet<> used;
  llvm::Expected<std::vector<HostTensor>> made =
      makeArguments(func, seed, provided, &used);
  if (!made)
    return fail(llvm::toString(made.takeError()));
  std::vector<HostTensor> args = std::move(*made);
  for (auto &entry : provided)
    if (!used.contains(entry.getKey()))
      llvm::errs() << "internvl-run: note: input '" << entry.getKey()
                   << "' matches no argument of @" << func.getName() << "\n";

  auto start = std::chrono::steady_clock::now();
  llvm::Expected<std::vector<HostTensor>> results = interpret(func, args);
  if (!results)
    return fail(llvm::toString(results.takeError()));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  if (!dumpDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(dumpDir))
      return fail("cannot create --dump " + dumpDir + ": " + ec.message());
  std::string lossProblem;
  for (auto [i, result] : llvm::enumerate(*results)) {
    auto nameAttr = func.getResultAttrOfType<mlir::StringAttr>(
        i, mlir::tg::TGDialect::getNameAttrName());
    std::string name =
        nameAttr ? nameAttr.getValue().str() : "result" + std::to_string(i);
    llvm::outs() << formatOutputLine(i, name, result) << "\n";
    if (!dumpDir.empty()) {
      llvm::SmallString<256> path(dumpDir);
      llvm::sys::path::append(path, name + ".npy");
      if (llvm::Error e = writeNpy(path, result))
        return fail(llvm::toString(std::move(e)));
    }
    if (name == "loss" && batch.vocabSize > 0)
      llvm::outs() << "loss " << llvm::format("%.6f", result.floatAt(0))
                   << " ln(vocab_size)="
                   << llvm::format("%.6f", std::log(double(batch.vocabSize)))
                   << "\n";
    if (name == "loss" && result.numel() == 1 &&
        !std::isfinite(result.floatAt(0))) {
      std::vector<ivl::io::ArgView> views;
      for (auto [spec, arg] : llvm::zip(specs, args))
        views.push_back({&spec, arg.data()});
      std::string why = ivl::io::explainNonFiniteLoss(views, batch);
      lossProblem = "the loss is " + std::to_string(result.floatAt(0)) +
                    (why.empty() ? std::string() : ": " + why);
    }
  }
  if (llvm::Error e = flushStandardOutput())
    return fail(llvm::toString(std::move(e)));
  llvm::errs() << "internvl-run: @" << func.getName() << " ran in "
               << llvm::format("%.3f", seconds) << " s\n";
  if (!lossProblem.empty() && !allowNonfiniteLoss)
    return fail(lossProblem + " (--allow-nonfinite-loss accepts it)");
  return 0;
}
