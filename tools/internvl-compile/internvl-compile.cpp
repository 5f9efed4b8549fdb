//===- internvl-compile.cpp - a training step, compiled ahead of time -----===//
//
//   internvl-compile FILE.mlir --target=cpu|cuda -o DIR
//       [--remat="vision=force lm=auto"] [--budget=80GB] [--arch=sm_90]
//       [--autodiff="lr=4e-5 weight-decay=0.05"] [--function=NAME]
//       [--fuse-elementwise=false] [--emit=library|source]
//
// Runs what the step still needs of the pipeline (--tg-autodiff when the
// module has only @forward, --tg-remat when asked, --tg-plan-memory and its
// checker; a PassManager built from typed pass options), lowers it with
// convertStepToEmitC (which also returns the manifest), translates the EmitC to
// C++ (DIR/step.cpp, or DIR/step.cu for CUDA) and builds DIR/libstep.so
// with the runtime of the target plus DIR/run-step, the runner. DIR also
// gets the planned module (train_step.mlir) and the manifest (step.json).
//
//===----------------------------------------------------------------------===//

#include "internvl/CompileConfig.h"
#include "internvl/Conversion/TGToEmitC/TGToEmitC.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/IR/BucketModules.h"
#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Support/Diagnostics.h"
#include "internvl/Support/OutputFile.h"
#include "internvl/Support/Units.h"
#include "internvl/Version.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "mlir/Target/Cpp/CppEmitter.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

#include <tuple>

using namespace mlir;
namespace cl = llvm::cl;

namespace {
cl::opt<std::string> bucket("bucket",
                           cl::desc("The bucket of a bucketed module "
                                    "(internvl-import --buckets) to compile, "
                                    "e.g. seq4096_tiles7"),
                           cl::init(""));
cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                               cl::desc("<tg module .mlir>"));
cl::opt<std::string> outputDir("o", cl::Required,
                               cl::desc("Directory for the step's files"),
                               cl::value_desc("DIR"));
cl::opt<std::string> targetName("target",
                                cl::desc("cpu (g++, the CPU runtime) or cuda "
                                         "(nvcc, the CUDA runtime)"),
                                cl::init("cpu"));
cl::opt<std::string>
    rematOptions("remat",
                 cl::desc("Run --tg-remat with these options, e.g. "
                          "\"vision=force lm=auto\""),
                 cl::init(""));
cl::opt<std::string> budget("budget",
                            cl::desc("Peak memory per GPU for --tg-remat "
                                     "(80GB, 79.6GiB, h100-80gb); implies "
                                     "lm=auto unless --remat says otherwise"),
                            cl::init(""));
cl::opt<int64_t> worldSize(
    "world-size",
    cl::desc("Data-parallel ranks (default: the module's tg.world_size); "
             "given, the step gets its collectives even for one rank"),
    cl::init(-1));
cl::opt<int64_t> zeroStage("zero-stage",
                           cl::desc("DeepSpeed ZeRO stage 0-3 (default: the "
                                    "module's tg.zero_stage)"),
                           cl::init(-1));
cl::opt<int64_t> reduceBucketSize(
    "reduce-bucket-size",
    cl::desc("Elements per gradient bucket (default: the module's "
             "tg.reduce_bucket_size, else 5e8)"),
    cl::init(-1));
cl::opt<int64_t> allgatherBucketSize(
    "allgather-bucket-size",
    cl::desc("ZeRO 1-2: most parameter elements all-gathered at once; "
             "ZeRO 3: most elements prefetched ahead (default: the module's "
             "tg.allgather_bucket_size, else 5e8 / 5e7)"),
    cl::init(-1));
cl::opt<std::string> autodiffOptions(
    "autodiff",
    cl::desc("Options of --tg-autodiff when the module has only @forward"),
    cl::init(""));
cl::opt<std::string> functionName("function",
                                  cl::desc("The step function (default: "
                                           "train_step, else forward)"),
                                  cl::init(""));
cl::opt<std::string> arch("arch",
                          cl::desc("CUDA architecture for nvcc (sm_90 for "
                                   "H100/H200)"),
                          cl::init("sm_90"));
cl::opt<bool> fuse("fuse-elementwise",
                   cl::desc("Fuse runs of elementwise ops into generated "
                            "kernels"),
                   cl::init(true));
cl::opt<std::string> emit("emit",
                          cl::desc("library: source, libstep.so and run-step "
                                   "(default); source: the source and "
                                   "manifest only"),
                          cl::init("library"));

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "internvl-compile") << message << "\n";
  return 1;
}

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// A pass made from typed options, with what the user wrote for it
/// (`--autodiff=...`, `--remat=...`) parsed over them by the pass itself.
llvm::Error addPass(PassManager &pm, std::unique_ptr<Pass> pass,
                    StringRef userOptions = {}) {
  std::string message;
  if (!userOptions.empty() &&
      failed(pass->initializeOptions(userOptions, [&](const llvm::Twine &m) {
        message = m.str();
        return failure();
      })))
    return error(message);
  pm.addPass(std::move(pass));
  return llvm::Error::success();
}

/// Adds the passes the step still needs to `pm`.
llvm::Error buildPipeline(ModuleOp module, PassManager &pm) {
  Operation *moduleOp = module.getOperation();
  StringRef name = functionName.empty() ? "train_step" : StringRef(functionName);
  auto step = module.lookupSymbol<func::FuncOp>(name);
  if (!step) {
    if (!functionName.empty())
      return error("no function @" + functionName + " in " +
                                         inputFile);
    if (!module.lookupSymbol<func::FuncOp>("forward"))
      return error(
          inputFile + " has neither @train_step nor @forward (write it with "
                      "internvl-import)");
    if (llvm::Error e = addPass(pm, tg::createTGAutodiff(), autodiffOptions))
      return e;
  } else if (!autodiffOptions.empty()) {
    return error(
        "--autodiff: " + inputFile + " already has @" + name);
  }
  bool planned = step && tg::getMemoryPlan(step);
  bool remat = !rematOptions.empty() || !budget.empty();
  // A step already made data parallel keeps its settings: flags that
  // disagree with them are a mistake, not a request to redo it.
  tg::DataParallelAttr dp = step ? tg::getDataParallel(step) : nullptr;
  bool alreadyDataParallel = static_cast<bool>(dp);
  if (alreadyDataParallel) {
    for (auto [flag, key, value, have] :
         {std::tuple<const char *, const char *, int64_t, int64_t>{
              "world-size", "world_size", worldSize, dp.getWorldSize()},
          {"zero-stage", "zero_stage", zeroStage, dp.getZeroStage()},
          {"reduce-bucket-size", "reduce_bucket_size", reduceBucketSize,
           dp.getReduceBucketSize()},
          {"allgather-bucket-size", "allgather_bucket_size",
           allgatherBucketSize, dp.getAllgatherBucketSize()}}) {
      if (value != -1 && have != value)
        return error(
            "--" + std::string(flag) + "=" + std::to_string(value) + ": @" +
                name.str() + " in " + inputFile +
                " is already data parallel with " + key + " " +
                std::to_string(have) +
                "; give the step before --tg-data-parallel to change it");
    }
  }
  if (alreadyDataParallel && remat)
    return error(
        "--remat/--budget: @" + name.str() + " in " + inputFile +
            " is already data parallel; give the step before "
            "--tg-data-parallel");
  if (planned && remat)
    return error(
        "--remat/--budget: @" + name + " in " + inputFile +
            " is already planned; give the unplanned step");
  auto moduleWorld = moduleOp->getAttrOfType<IntegerAttr>("tg.world_size");
  // -1 is "not given"; other values, negative ones included, go to the
  // passes, which name what is allowed.
  bool dataParallel = worldSize != -1 || zeroStage != -1 ||
                      reduceBucketSize != -1 || allgatherBucketSize != -1 ||
                      (moduleWorld && moduleWorld.getInt() > 1);
  if (remat) {
    tg::TGRematOptions o;
    // --budget alone solves the LLM's layers; --remat may say otherwise.
    if (!budget.empty())
      o.lm = "auto";
    o.functionName = functionName;
    // The budget holds for the step as it will be lowered (ZeRO-3 gathers):
    // --tg-remat plans its candidates with --tg-data-parallel's options.
    o.dataParallel = dataParallel;
    o.worldSize = worldSize;
    o.zeroStage = zeroStage;
    o.reduceBucketSize = reduceBucketSize;
    o.allgatherBucketSize = allgatherBucketSize;
    o.budget = budget;
    if (!budget.empty() && StringRef(rematOptions).contains("budget="))
      return error("--budget=" + budget + " and --remat=\"" + rematOptions +
                   "\" both give a budget: give it once");
    if (llvm::Error e = addPass(pm, tg::createTGRemat(o), rematOptions))
      return e;
  }
  if (dataParallel && planned && !alreadyDataParallel)
    return error(
        "@" + name.str() + " in " + inputFile +
            " is already planned; give the unplanned step to make it data "
            "parallel");
  if (dataParallel && !alreadyDataParallel) {
    tg::TGDataParallelOptions o;
    o.worldSize = worldSize;
    o.zeroStage = zeroStage;
    o.reduceBucketSize = reduceBucketSize;
    o.allgatherBucketSize = allgatherBucketSize;
    if (!functionName.empty())
      o.functionName = functionName;
    pm.addPass(tg::createTGDataParallel(o));
  }
  if (!planned)
    pm.addPass(tg::createTGPlanMemory());
  pm.addPass(tg::createTGVerifyMemoryPlan());
  return llvm::Error::success();
}

/// The files a build leaves in -o DIR; an earlier build's are replaced.
constexpr const char *kStepFiles[] = {"step.cpp",  "step.cu",  "step.json",
                                      "train_step.mlir", "libstep.so",
                                      "run-step", "build.log"};

/// A new, empty directory beside `dir` (so that its files can be renamed
/// into `dir`): `<dir>.tmp-XXXXXX`.
llvm::Expected<std::string> makeStagingDirectory(StringRef dir) {
  SmallString<256> base(dir);
  while (base.size() > 1 && llvm::sys::path::is_separator(base.back()))
    base.pop_back();
  if (StringRef parent = llvm::sys::path::parent_path(base); !parent.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(parent))
      return llvm::createStringError(ec, "cannot create '" + parent.str() +
                                             "': " + ec.message());
  for (int attempt = 0; attempt < 16; ++attempt) {
    SmallString<256> staging;
    llvm::sys::fs::createUniquePath(base + ".tmp-%%%%%%", staging,
                                    /*MakeAbsolute=*/false);
    std::error_code ec = llvm::sys::fs::create_directory(
        staging, /*IgnoreExisting=*/false);
    if (!ec)
      return std::string(staging);
    if (ec != std::errc::file_exists)
      return llvm::createStringError(ec, "cannot create '" + staging.str() +
                                             "': " + ec.message());
  }
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "cannot create a directory beside " + dir);
}

/// Whether `file` is one a build leaves in -o: kStepFiles, or a bucketed
/// library's step.<bucket>.cpp|cu, train_step.<bucket>.mlir, buckets.cpp|cu.
bool isStepFile(StringRef file) {
  if (llvm::is_contained(kStepFiles, file))
    return true;
  return file == "buckets.cpp" || file == "buckets.cu" ||
         ((file.starts_with("step.seq") || file.starts_with("train_step.seq")) &&
          (file.ends_with(".cpp") || file.ends_with(".cu") ||
           file.ends_with(".mlir")));
}

/// Moves the files of `staging` into `dir` (created if needed), replacing
/// what an earlier build left there, and removes `staging`.
llvm::Error moveIntoPlace(StringRef staging, StringRef dir) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return llvm::createStringError(ec, "cannot create -o " + dir + ": " +
                                           ec.message());
  // An earlier build's files go, whatever shape it had.
  std::error_code ec;
  std::vector<std::string> stale, staged;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (isStepFile(llvm::sys::path::filename(it->path())))
      stale.push_back(it->path());
  for (const std::string &file : stale)
    llvm::sys::fs::remove(file);
  // The logs of the build's tools stay behind (build.log is a step file).
  for (llvm::sys::fs::directory_iterator it(staging, ec), end; it != end && !ec;
       it.increment(ec))
    if (isStepFile(llvm::sys::path::filename(it->path())))
      staged.push_back(it->path());
  if (ec)
    return llvm::createStringError(ec, "cannot list " + staging + ": " +
                                           ec.message());
  for (const std::string &from : staged) {
    SmallString<256> to(dir);
    llvm::sys::path::append(to, llvm::sys::path::filename(from));
    if (std::error_code moved = llvm::sys::fs::rename(from, to))
      return llvm::createStringError(moved, "cannot move " + from + " to " +
                                                to + ": " + moved.message());
  }
  return llvm::errorCodeToError(llvm::sys::fs::remove_directories(staging));
}

/// Runs `argv`, logging to `log`; returns an error with the log's tail.
llvm::Error runTool(ArrayRef<std::string> argv, StringRef log) {
  llvm::ErrorOr<std::string> program = llvm::sys::findProgramByName(argv[0]);
  if (!program)
    return llvm::createStringError(program.getError(),
                                   "cannot find " + argv[0]);
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::optional<StringRef> redirects[] = {std::nullopt, log, log};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, redirects,
                                     /*SecondsToWait=*/0, /*MemoryLimit=*/0,
                                     &message);
  if (rc == 0)
    return llvm::Error::success();
  std::string tail;
  if (auto buffer = llvm::MemoryBuffer::getFile(log)) {
    StringRef text = (*buffer)->getBuffer();
    tail = text.substr(text.size() > 4000 ? text.size() - 4000 : 0).str();
  }
  std::string command;
  for (const std::string &a : argv)
    command += a + " ";
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "the build failed (" +
                                     (message.empty() ? "exit " +
                                                            std::to_string(rc)
                                                      : message) +
                                     "): " + command + "\n" + tail);
}

std::string path(StringRef dir, StringRef file) {
  SmallString<256> p(dir);
  llvm::sys::path::append(p, file);
  return std::string(p);
}

void append(std::vector<std::string> &args, StringRef spaceSeparated) {
  SmallVector<StringRef> parts;
  spaceSeparated.split(parts, ' ', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts)
    args.push_back(p.str());
}

/// Builds libstep.so and run-step from `sources`; a step of more than one
/// rank also links the runtime's collectives (MPI on the CPU).
llvm::Error build(tg::StepTarget target, StringRef dir,
                  ArrayRef<std::string> sources, int64_t ranks) {
  std::string library = path(dir, "libstep.so");
  std::string runner = path(dir, "run-step");
  std::string log = path(dir, "build.log");
  std::vector<std::string> compile;
  if (target == tg::StepTarget::Cuda) {
    StringRef runtime = internvl::config::kRuntimeCudaLibrary;
    if (runtime.empty())
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "--target=cuda: internvl-compile was built without the CUDA "
          "runtime (no nvcc at configure time; see scripts/bootstrap.sh)");
    compile = {internvl::config::kNvcc, "-std=c++17", "-O2",
               "-arch=" + arch, "-Xcompiler", "-fPIC", "-shared",
               std::string("-I") + internvl::config::kRuntimeIncludeDir};
    compile.insert(compile.end(), sources.begin(), sources.end());
    compile.insert(compile.end(), {"-o", library,
               // One -Xlinker argument: nvcc keeps its parts in order (it
               // moves libraries after separate linker flags).
               "-Xlinker=--whole-archive," + runtime.str() +
                   ",--no-whole-archive",
               std::string("-L") + internvl::config::kCudaLibraryDir,
               "-lcublasLt", "-lcublas", "-lnccl"});
  } else {
    compile = {internvl::config::kCxx, "-std=c++17", "-O2", "-fPIC",
               "-shared", "-ffp-contract=off"};
    append(compile, internvl::config::kExtraFlags);
    compile.push_back(std::string("-I") + internvl::config::kRuntimeIncludeDir);
    compile.insert(compile.end(), sources.begin(), sources.end());
    compile.insert(compile.end(), {"-o", library, "-Wl,--whole-archive",
                                   internvl::config::kRuntimeCpuLibrary});
    if (ranks > 1) {
      if (StringRef(internvl::config::kRuntimeMpiLibrary).empty())
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            "a CPU step of " + std::to_string(ranks) +
                " ranks needs MPI, and internvl-compile was built without it "
                "(install libopenmpi-dev: scripts/bootstrap.sh)");
      compile.push_back(internvl::config::kRuntimeMpiLibrary);
    }
    compile.push_back("-Wl,--no-whole-archive");
    if (ranks > 1)
      append(compile, internvl::config::kMpiLinkArgs);
  }
  if (llvm::Error e = runTool(compile, log))
    return e;
  std::vector<std::string> link = {internvl::config::kCxx};
  append(link, internvl::config::kExtraFlags);
  link.insert(link.end(), {"-o", runner, "-Wl,--whole-archive",
                           internvl::config::kRunnerLibrary});
  // Under mpirun the runner hands NCCL's unique id over MPI (the CPU step
  // has MPI anyway); without MPI, a CUDA step's ranks meet at NCCL_COMM_ID.
  bool launchOverMpi =
      ranks > 1 && !StringRef(internvl::config::kLaunchMpiLibrary).empty();
  if (launchOverMpi)
    link.push_back(internvl::config::kLaunchMpiLibrary);
  link.insert(link.end(),
              {"-Wl,--no-whole-archive", internvl::config::kStepIOLibrary,
               "-L" + dir.str(), "-lstep", "-Wl,-rpath,$ORIGIN"});
  if (launchOverMpi)
    append(link, internvl::config::kMpiLinkArgs);
  // A failed build's directory is removed whole; the message has the log.
  return runTool(link, path(dir, "link.log"));
}

/// One step, planned and lowered: what the library and its files need.
struct CompiledStep {
  std::string name, planned, source;
  llvm::json::Object manifest;
  int64_t kernelCalls = 0, fusedKernels = 0, fusedOps = 0;
  int64_t arenaBytes = 0, gradsBytes = 0, peakBytes = 0, ranks = 1,
          zeroStage = 0;
};

/// Runs what `module`'s step still needs, lowers it (exported symbols with
/// `suffix`) and translates it to C++.
llvm::Expected<CompiledStep> compileStep(ModuleOp module,
                                         tg::StepTarget target,
                                         StringRef suffix) {
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  PassManager pm(module.getContext());
  if (llvm::Error e = buildPipeline(module, pm))
    return std::move(e);
  if (failed(pm.run(module))) {
    // The pass said why; this says which passes ran.
    std::string pipeline;
    for (Pass &pass : pm.getPasses())
      pipeline += (pipeline.empty() ? "" : ",") + pass.getArgument().str();
    return error("the pipeline " + pipeline + " failed on " + inputFile +
                 (suffix.empty() ? "" : " (bucket " + suffix.drop_front() + ")"));
  }
  CompiledStep step;
  llvm::raw_string_ostream(step.planned) << module;
  func::FuncOp func = tg::findPlannedFunction(module, functionName);
  if (!func)
    return error("no planned step in " + inputFile);
  tg::MemoryPlanAttr plan = tg::getMemoryPlan(func);
  step.name = func.getName().str();
  step.arenaBytes = plan.getArenaBytes();
  step.gradsBytes = plan.getGradsBufferBytes();
  step.peakBytes = plan.getPeakBytes();
  step.ranks = plan.getWorldSize();
  step.zeroStage = plan.getZeroStage();

  tg::StepEmitOptions options;
  options.function = functionName;
  options.target = target;
  options.fuseElementwise = fuse;
  options.symbolSuffix = suffix.str();
  FailureOr<tg::StepEmitResult> stats = tg::convertStepToEmitC(module, options);
  if (failed(stats))
    return error("cannot lower the step of " + inputFile);
  step.manifest = std::move(stats->manifest);
  step.kernelCalls = stats->kernelCalls;
  step.fusedKernels = stats->fusedKernels;
  step.fusedOps = stats->fusedOps;
  llvm::raw_string_ostream os(step.source);
  os << "// Generated by internvl-compile from " << inputFile << " (target "
     << targetName << "). Do not edit.\n";
  if (failed(emitc::translateToCpp(module, os)))
    return error("cannot translate the EmitC of the step to C++");
  return step;
}

/// Writes `files` (name, text) into a directory beside -o, builds the
/// library from `sources` among them unless --emit=source, and moves it
/// all into -o: a failed build leaves -o as it was.
llvm::Error
writeAndBuild(tg::StepTarget target,
              ArrayRef<std::pair<std::string, std::string>> files,
              ArrayRef<std::string> sources, int64_t ranks) {
  llvm::Expected<std::string> staging = makeStagingDirectory(outputDir);
  if (!staging)
    return staging.takeError();
  auto abandon = [&](llvm::Error e) {
    llvm::sys::fs::remove_directories(*staging);
    return e;
  };
  for (const auto &[file, text] : files)
    if (llvm::Error e = internvl::writeOutputFile(path(*staging, file), text))
      return abandon(std::move(e));
  if (emit == "library") {
    std::vector<std::string> sourcePaths;
    for (const std::string &source : sources)
      sourcePaths.push_back(path(*staging, source));
    if (llvm::Error e = build(target, *staging, sourcePaths, ranks))
      return abandon(std::move(e));
  }
  if (llvm::Error e = moveIntoPlace(*staging, outputDir))
    return abandon(std::move(e));
  return llvm::Error::success();
}

/// The library of a bucketed module: each bucket's step (symbols
/// `ivl_step_<bucket>`) and a dispatch that exports the runner's
/// `ivl_step` / `ivl_step_manifest` for the bucket chosen with
/// ivl_step_select_bucket or ivl_step_use_bucket (default: the largest).
/// Every manifest says the arena and gradient buffer of the largest bucket,
/// so one allocation serves them all.
int compileBuckets(ModuleOp top, ArrayRef<ModuleOp> buckets,
                   tg::StepTarget target) {
  bool cuda = target == tg::StepTarget::Cuda;
  std::vector<CompiledStep> steps;
  std::vector<tg::BucketAttr> shapes;
  std::vector<std::string> names;
  for (ModuleOp bucketModule : buckets) {
    std::string name = bucketModule.getSymName()->str();
    llvm::Expected<OwningOpRef<ModuleOp>> copy = tg::selectBucket(top, name);
    if (!copy)
      return fail(llvm::toString(copy.takeError()));
    llvm::Expected<CompiledStep> step =
        compileStep(**copy, target, "_" + name);
    if (!step)
      return fail(llvm::toString(step.takeError()));
    steps.push_back(std::move(*step));
    shapes.push_back(bucketModule->getAttrOfType<tg::BucketAttr>("tg.bucket"));
    names.push_back(name);
  }
  int64_t arena = 0, grads = 0, host = 0, ranks = steps.front().ranks;
  for (const CompiledStep &s : steps) {
    arena = std::max(arena, s.arenaBytes);
    grads = std::max(grads, s.gradsBytes);
    host = std::max(host, s.manifest.getInteger("host_bytes").value_or(0));
  }
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<std::string> sources;
  llvm::json::Array manifests;
  std::string table, declarations;
  for (auto [i, step] : llvm::enumerate(steps)) {
    std::string source =
        "step." + names[i] + (cuda ? ".cu" : ".cpp");
    files.push_back({source, step.source});
    files.push_back({"train_step." + names[i] + ".mlir", step.planned});
    sources.push_back(source);
    step.manifest["arena_bytes"] = arena;
    step.manifest["grads_buffer_bytes"] = grads;
    step.manifest["host_bytes"] = host;
    step.manifest["bucket"] =
        llvm::json::Object{{"name", names[i]},
                           {"seq", shapes[i].getSeq()},
                           {"tiles", shapes[i].getTiles()},
                           {"own_arena_bytes", step.arenaBytes}};
    std::string text;
    llvm::raw_string_ostream(text)
        << llvm::json::Value(llvm::json::Object(step.manifest));
    declarations += "extern \"C\" ivl_status ivl_step_" + names[i] +
                    "(ivl_context *, void *, void *, void **);\n";
    table += llvm::formatv("    {{\"{0}\", {1}, {2}, R\"ivl({3})ivl\", "
                           "ivl_step_{0}},\n",
                           names[i], shapes[i].getSeq(), shapes[i].getTiles(),
                           text)
                 .str();
    manifests.push_back(std::move(step.manifest));
  }
  std::string dispatch =
      "// Generated by internvl-compile from " + inputFile +
      ": the buckets of one library. Do not edit.\n"
      "#include \"internvl/runtime/Runtime.h\"\n\n"
      "#include <cstring>\n\n" +
      declarations +
      "\nnamespace {\n"
      "struct Bucket {\n"
      "  const char *name;\n"
      "  int64_t seq, tiles;\n"
      "  const char *manifest;\n"
      "  ivl_status (*step)(ivl_context *, void *, void *, void **);\n"
      "};\n"
      "// In order of seq, then tiles.\n"
      "const Bucket kBuckets[] = {\n" +
      table +
      "};\n"
      "constexpr int32_t kCount = sizeof(kBuckets) / sizeof(kBuckets[0]);\n"
      "int32_t selected = kCount - 1;\n"
      "} // namespace\n\n"
      "extern \"C\" const char *ivl_step_manifest(void) {\n"
      "  return kBuckets[selected].manifest;\n"
      "}\n"
      "extern \"C\" ivl_status ivl_step(ivl_context *ctx, void *arena, "
      "void *grads, void **args) {\n"
      "  return kBuckets[selected].step(ctx, arena, grads, args);\n"
      "}\n"
      "extern \"C\" int32_t ivl_step_bucket_count(void) { return kCount; }\n"
      "extern \"C\" const char *ivl_step_bucket_name(int32_t i) {\n"
      "  return i >= 0 && i < kCount ? kBuckets[i].name : nullptr;\n"
      "}\n"
      "extern \"C\" int32_t ivl_step_select_bucket(int64_t seq, int64_t "
      "tiles) {\n"
      "  for (int32_t i = 0; i < kCount; ++i)\n"
      "    if (kBuckets[i].seq >= seq && kBuckets[i].tiles >= tiles)\n"
      "      return selected = i;\n"
      "  return -1;\n"
      "}\n"
      "extern \"C\" int32_t ivl_step_use_bucket(const char *name) {\n"
      "  for (int32_t i = 0; i < kCount; ++i)\n"
      "    if (name && std::strcmp(kBuckets[i].name, name) == 0)\n"
      "      return selected = i;\n"
      "  return -1;\n"
      "}\n";
  std::string dispatchName = cuda ? "buckets.cu" : "buckets.cpp";
  files.push_back({dispatchName, dispatch});
  sources.push_back(dispatchName);
  std::string manifestText;
  llvm::raw_string_ostream(manifestText)
      << llvm::formatv("{0:2}", llvm::json::Value(llvm::json::Object{
                                    {"buckets", std::move(manifests)}}))
      << "\n";
  files.push_back({"step.json", manifestText});
  if (llvm::Error e = writeAndBuild(target, files, sources, ranks))
    return fail(llvm::toString(std::move(e)));
  for (auto [i, step] : llvm::enumerate(steps))
    llvm::outs() << "internvl-compile: bucket " << names[i] << ": @"
                 << step.name << " for " << targetName << ", "
                 << step.kernelCalls << " kernel calls; arena "
                 << internvl::formatGiB(step.arenaBytes) << ", planned peak "
                 << internvl::formatGiB(step.peakBytes) << "\n";
  llvm::outs() << "internvl-compile: " << steps.size()
               << " buckets in one library, arena "
               << internvl::formatGiB(arena) << " (the largest bucket's); wrote "
               << outputDir;
  if (emit == "library")
    llvm::outs() << " (libstep.so, run-step)";
  llvm::outs() << "\n";
  if (llvm::Error e = internvl::flushStandardOutput())
    return fail(llvm::toString(std::move(e)));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    internvl::printVersion(os, "internvl-compile");
  });
  tg::registerTGPasses();
  cl::ParseCommandLineOptions(
      argc, argv,
      "internvl-compile: a training step as C++/CUDA, built ahead of time\n");

  std::optional<tg::StepTarget> target = tg::parseStepTarget(targetName);
  if (!target)
    return fail("--target=" + targetName + " is not one of: cpu, cuda");
  if (emit != "library" && emit != "source")
    return fail("--emit=" + emit + " is not one of: library, source");
  if (!StringRef(arch).starts_with("sm_") ||
      StringRef(arch).drop_front(3).empty() ||
      !llvm::all_of(StringRef(arch).drop_front(3),
                    [](char c) { return c >= '0' && c <= '9'; }))
    return fail("--arch=" + arch + " is not a CUDA architecture like sm_90");
  if (!budget.empty()) {
    if (llvm::Expected<int64_t> b = internvl::parseMemoryBudget(budget); !b)
      return fail("--" + llvm::toString(b.takeError()));
  }
  if (llvm::sys::fs::exists(outputDir) &&
      !llvm::sys::fs::is_directory(outputDir))
    return fail("-o " + outputDir + " exists and is not a directory");

  DialectRegistry registry;
  registry.insert<tg::TGDialect, func::FuncDialect, emitc::EmitCDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // A failing pass names the problem; the whole module would bury it.
  context.printOpOnDiagnostic(false);
  llvm::SourceMgr sources;
  internvl::useCompactDiagnostics(sources, "internvl-compile");
  SourceMgrDiagnosticHandler diagnostics(sources, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(inputFile, sources,
                                                           &context);
  if (!module)
    return fail("cannot parse " + inputFile);
  // A bucketed module holds one step per batch shape: one library of all of
  // them, or with --bucket the one named.
  SmallVector<ModuleOp> bucketSteps = tg::bucketModules(*module);
  if (!bucketSteps.empty() && bucket.empty())
    return compileBuckets(*module, bucketSteps, *target);
  {
    llvm::Expected<OwningOpRef<ModuleOp>> chosen =
        tg::selectBucket(*module, bucket);
    if (!chosen)
      return fail(inputFile + ": " + llvm::toString(chosen.takeError()));
    module = std::move(*chosen);
  }

  llvm::Expected<CompiledStep> step = compileStep(*module, *target, "");
  if (!step)
    return fail(llvm::toString(step.takeError()));

  // Everything is built in a directory beside -o and moved in only when the
  // build succeeded: a failed build leaves -o as it was, and a source-only
  // run leaves no library or runner of an earlier build.
  StringRef sourceName =
      *target == tg::StepTarget::Cuda ? "step.cu" : "step.cpp";
  std::string manifestText;
  llvm::raw_string_ostream(manifestText)
      << llvm::formatv("{0:2}", llvm::json::Value(std::move(step->manifest)))
      << "\n";
  if (llvm::Error e = writeAndBuild(*target,
                                    {{sourceName.str(), step->source},
                                     {"step.json", manifestText},
                                     {"train_step.mlir", step->planned}},
                                    {sourceName.str()}, step->ranks))
    return fail(llvm::toString(std::move(e)));
  std::string sourcePath = path(outputDir, sourceName);

  llvm::outs() << "internvl-compile: @" << step->name << " for "
               << targetName << ": " << step->kernelCalls
               << " kernel calls, " << step->fusedKernels
               << " fused kernels (" << step->fusedOps << " ops)";
  if (step->ranks > 1 || worldSize != -1)
    llvm::outs() << "; " << step->ranks << " ranks, ZeRO stage "
                 << step->zeroStage;
  llvm::outs() << "; arena "
               << internvl::formatGiB(step->arenaBytes) << ", planned peak "
               << internvl::formatGiB(step->peakBytes) << "\n";
  llvm::outs() << "internvl-compile: wrote " << sourcePath;
  if (emit == "library")
    llvm::outs() << ", " << path(outputDir, "libstep.so") << ", "
                 << path(outputDir, "run-step");
  llvm::outs() << "\n";
  if (llvm::Error e = internvl::flushStandardOutput())
    return fail(llvm::toString(std::move(e)));
  return 0;
}
