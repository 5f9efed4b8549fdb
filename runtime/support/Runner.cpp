//===- Runner.cpp - the runner of a compiled training step ----------------===//
//
//   run-step [--steps N] [--seed N] [--dump DIR] [--dump-inputs DIR]
//            [--allow-nonfinite-loss]
//
// Linked by internvl-compile against one libstep.so (CPU or CUDA): reads the
// step's manifest, allocates the arena, the gradient buffer and every
// argument on the device, fills the arguments from the seed exactly as
// internvl-run does, runs N steps (AdamW updates the state in place; the
// step counter advances; the batch stays), and prints internvl-run's output
// lines for the results of the last step. Timing and memory go to stderr.
//
// Plain C++17: the GPU machine that runs it has no LLVM.
//
//===----------------------------------------------------------------------===//

#include "internvl/runtime/CheckedMath.h"
#include "internvl/runtime/HostMemory.h"
#include "internvl/runtime/LoadedLibraries.h"
#include "internvl/runtime/MpiLaunch.h"
#include "internvl/runtime/Runtime.h"
#include "internvl/runtime/StepIO.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <map>
#include <string>
#include <vector>

extern "C" const char *ivl_step_manifest(void);
extern "C" ivl_status ivl_step(ivl_context *ctx, void *arena, void *grads,
                               void *const *args);
// A library of several buckets (internvl-compile of a bucketed module) also
// exports these; a library of one step does not.
extern "C" int32_t ivl_step_bucket_count(void) __attribute__((weak));
extern "C" const char *ivl_step_bucket_name(int32_t) __attribute__((weak));
extern "C" int32_t ivl_step_select_bucket(int64_t, int64_t)
    __attribute__((weak));
extern "C" int32_t ivl_step_use_bucket(const char *) __attribute__((weak));

namespace {

using nlohmann::json;

[[noreturn]] void die(const std::string &message);

/// Creates `dir` and its parents, or stops: checked before the step runs,
/// not found out after.
void makeDirectory(const std::string &dir, const char *flag) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    die(std::string(flag) + " " + dir + ": cannot create the directory" +
        (ec ? ": " + ec.message() : std::string()));
}

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "run-step: error: %s\n", message.c_str());
  std::exit(1);
}

struct Options {
  int64_t steps = 1;
  uint64_t seed = 0;
  std::string dump;
  std::string dumpInputs;
  bool allowNonfiniteLoss = false;
  /// A bucketed library's bucket: by name, or the smallest that holds a
  /// batch of `seq` tokens and `tiles` tiles per sample.
  std::string bucket;
  int64_t seq = 0, tiles = 0;
};

/// The most steps one run takes: a run is a check or a measurement, not a
/// training job (about a day of the tiny CPU step).
constexpr int64_t kMaxSteps = 1000000;

/// A decimal integer in [min, max], the whole of `text`, or nothing.
std::optional<long long> parseInteger(const char *text, long long min,
                                      long long max) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno || !*text || *end || v < min || v > max)
    return std::nullopt;
  return v;
}

int64_t parseCount(const std::string &flag, const char *text, int64_t min,
                   int64_t max) {
  std::optional<long long> v = parseInteger(text, min, max);
  if (!v)
    die(flag + " takes an integer in [" + std::to_string(min) + ", " +
        std::to_string(max) + "], got '" + text + "'");
  return *v;
}

uint64_t parseSeed(const char *text) {
  char *end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno || !*text || *end || *text == '-' || *text == '+')
    die(std::string("--seed takes an integer in [0, 2^64 - 1], got '") +
        text + "'");
  return v;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if ((arg == "--steps" || arg == "--seed" || arg == "--dump" ||
                arg == "--dump-inputs" || arg == "--bucket" ||
                arg == "--batch-shape") &&
               i + 1 < argc) {
      value = argv[++i];
    } else if (arg == "--allow-nonfinite-loss") {
      o.allowNonfiniteLoss = true;
      continue;
    } else if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: run-step [--steps N] [--seed N] [--dump DIR] "
          "[--dump-inputs DIR] [--allow-nonfinite-loss]\n"
          "                [--bucket NAME | --batch-shape SEQ,TILES]\n"
          "Runs the compiled training step on inputs generated from the "
          "seed;\nprints one line per result of the last step.\n"
          "  --steps N          steps to run (AdamW state carries over)\n"
          "  --seed N           seed of the generated arguments\n"
          "  --dump DIR         write every result as DIR/<name>.npy\n"
          "  --dump-inputs DIR  write every generated argument as "
          "DIR/<name>.npy\n"
          "  --allow-nonfinite-loss  exit 0 even when the loss is NaN or "
          "infinite\n"
          "  --bucket NAME      a bucketed library's bucket (default: the "
          "largest)\n"
          "  --batch-shape S,T  the smallest bucket that holds S tokens and "
          "T tiles per sample\n");
      std::exit(0);
    }
    if (arg == "--steps")
      o.steps = parseCount(arg, value.c_str(), 1, kMaxSteps);
    else if (arg == "--seed")
      o.seed = parseSeed(value.c_str());
    else if (arg == "--dump" && !value.empty())
      o.dump = value;
    else if (arg == "--dump-inputs" && !value.empty())
      o.dumpInputs = value;
    else if (arg == "--bucket" && !value.empty())
      o.bucket = value;
    else if (arg == "--batch-shape" && value.find(',') != std::string::npos) {
      std::string seq = value.substr(0, value.find(','));
      std::string tiles = value.substr(value.find(',') + 1);
      o.seq = parseCount("--batch-shape's tokens", seq.c_str(), 1,
                         int64_t(1) << 40);
      o.tiles = parseCount("--batch-shape's tiles", tiles.c_str(), 0,
                           int64_t(1) << 40);
    } else
      die("unknown or incomplete option '" + std::string(argv[i]) +
          "' (run-step --help)");
  }
  return o;
}

ivl_dtype dtypeOf(const json &j) {
  ivl_dtype d;
  if (!j.is_string() || !ivl::io::parseDtype(j.get<std::string>(), d))
    die("manifest: unknown dtype " + j.dump());
  return d;
}

/// A shape of the manifest: dimensions within the tensor ceiling, so that
/// element counts and byte sizes cannot overflow.
std::vector<int64_t> shapeOf(const json &j, ivl_dtype dtype,
                             const std::string &name) {
  std::vector<int64_t> shape = j.get<std::vector<int64_t>>();
  if (!ivl::fitsTensorCeiling(shape.data(), shape.size(),
                              ivl_dtype_size(dtype)))
    die("manifest: '" + name + "' has shape " + j.dump() +
        ", beyond the 1 TiB ceiling of one tensor");
  return shape;
}

/// An argument as the manifest describes it.
ivl::io::ArgSpec argumentSpec(const json &a) {
  ivl::io::ArgSpec spec;
  spec.name = a.at("name").get<std::string>();
  spec.kind = a.at("kind").get<std::string>();
  spec.dtype = dtypeOf(a.at("dtype"));
  spec.shape = shapeOf(a.at("shape"), spec.dtype, spec.name);
  if (a.contains("init")) {
    spec.normalInit = a["init"].at("normal").get<bool>();
    spec.initValue = a["init"].at("value").get<double>();
  }
  if (a.contains("shard_of"))
    spec.shardOf = a["shard_of"].get<std::vector<std::string>>();
  return spec;
}

struct Buffer {
  ivl::io::ArgSpec spec;
  void *device = nullptr;
  int64_t bytes = 0;
};

double gib(int64_t bytes) { return bytes / double(1ll << 30); }

/// Where the launcher put this process: mpirun (Open MPI, MPICH) or
/// torchrun's environment; one rank otherwise.
struct Launch {
  int32_t rank = 0, size = 1, localRank = 0;
  std::string by = "no launcher";
};

/// The most ranks a step runs on (mlir::tg::kMaxWorldSize).
constexpr long long kMaxRanks = 1ll << 20;

/// The launcher's variable `name` as an integer in [min, max]; `fallback`
/// when it is unset or empty. Anything else stops with the text quoted.
int32_t envInt(const char *name, const char *by, long long min, long long max,
               int32_t fallback) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  std::optional<long long> value = parseInteger(v, min, max);
  if (!value)
    die(std::string(by) + " set " + name + "='" + v +
        "', expected an integer in [" + std::to_string(min) + ", " +
        std::to_string(max) + "]");
  return static_cast<int32_t>(*value);
}

Launch detectLaunch() {
  Launch l;
  struct Scheme {
    const char *rank, *size, *local, *by;
  } schemes[] = {
      {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
       "OMPI_COMM_WORLD_LOCAL_RANK", "mpirun (Open MPI)"},
      {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "mpirun (PMI)"},
      {"RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun"},
  };
  for (const Scheme &s : schemes)
    if (std::getenv(s.rank) && std::getenv(s.size)) {
      l.by = s.by;
      l.size = envInt(s.size, s.by, 1, kMaxRanks, 1);
      l.rank = envInt(s.rank, s.by, 0, l.size - 1, 0);
      l.localRank = envInt(s.local, s.by, 0, l.size - 1, l.rank);
      break;
    }
  return l;
}

/// Without an id from the launcher, NCCL builds its communicator from
/// NCCL_COMM_ID (NCCL's own bootstrap): under torchrun, MASTER_ADDR and
/// MASTER_PORT + 1 (torchrun's store holds MASTER_PORT); otherwise
/// 127.0.0.1:29400 unless set.
void setNcclRendezvous() {
  if (std::getenv("NCCL_COMM_ID"))
    return;
  const char *addr = std::getenv("MASTER_ADDR");
  // NCCL's port is the next one, so MASTER_PORT stops one short of 65535.
  int32_t port = envInt("MASTER_PORT", "the launcher", 1, 65534, 29399);
  std::string id = std::string(addr ? addr : "127.0.0.1") + ":" +
                   std::to_string(port + 1);
  ::setenv("NCCL_COMM_ID", id.c_str(), 0);
}

} // namespace

/// The buckets of the library, for messages: "seq1024_tiles1, ...".
std::string bucketNames() {
  std::string names;
  for (int32_t i = 0; i < ivl_step_bucket_count(); ++i)
    names += (i ? ", " : "") + std::string(ivl_step_bucket_name(i));
  return names;
}

/// Chooses the bucket --bucket or --batch-shape names (before the manifest
/// is read: it is the chosen bucket's).
void chooseBucket(const Options &options) {
  bool asked = !options.bucket.empty() || options.seq > 0;
  if (!ivl_step_bucket_count) {
    if (asked)
      die("--bucket and --batch-shape choose a bucket of a bucketed library "
          "(internvl-compile of internvl-import --buckets); this one holds "
          "one step");
    return;
  }
  if (!options.bucket.empty() && options.seq > 0)
    die("--bucket and --batch-shape both choose the bucket: give one");
  if (!options.bucket.empty() &&
      ivl_step_use_bucket(options.bucket.c_str()) < 0)
    die("--bucket " + options.bucket + ": no such bucket (buckets: " +
        bucketNames() + ")");
  if (options.seq > 0 &&
      ivl_step_select_bucket(options.seq, options.tiles) < 0)
    die("a batch of " + std::to_string(options.seq) + " tokens and " +
        std::to_string(options.tiles) +
        " tiles per sample is larger than every bucket (buckets: " +
        bucketNames() + ")");
}

int main(int argc, char **argv) {
  Options options = parseOptions(argc, argv);
  chooseBucket(options);
  json manifest;
  try {
    manifest = json::parse(ivl_step_manifest());
  } catch (const std::exception &e) {
    die(std::string("the step's manifest is not JSON: ") + e.what());
  }

  // One rank of a data-parallel step, or the whole step.
  Launch launch = detectLaunch();
  int32_t world = static_cast<int32_t>(manifest.value("world_size", 1));
  if (launch.size != world)
    die("the step was compiled for " + std::to_string(world) +
        " rank(s) but " + launch.by + " started " +
        std::to_string(launch.size) +
        (world > 1 ? " (start it with mpirun -np " + std::to_string(world) +
                         " or torchrun --nproc-per-node " +
                         std::to_string(world) + ")"
                   : ""));
  int32_t rank = launch.rank;
  if (!options.dump.empty()) {
    if (rank != 0)
      options.dump += "/rank" + std::to_string(rank);
    makeDirectory(options.dump, "--dump");
  }
  if (!options.dumpInputs.empty() && rank == 0)
    makeDirectory(options.dumpInputs, "--dump-inputs");
  // Which cuBLAS/cuBLASLt/NCCL the loader chose (nothing on the CPU).
  if (std::string line = ivl::loadedCudaLibrariesLine(); !line.empty() &&
                                                         rank == 0)
    std::fprintf(stderr, "run-step: %s\n", line.c_str());
  ivl_select_device(launch.localRank);
  // Under mpirun, rank 0's rendezvous bytes (NCCL's unique id) reach the
  // other ranks over MPI; otherwise NCCL_COMM_ID names the rendezvous.
  bool idOverMpi = world > 1 && launch.by.rfind("mpirun", 0) == 0 &&
                   ivl_mpi_broadcast != nullptr;

  ivl_context *ctx = ivl_context_create();
  if (!ctx)
    die(std::string("cannot create the runtime context: ") +
        ivl_last_error(nullptr));
  auto check = [&](ivl_status status, const std::string &what) {
    if (status != IVL_OK)
      die(what + ": " + ivl_last_error(ctx));
  };
  std::string joining =
      "joining the group of " + std::to_string(world) + " ranks";
  bool joined = false;
  if (idOverMpi) {
    char id[512];
    int64_t bytes = 0;
    std::string idError;
    // A failure on rank 0 still broadcasts (-1 bytes), so that no rank
    // waits for an id that never comes.
    if (rank == 0 && ivl_comm_unique_id(ctx, id, sizeof id, &bytes) != IVL_OK) {
      idError = ivl_last_error(ctx);
      bytes = -1;
    }
    char error[256] = "";
    int sent = ivl_mpi_broadcast(&bytes, sizeof bytes, rank, world, error,
                                 sizeof error);
    if (sent == IVL_MPI_NOT_LAUNCHER) {
      // Every process sees the same mismatch: all fall back together.
      std::fprintf(stderr,
                   "run-step: %s (the runner's MPI is not the launcher's); "
                   "meeting at NCCL_COMM_ID instead\n",
                   error);
    } else {
      if (sent == 0 && bytes > 0)
        sent = ivl_mpi_broadcast(id, bytes, rank, world, error, sizeof error);
      if (sent != 0)
        die(joining + ": " + error);
      if (bytes < 0)
        die(joining + ": rank 0 could not get NCCL's unique id" +
            (idError.empty() ? std::string() : ": " + idError));
      check(ivl_comm_init(ctx, rank, world, bytes ? id : nullptr, bytes),
            joining);
      joined = true;
    }
  }
  if (!joined) {
    if (world > 1)
      setNcclRendezvous();
    check(ivl_comm_init(ctx, rank, world, nullptr, 0), joining);
  }
  auto alloc = [&](int64_t bytes, const std::string &what) {
    void *p = ivl_device_alloc(ctx, bytes);
    if (!p)
      die("cannot allocate " + std::to_string(bytes) + " bytes for " + what +
          ": " + ivl_last_error(ctx));
    return p;
  };

  const json &batchJson = manifest.at("batch");
  ivl::io::BatchSpec batch;
  batch.vocabSize = batchJson.at("vocab_size").get<int64_t>();
  batch.imageTokenId = batchJson.at("image_token_id").get<int64_t>();
  batch.imageTokensPerSample =
      batchJson.at("image_tokens_per_sample").get<int64_t>();
  batch.ignoreIndex = batchJson.value("ignore_index", int64_t(-100));
  if (batchJson.contains("pack")) {
    const json &pack = batchJson.at("pack");
    batch.packed = true;
    batch.pack.rowLength = pack.at("row_length").get<int64_t>();
    batch.pack.capacity = pack.at("capacity").get<int64_t>();
    batch.pack.tilesPerRow = pack.at("tiles_per_row").get<int64_t>();
    batch.pack.tokensPerTile = pack.at("tokens_per_tile").get<int64_t>();
    int64_t reduction = pack.at("loss_reduction").get<int64_t>();
    if (reduction < 0 ||
        reduction > static_cast<int64_t>(ivl::io::LossReduction::Square) ||
        batch.pack.rowLength < 2 ||
        batch.pack.capacity < 1)
      die("manifest: batch.pack " + pack.dump() + " is not a packed layout");
    batch.pack.reduction = static_cast<ivl::io::LossReduction>(reduction);
  }

  // Arguments: parameters first, so that master copies start from them.
  std::vector<Buffer> args;
  for (const json &a : manifest.at("arguments")) {
    Buffer buf;
    buf.spec = argumentSpec(a);
    buf.bytes = ivl::io::numElements(buf.spec.shape) *
                ivl_dtype_size(buf.spec.dtype);
    args.push_back(std::move(buf));
  }
  // Every parameter by name, for master copies and shards to start from:
  // views of the host arguments, or of the parameters ZeRO stage 3 keeps
  // only as shards.
  std::map<std::string, ivl::io::ParamView> params;
  auto find = [&](const std::string &name) -> const ivl::io::ParamView * {
    auto it = params.find(name);
    return it == params.end() ? nullptr : &it->second;
  };
  std::vector<std::vector<char>> shardedParams;
  if (manifest.contains("zero_params"))
    for (const json &a : manifest["zero_params"]) {
      ivl::io::ArgSpec spec = argumentSpec(a);
      int64_t n = ivl::io::numElements(spec.shape);
      std::vector<char> values(n * ivl_dtype_size(spec.dtype));
      std::string error = ivl::io::generateArgument(
          spec, batch, options.seed, nullptr, values.data());
      if (!error.empty())
        die(error);
      params[spec.name] = {values.data(), spec.dtype, n};
      shardedParams.push_back(std::move(values)); // the data stays put
    }
  std::vector<std::vector<char>> host(args.size());
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < args.size(); ++i) {
      const ivl::io::ArgSpec &spec = args[i].spec;
      if ((spec.kind == "param") != (pass == 0))
        continue;
      host[i].assign(static_cast<size_t>(args[i].bytes), 0);
      if (!spec.shardOf.empty()) {
        // This rank's shard of a bucket's master copy (or parameters).
        std::string error =
            ivl::io::generateShard(spec, rank, find, host[i].data());
        if (!error.empty())
          die(error);
        continue;
      }
      if (spec.kind == "input" && spec.name != "step" && world > 1 &&
          !spec.shape.empty()) {
        // This rank's samples of the global batch (world times its rows).
        ivl::io::ArgSpec global = spec;
        global.shape[0] *= world;
        std::vector<char> all(host[i].size() * world);
        std::string error = ivl::io::generateArgument(
            global, batch, options.seed, nullptr, all.data());
        if (!error.empty())
          die(error);
        if (!host[i].empty())
          std::memcpy(host[i].data(), all.data() + rank * host[i].size(),
                      host[i].size());
        continue;
      }
      const ivl::io::ParamView *param =
          spec.kind == "master"
              ? find(ivl::io::parameterOfMaster(spec.name))
              : nullptr;
      std::string error = ivl::io::generateArgument(
          spec, batch, options.seed, param, host[i].data());
      if (!error.empty())
        die(error);
      if (spec.kind == "param")
        params[spec.name] = {host[i].data(), spec.dtype,
                             ivl::io::numElements(spec.shape)};
    }

  if (!options.dumpInputs.empty() && rank == 0) {
    for (size_t i = 0; i < args.size(); ++i) {
      std::string error = ivl::io::writeNpy(
          options.dumpInputs + "/" + args[i].spec.name + ".npy",
          args[i].spec.dtype, args[i].spec.shape, host[i].data());
      if (!error.empty())
        die(error);
    }
  }

  int64_t arenaBytes = manifest.at("arena_bytes").get<int64_t>();
  int64_t gradsBytes = manifest.at("grads_buffer_bytes").get<int64_t>();
  if (arenaBytes < 0 || gradsBytes < 0)
    die("manifest: arena_bytes " + std::to_string(arenaBytes) +
        " and grads_buffer_bytes " + std::to_string(gradsBytes) +
        " must be non-negative");
  // Refuse what the device cannot hold before allocating any of it. On the
  // CPU the device is the host, which also keeps the arguments' host copies.
  int64_t argumentBytes = 0;
  for (const Buffer &b : args)
    argumentBytes += b.bytes;
  int64_t deviceNeed = arenaBytes + gradsBytes + argumentBytes;
  bool deviceIsHost = std::string(ivl_device_name(ctx)) == "cpu";
  int64_t capacity = ivl_device_capacity(ctx);
  if (capacity > 0 &&
      deviceNeed + (deviceIsHost ? argumentBytes : 0) > capacity)
    die("the step needs " + ivl::io::formatGiB(deviceNeed) + " of " +
        ivl_device_name(ctx) + " memory (arena " +
        ivl::io::formatGiB(arenaBytes) + ", gradients " +
        ivl::io::formatGiB(gradsBytes) + ", arguments " +
        ivl::io::formatGiB(argumentBytes) + ")" +
        (deviceIsHost ? " plus " + ivl::io::formatGiB(argumentBytes) +
                            " of host copies"
                      : std::string()) +
        ", more than the " + ivl::io::formatGiB(capacity) + " it has");
  void *arena = alloc(arenaBytes, "the arena");
  void *grads = alloc(gradsBytes, "the gradient buffer");
  // Offloaded activations: pinned host memory, apart from the device's.
  int64_t hostBytes = manifest.value("host_bytes", int64_t(0));
  if (hostBytes < 0)
    die("manifest: host_bytes " + std::to_string(hostBytes) +
        " must be non-negative");
  void *hostBuffer = nullptr;
  if (hostBytes > 0) {
    hostBuffer = ivl_host_alloc(ctx, hostBytes);
    if (!hostBuffer)
      die("cannot allocate the " + ivl::io::formatGiB(hostBytes) +
          " host buffer of offloaded activations: " + ivl_last_error(ctx));
    check(ivl_set_host_buffer(ctx, hostBuffer, hostBytes),
          "setting the host buffer");
  }
  std::vector<void *> pointers;
  int64_t stepArg = -1;
  for (size_t i = 0; i < args.size(); ++i) {
    args[i].device = alloc(args[i].bytes, "argument " + args[i].spec.name);
    check(ivl_copy_to_device(ctx, args[i].device, host[i].data(),
                             args[i].bytes),
          "copying " + args[i].spec.name);
    pointers.push_back(args[i].device);
    // The AdamW step (an i64 input named "step", as --tg-autodiff makes it).
    if (args[i].spec.name == "step" && args[i].spec.dtype == IVL_I64)
      stepArg = static_cast<int64_t>(i);
  }

  std::vector<double> times;
  for (int64_t s = 0; s < options.steps; ++s) {
    if (s > 0 && stepArg >= 0) {
      // The AdamW step (and drop_path's counter) advances; the batch stays.
      int64_t t;
      std::memcpy(&t, host[stepArg].data(), sizeof t);
      t += s;
      check(ivl_copy_to_device(ctx, args[stepArg].device, &t, sizeof t),
            "setting the step");
    }
    auto start = std::chrono::steady_clock::now();
    check(ivl_step(ctx, arena, grads, pointers.data()),
          "step " + std::to_string(s + 1));
    check(ivl_synchronize(ctx), "step " + std::to_string(s + 1));
    times.push_back(std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                        .count());
  }

  int64_t i = 0;
  std::string lossProblem;
  for (const json &r : manifest.at("results")) {
    std::string name = r.at("name").get<std::string>();
    ivl_dtype dtype = dtypeOf(r.at("dtype"));
    std::vector<int64_t> shape = shapeOf(r.at("shape"), dtype, name);
    int64_t bytes = ivl::io::numElements(shape) * ivl_dtype_size(dtype);
    std::string space = r.at("space").get<std::string>();
    const char *src = nullptr;
    if (space == "arena" || space == "grads") {
      int64_t offset = r.at("offset").get<int64_t>();
      int64_t size = space == "arena" ? arenaBytes : gradsBytes;
      if (offset < 0 || offset > size || bytes > size - offset)
        die("manifest: result '" + name + "' at offset " +
            std::to_string(offset) + " (" + std::to_string(bytes) +
            " bytes) is outside the " + space + " of " +
            std::to_string(size) + " bytes");
      src = static_cast<const char *>(space == "arena" ? arena : grads) +
            offset;
    } else {
      size_t argument = r.at("argument").get<size_t>();
      if (argument >= pointers.size() || args[argument].bytes != bytes)
        die("manifest: result '" + name + "' names argument " +
            std::to_string(argument) + ", which is not one of its size");
      src = static_cast<const char *>(pointers[argument]);
    }
    std::vector<char> data(static_cast<size_t>(bytes));
    check(ivl_copy_to_host(ctx, data.data(), src, bytes), "reading " + name);
    if (rank == 0)
      std::printf(
          "%s\n",
          ivl::io::outputLine(i, name, dtype, shape, data.data()).c_str());
    if (rank == 0 && name == "loss" && batch.vocabSize > 0)
      std::printf("loss %.6f ln(vocab_size)=%.6f\n",
                  ivl::io::elementAsFloat(data.data(), dtype, 0),
                  std::log(double(batch.vocabSize)));
    if (name == "loss" && bytes > 0 &&
        !std::isfinite(ivl::io::elementAsFloat(data.data(), dtype, 0))) {
      std::vector<ivl::io::ArgView> views;
      for (size_t a = 0; a < args.size(); ++a)
        views.push_back({&args[a].spec, host[a].data()});
      std::string why = ivl::io::explainNonFiniteLoss(views, batch);
      lossProblem =
          "the loss of step " + std::to_string(options.steps) + " is " +
          std::to_string(ivl::io::elementAsFloat(data.data(), dtype, 0)) +
          (why.empty() ? std::string() : ": " + why) +
          " (--allow-nonfinite-loss accepts it)";
    }
    if (!options.dump.empty()) {
      std::string error = ivl::io::writeNpy(options.dump + "/" + name + ".npy",
                                            dtype, shape, data.data());
      if (!error.empty())
        die(error);
    }
    ++i;
  }

  // Timing: the first step pays for lazy initialisation (cuBLASLt
  // heuristics, module loading), so the mean leaves it out when it can.
  double first = times.front();
  double mean = first;
  if (times.size() > 1) {
    mean = 0;
    for (size_t k = 1; k < times.size(); ++k)
      mean += times[k];
    mean /= double(times.size() - 1);
  }
  auto release = [&] {
    for (Buffer &b : args)
      ivl_device_free(ctx, b.device);
    ivl_device_free(ctx, arena);
    ivl_device_free(ctx, grads);
    ivl_host_free(ctx, hostBuffer);
    ivl_context_destroy(ctx);
  };
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    die(std::string("cannot write to standard output: ") +
        std::strerror(errno));
  if (!lossProblem.empty() && !options.allowNonfiniteLoss) {
    release();
    die(lossProblem);
  }
  if (rank != 0) {
    release();
    return 0;
  }
  int64_t tokens = manifest.value("tokens_per_step", int64_t(0)) * world;
  int64_t allocated = arenaBytes + gradsBytes;
  for (const Buffer &b : args)
    allocated += b.bytes;
  int64_t inUse = 0, peak = 0;
  ivl_device_memory(ctx, &inUse, &peak);
  std::fprintf(stderr,
               "run-step: @%s (%s) on %s%s: %lld step(s), first %.3f ms, "
               "step time %.3f ms%s",
               manifest.value("function", std::string("?")).c_str(),
               manifest.value("model", std::string("?")).c_str(),
               ivl_device_name(ctx),
               world > 1 ? (" x " + std::to_string(world) + " ranks (" +
                            launch.by + ", ZeRO stage " +
                            std::to_string(manifest.value("zero_stage", 0)) +
                            ")")
                               .c_str()
                         : "",
               static_cast<long long>(options.steps),
               first * 1e3, mean * 1e3,
               times.size() > 1 ? " (mean after the first)" : "");
  if (tokens > 0)
    std::fprintf(stderr, ", %.0f tokens/s", tokens / mean);
  if (manifest.contains("bucket"))
    std::fprintf(stderr, "\nrun-step: bucket %s of %d (seq %lld, tiles %lld; "
                 "the arena is the largest bucket's)",
                 manifest["bucket"].value("name", std::string("?")).c_str(),
                 ivl_step_bucket_count ? ivl_step_bucket_count() : 1,
                 static_cast<long long>(manifest["bucket"].value("seq", 0)),
                 static_cast<long long>(manifest["bucket"].value("tiles", 0)));
  std::fprintf(stderr,
               "\nrun-step: memory: planned peak %.3f GiB (persistent + "
               "arena), allocated %.3f GiB (with the batch), device in use "
               "%.3f GiB, device peak %.3f GiB",
               gib(manifest.value("planned_peak_bytes", int64_t(0))),
               gib(allocated), gib(inUse), gib(peak));
  if (hostBytes > 0)
    std::fprintf(stderr, "; pinned host buffer %.3f GiB (offloaded "
                 "activations)", gib(hostBytes));
  std::fprintf(stderr, "\n");

  release();
  return 0;
}
