//===- Main.cpp - kernel conformance driver -------------------------------===//
//
//   kernel-conformance [--kernel NAME] [--seed N] [--verbose]
//
// Prints the device, then one line per kernel: cases, the largest absolute
// and relative error against the f64 reference, and ok or FAIL; the failing
// cases follow with what differed. Exits 1 when any case fails.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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

void Case::expect(const char *what, const Tensor &got,
                  const std::vector<double> &want, Tolerance tol) {
  if (got.size() != static_cast<int64_t>(want.size())) {
    check(false, std::string(what) + ": " + std::to_string(got.size()) +
                     " elements, the reference has " +
                     std::to_string(want.size()));
    return;
  }
  worstTolerance = std::max(worstTolerance, tol.rtol);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g))
      continue;
    double diff = std::fabs(g - w);
    if (std::isnan(diff) || std::isinf(diff))
      diff = INFINITY;
    maxAbs = std::max(maxAbs, diff);
    if (w != 0)
      maxRel = std::max(maxRel, diff / std::fabs(w));
    if (!(diff <= tol.atol + tol.rtol * std::fabs(w))) {
      if (first < 0)
        first = i;
      ++bad;
    }
  }
  if (bad) {
    std::ostringstream os;
    os.precision(9);
    os << what << ": " << bad << " of " << got.size()
       << " elements outside |d| <= " << tol.atol << " + " << tol.rtol
       << " |ref|; first at " << first << ": got " << got[first]
       << ", reference " << want[first];
    check(false, os.str());
  }
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
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--kernel" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--verbose")
      verbose = true;
    else {
      std::fprintf(stderr,
                   "usage: kernel-conformance [--kernel NAME] [--seed N] "
                   "[--verbose]\n");
      return 2;
    }
  }
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
    double maxAbs = 0, maxRel = 0, tol = 0;
    std::vector<std::string> failures;
    for (const CaseDef *d : byKernel[kernel]) {
      Case c(ctx, seed * 1000003 + std::hash<std::string>()(d->name) % 1000);
      d->run(c);
      ++cases;
      maxAbs = std::max(maxAbs, c.maxAbs);
      maxRel = std::max(maxRel, c.maxRel);
      tol = std::max(tol, c.worstTolerance);
      for (const std::string &f : c.failures)
        failures.push_back(d->name + ": " + f);
      if (verbose)
        std::printf("  %s/%s: max abs %.3g, max rel %.3g%s\n", kernel.c_str(),
                    d->name.c_str(), c.maxAbs, c.maxRel,
                    c.failures.empty() ? "" : " FAIL");
    }
    std::printf("conformance: ivl_%-26s %2zu cases  max abs %9.3g  max rel "
                "%9.3g  (rtol %.3g)  %s\n",
                kernel.c_str(), byKernel[kernel].size(), maxAbs, maxRel, tol,
                failures.empty() ? "ok" : "FAIL");
    for (const std::string &f : failures)
      std::printf("    %s\n", f.c_str());
    std::fflush(stdout);
    failedKernels += !failures.empty();
  }
  std::printf("conformance: %zu kernels, %d cases, %d kernels failed\n",
              order.size(), cases, failedKernels);
  ivl_context_destroy(ctx);
  return failedKernels ? 1 : 0;
}
