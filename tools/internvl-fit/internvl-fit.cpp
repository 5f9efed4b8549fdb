//===- internvl-fit.cpp - the largest setting that fits a card -----------===//
//
// "Will it fit my GPU?": grows one of InternVL's flags (the per-device
// batch, the packed tokens, the tiles or the sequence length) until the
// step no longer fits the card, then bisects to the largest value that
// does. Each value is planned as a user would: internvl-import with the
// flags, internvl-opt --tg-autodiff --tg-remat (auto, every lever, the card
// as the budget, data-parallel when the step is) --tg-plan-memory, and a row
// says what it costs. The sibling tools are run as they are installed next
// to this one, so a row is exactly what those commands print.
//
//===----------------------------------------------------------------------===//

#include "internvl/Support/Targets.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

using llvm::StringRef;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

/// The flags --vary accepts and where each starts when the command line
/// does not give it.
struct Varied {
  StringRef flag;
  int64_t start;
  /// Values are multiples of this (sequence lengths in 128s, as buckets).
  int64_t step;
  /// The largest value worth trying.
  int64_t limit;
};

const Varied kVaried[] = {
    {"per_device_train_batch_size", 1, 1, 4096},
    {"max_packed_tokens", 1024, 128, 1 << 20},
    {"max_dynamic_patch", 1, 1, 40},
    {"max_seq_length", 1024, 128, 1 << 20},
};

std::string variedNames() {
  std::vector<std::string> names;
  for (const Varied &v : kVaried)
    names.push_back(v.flag.str());
  return llvm::join(names, ", ");
}

/// The planner's scratch directory while one exists: die() removes it too,
/// since exit() runs no destructor of the stack.
std::string scratchToRemove;

[[noreturn]] void die(const llvm::Twine &message) {
  llvm::errs() << "internvl-fit: error: " << message << "\n";
  if (!scratchToRemove.empty())
    llvm::sys::fs::remove_directories(scratchToRemove);
  std::exit(1);
}

void usage(llvm::raw_ostream &os) {
  os << "usage: internvl-fit MODEL.json [InternVL flags] --gpu CARD --vary FLAG\n"
        "                    [--remat \"vision=auto lm=auto\"] [--levers L] [--max N]\n\n"
        "Finds the largest value of FLAG (" << variedNames()
     << ") at which the training step fits CARD (" << internvl::cardNames()
     << "), planned by --tg-remat (auto, every lever unless --levers says)\n"
        "with the card as the budget, and prints one row per value tried:\n"
        "the planned peak per GPU, the recomputed FLOPs, the bytes offloaded\n"
        "to the host, the estimated step time on the card's roofline and\n"
        "the tokens per second per GPU it gives. Every other flag goes to\n"
        "internvl-import as it is (--world_size and --deepspeed included).\n";
}

/// What one planned value gave.
struct Row {
  int64_t value = 0;
  bool fits = false;
  int64_t peak = 0;
  double recomputePercent = 0;
  int64_t offloaded = 0;
  double seconds = 0;
  int64_t tokens = 0;
};

class Fitter {
public:
  Fitter(std::string model, std::vector<std::string> flags,
         const internvl::GpuTarget &card, const Varied &varied,
         std::string remat, std::string levers)
      : model(std::move(model)), flags(std::move(flags)), card(card),
        varied(varied), remat(std::move(remat)), levers(std::move(levers)) {
    llvm::SmallString<256> self(
        llvm::sys::fs::getMainExecutable(nullptr, (void *)&die));
    binDir = llvm::sys::path::parent_path(self).str();
    if (std::error_code ec =
            llvm::sys::fs::createUniqueDirectory("internvl-fit", scratch))
      die("cannot make a scratch directory: " + ec.message());
    scratchToRemove = scratch.str().str();
  }
  ~Fitter() {
    llvm::sys::fs::remove_directories(scratch);
    scratchToRemove.clear();
  }

  /// Plans the step at `value` of the varied flag.
  Row plan(int64_t value);

private:
  /// Runs a sibling tool; its stderr in `err`. False when it failed.
  bool runTool(StringRef tool, const std::vector<std::string> &args,
               std::string &err);
  /// A flag's value on the command line, if given.
  std::optional<std::string> flag(StringRef name) const;

  std::string model;
  std::vector<std::string> flags;
  const internvl::GpuTarget &card;
  const Varied &varied;
  std::string remat, levers;
  std::string binDir;
  llvm::SmallString<128> scratch;
};

bool Fitter::runTool(StringRef tool, const std::vector<std::string> &args,
                     std::string &err) {
  llvm::SmallString<256> program(binDir);
  llvm::sys::path::append(program, tool);
  if (!llvm::sys::fs::can_execute(program))
    die("cannot find " + program.str() + " (internvl-fit runs the tools "
        "installed next to it)");
  llvm::SmallString<256> log(scratch);
  llvm::sys::path::append(log, "stderr.txt");
  std::vector<StringRef> argv = {program};
  for (const std::string &a : args)
    argv.push_back(a);
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef("/dev/null"),
                                          StringRef(log)};
  int rc = llvm::sys::ExecuteAndWait(program, argv, std::nullopt, redirects);
  err.clear();
  if (auto buffer = llvm::MemoryBuffer::getFile(log))
    err = (*buffer)->getBuffer().str();
  return rc == 0;
}

/// The error lines of a tool's stderr without the scratch file's location
/// (a user never saw that file) or the echoed source line.
std::string errorLines(StringRef err) {
  std::string out;
  llvm::SmallVector<StringRef> lines;
  err.split(lines, '\n');
  for (StringRef line : lines) {
    size_t at = line.find("error: ");
    if (at == StringRef::npos)
      continue;
    out += line.substr(at).str() + "\n";
  }
  return out.empty() ? err.str() : out;
}

std::optional<std::string> Fitter::flag(StringRef name) const {
  for (size_t i = 0; i < flags.size(); ++i) {
    StringRef f = flags[i];
    if (!f.consume_front("--") && !f.consume_front("-"))
      continue;
    if (f == name && i + 1 < flags.size())
      return flags[i + 1];
    if (f.consume_front(name) && f.consume_front("="))
      return f.str();
  }
  return std::nullopt;
}

Row Fitter::plan(int64_t value) {
  Row row;
  row.value = value;
  // The command line's flags with the varied one replaced.
  std::vector<std::string> args = {model};
  for (size_t i = 0; i < flags.size(); ++i) {
    StringRef f = flags[i];
    StringRef bare = f.ltrim('-');
    if (bare == varied.flag) {
      ++i;
      continue;
    }
    if (bare.starts_with((varied.flag + "=").str()))
      continue;
    args.push_back(flags[i]);
  }
  args.push_back("--" + varied.flag.str());
  args.push_back(std::to_string(value));
  llvm::SmallString<256> forward(scratch), planned(scratch), json(scratch);
  llvm::sys::path::append(forward, "forward.mlir");
  llvm::sys::path::append(planned, "planned.mlir");
  llvm::sys::path::append(json, "plan.json");
  args.push_back("-o");
  args.push_back(forward.str().str());
  std::string err;
  if (!runTool("internvl-import", args, err))
    die("internvl-import refused --" + varied.flag + " " +
        std::to_string(value) + ":\n" + errorLines(err));

  int64_t world = 1;
  if (std::optional<std::string> w = flag("world_size"))
    llvm::to_integer(*w, world);
  std::string rematOption = "--tg-remat=" + remat + " budget=" +
                            card.card.str() + " gpu=" + card.gpu.str();
  if (!levers.empty())
    rematOption += " levers=" + levers;
  if (world > 1)
    rematOption += " data-parallel=true";
  std::vector<std::string> opt = {forward.str().str(), "--tg-autodiff",
                                  rematOption};
  if (world > 1)
    opt.push_back("--tg-data-parallel");
  opt.push_back("--tg-plan-memory");
  opt.push_back("--tg-export-memory-plan=" + json.str().str());
  opt.push_back("-o");
  opt.push_back(planned.str().str());
  if (!runTool("internvl-opt", opt, err)) {
    static const std::regex floor("minimum feasible peak ([0-9]+) bytes");
    std::smatch m;
    if (!std::regex_search(err, m, floor))
      die("internvl-opt failed at --" + varied.flag + " " +
          std::to_string(value) + ":\n" + errorLines(err));
    row.peak = std::stoll(m[1].str());
    return row;
  }
  auto buffer = llvm::MemoryBuffer::getFile(json);
  if (!buffer)
    die("internvl-opt wrote no plan at " + json.str());
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed)
    die("cannot read the plan: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object &plan = *parsed->getAsObject();
  row.fits = true;
  row.peak = plan.getInteger("peak_bytes").value_or(0);
  double total = plan.getNumber("total_flops").value_or(0);
  row.recomputePercent =
      total > 0 ? 100.0 * plan.getNumber("recompute_flops").value_or(0) / total
                : 0.0;
  row.seconds = plan.getNumber("step_seconds").value_or(0);
  row.offloaded = plan.getInteger("host_bytes").value_or(0);
  // Tokens per GPU and step: the micro-batch's rows times their length.
  auto number = [&](StringRef name, int64_t fallback) {
    if (varied.flag == name)
      return value;
    int64_t v = fallback;
    if (std::optional<std::string> text = flag(name))
      llvm::to_integer(*text, v);
    return v;
  };
  std::optional<std::string> packed = flag("use_packed_ds");
  bool isPacked = packed && StringRef(*packed).equals_insensitive("true");
  row.tokens = number("per_device_train_batch_size", 1) *
               (isPacked ? number("max_packed_tokens", 0)
                         : number("max_seq_length", 0));
  return row;
}

/// llvm::format takes pointers, not arrays.
const char *cstr(const char *s) { return s; }

void printHeader(const Varied &varied) {
  llvm::outs() << "--" << varied.flag << "\n";
  llvm::outs() << llvm::format("%-10s %-5s %12s %10s %12s %14s %14s\n",
                               cstr("value"), cstr("fits"), cstr("peak"),
                               cstr("recompute"), cstr("offloaded"),
                               cstr("est. step"), cstr("tokens/s/GPU"));
}

void printRow(const Row &r) {
  if (!r.fits) {
    llvm::outs() << llvm::format(
        "%-10lld %-5s %8.2f GiB   (the least it can take)\n",
        static_cast<long long>(r.value), cstr("no"), r.peak / kGiB);
    return;
  }
  llvm::outs() << llvm::format(
      "%-10lld %-5s %8.2f GiB %9.1f%% %8.2f GiB %11.1f ms %14.0f\n",
      static_cast<long long>(r.value), cstr("yes"), r.peak / kGiB,
      r.recomputePercent, r.offloaded / kGiB, r.seconds * 1e3,
      r.seconds > 0 ? r.tokens / r.seconds : 0.0);
  llvm::outs().flush();
}

} // namespace

int main(int argc, char **argv) {
  std::string model, gpu, vary, remat = "vision=auto lm=auto", levers;
  std::optional<int64_t> maxValue;
  std::vector<std::string> flags;
  for (int i = 1; i < argc; ++i) {
    StringRef a = argv[i];
    auto value = [&](StringRef name) -> std::optional<std::string> {
      StringRef rest = a;
      if (!rest.consume_front("--" + name.str()))
        return std::nullopt;
      if (rest.consume_front("="))
        return rest.str();
      if (!rest.empty())
        return std::nullopt;
      if (i + 1 >= argc)
        die("--" + name + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "-h" || a == "--help") {
      usage(llvm::outs());
      return 0;
    }
    if (auto v = value("gpu"))
      gpu = *v;
    else if (auto v = value("vary"))
      vary = *v;
    else if (auto v = value("remat"))
      remat = *v;
    else if (auto v = value("levers"))
      levers = *v;
    else if (auto v = value("max")) {
      int64_t n;
      if (!llvm::to_integer(*v, n) || n < 1)
        die("--max must be a positive integer, got '" + *v + "'");
      maxValue = n;
    } else if (model.empty() && !a.starts_with("-"))
      model = a.str();
    else
      flags.push_back(a.str());
  }
  if (model.empty()) {
    usage(llvm::errs());
    die("no model config given");
  }
  if (gpu.empty())
    die("--gpu is needed: one of " + internvl::cardNames());
  const internvl::GpuTarget *card = internvl::findCard(gpu);
  if (!card)
    die("--gpu must be one of " + internvl::cardNames() + ", got '" + gpu +
        "'");
  const Varied *varied = nullptr;
  for (const Varied &v : kVaried)
    if (v.flag == vary)
      varied = &v;
  if (vary.empty())
    die("--vary is needed: one of " + variedNames());
  if (!varied)
    die("--vary " + vary + " cannot vary; the flags that can are " +
        variedNames());

  if (varied->flag == "max_packed_tokens") {
    bool packed = false;
    for (size_t i = 0; i + 1 < flags.size(); ++i)
      packed |= StringRef(flags[i]).ltrim('-') == "use_packed_ds" &&
                StringRef(flags[i + 1]).equals_insensitive("true");
    for (const std::string &f : flags)
      packed |= StringRef(f).ltrim('-').equals_insensitive("use_packed_ds=true");
    if (!packed)
      die("--vary max_packed_tokens needs --use_packed_ds True (without it "
          "InternVL does not pack and the flag changes nothing)");
  }

  Fitter fitter(model, flags, *card, *varied, remat, levers);
  // Where to start: the command line's value, else the flag's own start.
  int64_t start = varied->start;
  for (size_t i = 0; i < flags.size(); ++i) {
    StringRef bare = StringRef(flags[i]).ltrim('-');
    std::string text;
    if (bare == varied->flag && i + 1 < flags.size())
      text = flags[i + 1];
    else if (bare.consume_front((varied->flag + "=").str()))
      text = bare.str();
    if (!text.empty() && (!llvm::to_integer(text, start) || start < 1))
      die("--" + varied->flag + " must be a positive integer, got '" + text +
          "'");
  }
  int64_t limit = maxValue ? *maxValue : varied->limit;
  if (start > limit)
    die("--" + varied->flag + " " + std::to_string(start) +
        " is above --max " + std::to_string(limit));

  llvm::outs() << "internvl-fit: " << llvm::sys::path::filename(model)
               << " on " << card->card << " (budget "
               << llvm::format("%.2f", (card->memoryMiB * 1048576.0 -
                                        internvl::kCardReserveBytes) /
                                           kGiB)
               << " GiB), --tg-remat=\"" << remat
               << (levers.empty() ? "" : " levers=" + levers) << "\"\n";
  printHeader(*varied);
  // Double until it no longer fits, then bisect between the last value that
  // fits and the first that does not (in multiples of the flag's step).
  std::map<int64_t, Row> tried;
  auto tryValue = [&](int64_t v) {
    Row r = fitter.plan(v);
    printRow(r);
    tried[v] = r;
    return r.fits;
  };
  std::optional<int64_t> good, bad;
  for (int64_t v = start;; v *= 2) {
    v = std::min(v, limit);
    if (tryValue(v))
      good = v;
    else {
      bad = v;
      break;
    }
    if (v == limit)
      break;
  }
  // The starting value did not fit: halve down to the smallest step.
  for (int64_t v = start / 2; !good && v >= varied->step;
       v = v / 2 / varied->step * varied->step) {
    if (tryValue(v))
      good = v;
    else
      bad = v;
    if (v == varied->step)
      break;
  }
  if (good && bad) {
    int64_t lo = *good, hi = *bad;
    while (hi - lo > varied->step) {
      int64_t mid = (lo + hi) / 2 / varied->step * varied->step;
      if (mid <= lo || mid >= hi)
        break;
      if (tryValue(mid))
        lo = mid;
      else
        hi = mid;
    }
    good = lo;
  }
  if (!good) {
    int64_t least = tried.begin()->first;
    llvm::outs() << "nothing fits: --" << varied->flag << " " << least
                 << " needs at least "
                 << llvm::format("%.2f", tried[least].peak / kGiB)
                 << " GiB per GPU with these levers\n";
    return 1;
  }
  const Row &best = tried[*good];
  llvm::outs() << "largest --" << varied->flag << " that fits " << card->card
               << ": " << *good
               << (bad ? "" : " (the largest tried: --max or the flag's limit)")
               << llvm::format(", peak %.2f GiB, %.1f%% recomputed, %.0f tokens/s per GPU on the roofline\n",
                               best.peak / kGiB, best.recomputePercent,
                               best.seconds > 0 ? best.tokens / best.seconds
                                                : 0.0);
  return 0;
}
