//===- Main.cpp - kernel conformance driver -------------------------------===//
//
//   kernel-conformance [--kernel NAME] [--seed N] [--verbose]
//                      [--record FILE | --against FILE]
//
// Prints the device, then one line per kernel: cases, the largest absolute
// and relative error against the f64 reference, and ok or FAIL; the failing
// cases follow with what differed. Exits 1 when any case fails.
//
// --record FILE writes every output of this run (the CPU build's: the CPU
// kernels' results); --against FILE compares every output with that record
// as well, made from the same inputs (same seed and cases), and adds the
// largest difference from the CPU kernel to each kernel's line.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include "internvl/runtime/LoadedLibraries.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

using namespace conformance;

int64_t conformance::numel(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static uint16_t bf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f))
    return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1); // round to nearest, ties to even
  return static_cast<uint16_t>(u >> 16);
}

static float fromBf16Bits(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

double conformance::roundTo(ivl_dtype dtype, double v) {
  switch (dtype) {
  case IVL_F32:
    return static_cast<float>(v);
  case IVL_BF16:
    return fromBf16Bits(bf16Bits(static_cast<float>(v)));
  case IVL_I64:
    return std::nearbyint(v);
  case IVL_I1:
    return v != 0;
  default:
    std::fprintf(stderr, "conformance: dtype %d is not covered\n", dtype);
    std::exit(2);
  }
}

Tolerance conformance::toleranceFor(ivl_dtype dtype, double scale) {
  double rtol = dtype == IVL_BF16 ? std::ldexp(1.0, -7) : 1e-5;
  return {rtol * scale, rtol};
}

Case::~Case() {
  for (void *p : allocations)
    ivl_device_free(ctx, p);
}

Tensor Case::random(ivl_dtype dtype, Shape shape, double lo, double hi) {
  Tensor t{dtype, shape, {}};
  std::uniform_real_distribution<double> u(lo, hi);
  t.values.resize(numel(shape));
  for (double &v : t.values)
    v = roundTo(dtype, u(rng));
  return t;
}

Tensor Case::integers(Shape shape, int64_t lo, int64_t hi) {
  Tensor t{IVL_I64, shape, {}};
  std::uniform_int_distribution<int64_t> u(lo, hi - 1);
  t.values.resize(numel(shape));
  for (double &v : t.values)
    v = static_cast<double>(u(rng));
  return t;
}

Tensor Case::filled(ivl_dtype dtype, Shape shape, double value) {
  return Tensor{dtype, shape,
                std::vector<double>(numel(shape), roundTo(dtype, value))};
}

static std::vector<unsigned char> encode(const Tensor &t) {
  int64_t n = t.size(), size = ivl_dtype_size(t.dtype);
  std::vector<unsigned char> bytes(n * size);
  for (int64_t i = 0; i < n; ++i) {
    unsigned char *p = bytes.data() + i * size;
    switch (t.dtype) {
    case IVL_F32: {
      float f = static_cast<float>(t[i]);
      std::memcpy(p, &f, 4);
      break;
    }
    case IVL_BF16: {
      uint16_t b = bf16Bits(static_cast<float>(t[i]));
      std::memcpy(p, &b, 2);
      break;
    }
    case IVL_I64: {
      int64_t v = static_cast<int64_t>(t[i]);
      std::memcpy(p, &v, 8);
      break;
    }
    case IVL_I1:
      *p = t[i] != 0;
      break;
    default:
      std::exit(2);
    }
  }
  return bytes;
}

static ivl_tensor descriptor(void *data, ivl_dtype dtype, const Shape &shape) {
  ivl_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    t.shape[i] = shape[i];
  return t;
}

ivl_tensor Case::device(const Tensor &t) {
  std::vector<unsigned char> bytes = encode(t);
  // One byte at least: a zero-size tensor still has a valid address.
  void *p = ivl_device_alloc(ctx, std::max<int64_t>(bytes.size(), 1));
  if (!p) {
    check(false, std::string("ivl_device_alloc: ") + ivl_last_error(ctx));
    std::exit(2);
  }
  allocations.push_back(p);
  for (unsigned char b : bytes)
    inputHash = (inputHash ^ b) * 0x100000001b3ull;
  inputHash = (inputHash ^ static_cast<uint64_t>(bytes.size())) *
              0x100000001b3ull;
  if (!bytes.empty())
    call(ivl_copy_to_device(ctx, p, bytes.data(),
                            static_cast<int64_t>(bytes.size())));
  return descriptor(p, t.dtype, t.shape);
}

ivl_tensor Case::output(ivl_dtype dtype, Shape shape) {
  Tensor t{dtype, shape, std::vector<double>(numel(shape), NAN)};
  if (dtype == IVL_I64 || dtype == IVL_I1)
    std::fill(t.values.begin(), t.values.end(), 0);
  return device(t);
}

Tensor Case::fetch(const ivl_tensor &d) {
  Shape shape(d.shape, d.shape + d.rank);
  Tensor t{d.dtype, shape, std::vector<double>(numel(shape))};
  int64_t size = ivl_dtype_size(d.dtype), n = t.size();
  std::vector<unsigned char> bytes(n * size);
  if (!bytes.empty())
    call(ivl_copy_to_host(ctx, bytes.data(), d.data,
                          static_cast<int64_t>(bytes.size())));
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char *p = bytes.data() + i * size;
    switch (d.dtype) {
    case IVL_F32: {
      float f;
      std::memcpy(&f, p, 4);
      t[i] = f;
      break;
    }
    case IVL_BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      t[i] = fromBf16Bits(b);
      break;
    }
    case IVL_I64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      t[i] = static_cast<double>(v);
      break;
    }
    case IVL_I1:
      t[i] = *p;
      break;
    default:
      std::exit(2);
    }
  }
  return t;
}

bool Case::call(ivl_status status) {
  if (status == IVL_OK)
    status = ivl_synchronize(ctx);
  if (status == IVL_OK)
    return true;
  check(false, std::string("the call failed: ") + ivl_last_error(ctx));
  return false;
}

void Case::expectStatus(ivl_status got, ivl_status want, const char *what) {
  if (got == IVL_OK)
    got = ivl_synchronize(ctx);
  check(got == want,
        std::string(what) + ": expected status " + std::to_string(want) +
            ", got " + std::to_string(got) +
            (got ? std::string(" (") + ivl_last_error(ctx) + ")"
                 : std::string()));
}

void Case::check(bool ok, const std::string &message) {
  if (!ok)
    failures.push_back(message);
}

namespace {

/// The elements outside their bound, and the first of them.
struct Mismatch {
  int64_t bad = 0, first = -1;
};

/// |got - want| element by element against bound(magnitude(got, want)); a
/// NaN against a NaN matches, any other NaN or infinity does not. Raises
/// maxAbs and maxRel (relative to the magnitude) to what it sees.
template <typename Magnitude, typename Bound>
Mismatch compareElements(const Tensor &got, const std::vector<double> &want,
                         Magnitude magnitude, Bound bound, double &maxAbs,
                         double &maxRel) {
  Mismatch m;
  for (int64_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g))
      continue;
    double diff = std::fabs(g - w);
    if (std::isnan(diff) || std::isinf(diff))
      diff = INFINITY;
    double size = magnitude(g, w);
    maxAbs = std::max(maxAbs, diff);
    if (size != 0)
      maxRel = std::max(maxRel, diff / size);
    if (!(diff <= bound(size))) {
      if (m.first < 0)
        m.first = i;
      ++m.bad;
    }
  }
  return m;
}

} // namespace

void Case::expect(const char *what, const Tensor &got,
                  const std::vector<double> &want, Tolerance tol) {
  if (got.size() != static_cast<int64_t>(want.size())) {
    check(false, std::string(what) + ": " + std::to_string(got.size()) +
                     " elements, the reference has " +
                     std::to_string(want.size()));
    return;
  }
  worstTolerance = std::max(worstTolerance, tol.rtol);
  if (record)
    compareWithCpu(what, got, tol);
  Mismatch m = compareElements(
      got, want, [](double, double w) { return std::fabs(w); },
      [&](double size) { return tol.atol + tol.rtol * size; }, maxAbs, maxRel);
  if (m.bad) {
    std::ostringstream os;
    os.precision(9);
    os << what << ": " << m.bad << " of " << got.size()
       << " elements outside |d| <= " << tol.atol << " + " << tol.rtol
       << " |ref|; first at " << m.first << ": got " << got[m.first]
       << ", reference " << want[m.first];
    check(false, os.str());
  }
}

// Both kernels are within `tol` of the f64 reference, so they are within
// twice that of each other: |cuda - cpu| <= 2 (atol + rtol max(|cuda|, |cpu|)).
void Case::compareWithCpu(const std::string &output, const Tensor &got,
                          Tolerance tol) {
  int ordinal = outputOrdinal++;
  if (record->mode == CpuRecord::Mode::Write) {
    record->entryFor(key).push_back({inputHash, got.values});
    return;
  }
  const CpuRecord::Entry *entry = record->find(key);
  if (!entry || ordinal >= static_cast<int>(entry->size())) {
    check(false, "vs CPU: " + output + ": not in the CPU record");
    return;
  }
  const CpuRecord::Output &cpu = (*entry)[ordinal];
  if (cpu.inputHash != inputHash) {
    check(false, "vs CPU: " + output +
                     ": the CPU record was made from other inputs (another "
                     "seed or another build of the cases)");
    return;
  }
  if (cpu.values.size() != got.values.size()) {
    check(false, "vs CPU: " + output + ": " + std::to_string(got.size()) +
                     " elements, the CPU kernel gave " +
                     std::to_string(cpu.values.size()));
    return;
  }
  ++cpuOutputs;
  Mismatch m = compareElements(
      got, cpu.values,
      [](double g, double w) { return std::max(std::fabs(g), std::fabs(w)); },
      [&](double size) { return 2 * (tol.atol + tol.rtol * size); },
      cpuMaxAbs, cpuMaxRel);
  if (m.bad) {
    std::ostringstream os;
    os.precision(9);
    os << "vs CPU: " << output << ": " << m.bad << " of " << got.size()
       << " elements outside |d| <= 2 (" << tol.atol << " + " << tol.rtol
       << " max(|got|, |cpu|)); first at " << m.first << ": got "
       << got[m.first] << ", CPU kernel " << cpu.values[m.first];
    check(false, os.str());
  }
}

const CpuRecord::Entry *CpuRecord::find(const std::string &key) const {
  for (const auto &[name, entry] : cases)
    if (name == key)
      return &entry;
  return nullptr;
}

CpuRecord::Entry &CpuRecord::add(const std::string &key) {
  cases.emplace_back(key, Entry{});
  return cases.back().second;
}

CpuRecord::Entry &CpuRecord::entryFor(const std::string &key) {
  // A case's outputs arrive together: its entry, if any, is the last one.
  if (!cases.empty() && cases.back().first == key)
    return cases.back().second;
  return add(key);
}

static const char kRecordMagic[8] = {'I', 'V', 'L', 'C', 'O', 'N', 'F', '1'};

template <typename T> static void put(std::ostream &os, T v) {
  os.write(reinterpret_cast<const char *>(&v), sizeof(T));
}
template <typename T> static bool get(std::istream &is, T &v) {
  return static_cast<bool>(is.read(reinterpret_cast<char *>(&v), sizeof(T)));
}

bool CpuRecord::save(const std::string &path, std::string &error) const {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  if (!os) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  os.write(kRecordMagic, sizeof(kRecordMagic));
  put<uint64_t>(os, cases.size());
  for (const auto &[key, entry] : cases) {
    put<uint64_t>(os, key.size());
    os.write(key.data(), static_cast<std::streamsize>(key.size()));
    put<uint64_t>(os, entry.size());
    for (const Output &out : entry) {
      put<uint64_t>(os, out.inputHash);
      put<uint64_t>(os, out.values.size());
      os.write(reinterpret_cast<const char *>(out.values.data()),
               static_cast<std::streamsize>(out.values.size() * 8));
    }
  }
  os.close();
  if (!os) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    std::remove(path.c_str());
    return false;
  }
  return true;
}

bool CpuRecord::load(const std::string &path, std::string &error) {
  std::ifstream is(path, std::ios::binary);
  if (!is) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  is.seekg(0, std::ios::end);
  uint64_t fileSize = static_cast<uint64_t>(is.tellg());
  is.seekg(0);
  char magic[sizeof(kRecordMagic)];
  uint64_t count = 0;
  auto bad = [&](const char *what) {
    error = path + " is not a conformance CPU record (" + what +
            "); write one with kernel-conformance --record";
    return false;
  };
  if (!is.read(magic, sizeof(magic)) ||
      std::memcmp(magic, kRecordMagic, sizeof(magic)) != 0)
    return bad("no IVLCONF1 header");
  if (!get(is, count) || count > fileSize)
    return bad("bad case count");
  for (uint64_t c = 0; c < count; ++c) {
    uint64_t keySize = 0, outputs = 0;
    if (!get(is, keySize) || keySize > 4096)
      return bad("bad case name");
    std::string key(keySize, '\0');
    if (!is.read(key.data(), static_cast<std::streamsize>(keySize)) ||
        !get(is, outputs) || outputs > fileSize)
      return bad("truncated case");
    Entry &entry = add(key);
    for (uint64_t o = 0; o < outputs; ++o) {
      Output out;
      uint64_t n = 0;
      if (!get(is, out.inputHash) || !get(is, n) || n > fileSize / 8)
        return bad("truncated output");
      out.values.resize(n);
      if (!is.read(reinterpret_cast<char *>(out.values.data()),
                   static_cast<std::streamsize>(n * 8)))
        return bad("truncated output");
      entry.push_back(std::move(out));
    }
  }
  return true;
}

std::vector<CaseDef> &conformance::registry() {
  static std::vector<CaseDef> cases;
  return cases;
}

Register::Register(std::string kernel, std::string name,
                   std::function<void(Case &)> run) {
  registry().push_back({std::move(kernel), std::move(name), std::move(run)});
}

int main(int argc, char **argv) {
  std::string only;
  uint64_t seed = 1;
  bool verbose = false;
  std::string recordPath, againstPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--kernel" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--record" && i + 1 < argc)
      recordPath = argv[++i];
    else if (a == "--against" && i + 1 < argc)
      againstPath = argv[++i];
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--verbose")
      verbose = true;
    else {
      std::fprintf(stderr,
                   "usage: kernel-conformance [--kernel NAME] [--seed N] "
                   "[--verbose] [--record FILE | --against FILE]\n");
      return 2;
    }
  }
  if (!recordPath.empty() && !againstPath.empty()) {
    std::fprintf(stderr, "kernel-conformance: --record and --against "
                         "exclude each other\n");
    return 2;
  }
  std::unique_ptr<CpuRecord> record;
  if (!recordPath.empty())
    record = std::make_unique<CpuRecord>(CpuRecord::Mode::Write);
  if (!againstPath.empty()) {
    record = std::make_unique<CpuRecord>(CpuRecord::Mode::Compare);
    std::string error;
    if (!record->load(againstPath, error)) {
      std::fprintf(stderr, "kernel-conformance: %s\n", error.c_str());
      return 2;
    }
  }
  if (std::string line = ivl::loadedCudaLibrariesLine(); !line.empty())
    std::printf("conformance: %s\n", line.c_str());
  // The first runtime call: without a device (a CUDA build on a machine
  // with no GPU) this is as far as the suite gets, and it says so.
  if (ivl_status s = ivl_select_device(0)) {
    std::printf("conformance: no device: ivl_select_device(0) returned "
                "status %d; no kernel was run\n",
                s);
    return 1;
  }
  ivl_context *ctx = ivl_context_create();
  if (!ctx) {
    std::printf("conformance: cannot create a runtime context\n");
    return 1;
  }
  std::printf("conformance: device %s\n", ivl_device_name(ctx));
  std::fflush(stdout);

  // Kernels in the order their first case was registered.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const CaseDef *>> byKernel;
  for (const CaseDef &d : registry()) {
    if (!only.empty() && d.kernel != only && "ivl_" + d.kernel != only)
      continue;
    if (!byKernel.count(d.kernel))
      order.push_back(d.kernel);
    byKernel[d.kernel].push_back(&d);
  }
  if (order.empty()) {
    std::printf("conformance: no kernel named '%s'\n", only.c_str());
    return 2;
  }
  int failedKernels = 0, cases = 0;
  for (const std::string &kernel : order) {
    double maxAbs = 0, maxRel = 0, tol = 0, cpuAbs = 0, cpuRel = 0;
    int cpuOutputs = 0;
    std::vector<std::string> failures;
    for (const CaseDef *d : byKernel[kernel]) {
      // The seed depends on the case alone (std::hash differs between
      // standard libraries), so the CUDA build makes the CPU record's inputs.
      uint64_t caseSeed = seed * 1000003;
      for (char ch : d->name)
        caseSeed = (caseSeed ^ static_cast<unsigned char>(ch)) *
                   0x100000001b3ull;
      Case c(ctx, caseSeed, d->kernel + "/" + d->name, record.get());
      d->run(c);
      ++cases;
      maxAbs = std::max(maxAbs, c.maxAbs);
      maxRel = std::max(maxRel, c.maxRel);
      cpuAbs = std::max(cpuAbs, c.cpuMaxAbs);
      cpuRel = std::max(cpuRel, c.cpuMaxRel);
      cpuOutputs += c.cpuOutputs;
      tol = std::max(tol, c.worstTolerance);
      for (const std::string &f : c.failures)
        failures.push_back(d->name + ": " + f);
      if (verbose)
        std::printf("  %s/%s: max abs %.3g, max rel %.3g%s\n", kernel.c_str(),
                    d->name.c_str(), c.maxAbs, c.maxRel,
                    c.failures.empty() ? "" : " FAIL");
    }
    std::string vsCpu;
    if (record && record->mode == CpuRecord::Mode::Compare) {
      char buffer[96];
      std::snprintf(buffer, sizeof(buffer),
                    "  vs CPU: max abs %9.3g  max rel %9.3g", cpuAbs, cpuRel);
      vsCpu = cpuOutputs ? buffer : "  vs CPU: no output compared";
    }
    std::printf("conformance: ivl_%-26s %2zu cases  max abs %9.3g  max rel "
                "%9.3g  (rtol %.3g)%s  %s\n",
                kernel.c_str(), byKernel[kernel].size(), maxAbs, maxRel, tol,
                vsCpu.c_str(), failures.empty() ? "ok" : "FAIL");
    for (const std::string &f : failures)
      std::printf("    %s\n", f.c_str());
    std::fflush(stdout);
    failedKernels += !failures.empty();
  }
  std::printf("conformance: %zu kernels, %d cases, %d kernels failed%s\n",
              order.size(), cases, failedKernels,
              !record ? ""
              : record->mode == CpuRecord::Mode::Compare
                  ? " (against the reference and the CPU record)"
                  : " (outputs recorded)");
  ivl_context_destroy(ctx);
  if (record && record->mode == CpuRecord::Mode::Write) {
    std::string error;
    if (!record->save(recordPath, error)) {
      std::fprintf(stderr, "kernel-conformance: %s\n", error.c_str());
      return 2;
    }
  }
  return failedKernels ? 1 : 0;
}
