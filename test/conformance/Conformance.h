//===- Conformance.h - kernel conformance cases ---------------*- C++ -*-===//
//
// Every runtime entry point, called through the C API on random and
// edge-case shapes and compared with a plain f64 reference written here,
// apart from the kernels. The same binary links the CPU runtime (ctest) or
// the CUDA runtime (scripts/gpu-check.sh run); inputs go through
// ivl_device_alloc / ivl_copy_to_device, so the cases do not know which.
// The CPU build records every output (--record FILE); the CUDA build
// compares its outputs with that record on the same inputs (--against FILE).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_TEST_CONFORMANCE_CONFORMANCE_H
#define INTERNVL_TEST_CONFORMANCE_CONFORMANCE_H

#include "internvl/runtime/Runtime.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace conformance {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape &shape);

/// A host tensor: values as doubles, each exactly representable in dtype.
struct Tensor {
  ivl_dtype dtype = IVL_F32;
  Shape shape;
  std::vector<double> values;
  double &operator[](int64_t i) { return values[i]; }
  double operator[](int64_t i) const { return values[i]; }
  int64_t size() const { return static_cast<int64_t>(values.size()); }
};

/// Rounds to the nearest value of `dtype` (ties to even); integers as is.
double roundTo(ivl_dtype dtype, double v);

/// |got - want| <= atol + rtol * |want|, element by element.
struct Tolerance {
  double atol;
  double rtol;
};
/// The documented tolerance of an output of `dtype` whose terms are about
/// `scale` in size (docs/runtime.md): one bf16 rounding (2^-8 relative,
/// doubled for an intermediate rounding), f32 accumulation (1e-5).
Tolerance toleranceFor(ivl_dtype dtype, double scale = 1.0);

/// One case: inputs on the device, the call, the comparisons.
class CpuRecord;

class Case {
public:
  /// `key` names the case in a CPU record (kernel/name); `record` is the
  /// record being written or compared with, or null.
  Case(ivl_context *ctx, uint64_t seed, std::string key = {},
       CpuRecord *record = nullptr)
      : ctx(ctx), rng(seed), key(std::move(key)), record(record) {}
  ~Case();
  Case(const Case &) = delete;
  Case &operator=(const Case &) = delete;

  /// Uniform in [lo, hi), rounded to dtype.
  Tensor random(ivl_dtype dtype, Shape shape, double lo = -1, double hi = 1);
  /// Integers in [lo, hi).
  Tensor integers(Shape shape, int64_t lo, int64_t hi);
  Tensor filled(ivl_dtype dtype, Shape shape, double value);

  /// A device copy of `t` (freed with the case).
  ivl_tensor device(const Tensor &t);
  /// An output of dtype and shape, filled with a NaN pattern so that an
  /// element the kernel does not write shows.
  ivl_tensor output(ivl_dtype dtype, Shape shape);
  Tensor fetch(const ivl_tensor &t);

  /// Records a failed call (with ivl_last_error); true when it succeeded.
  bool call(ivl_status status);
  /// Compares `got` with `want` (same element count).
  void expect(const char *what, const Tensor &got,
              const std::vector<double> &want, Tolerance tol);
  void expect(const char *what, const ivl_tensor &got,
              const std::vector<double> &want, Tolerance tol) {
    expect(what, fetch(got), want, tol);
  }
  /// Records a failed condition.
  void check(bool ok, const std::string &message);
  /// Records a call whose status (after synchronizing) is not `want`.
  void expectStatus(ivl_status got, ivl_status want, const char *what);

  std::mt19937_64 &random() { return rng; }
  ivl_context *context() const { return ctx; }

  double maxAbs = 0, maxRel = 0, worstTolerance = 0;
  /// Against a CPU record: the largest differences and the outputs compared.
  double cpuMaxAbs = 0, cpuMaxRel = 0;
  int cpuOutputs = 0;
  std::vector<std::string> failures;

private:
  void compareWithCpu(const std::string &output, const Tensor &got,
                      Tolerance tol);

  ivl_context *ctx;
  std::mt19937_64 rng;
  std::string key;
  CpuRecord *record;
  /// FNV-1a of every input's bytes so far: an output is compared with the
  /// CPU record only when it was made from the same inputs.
  uint64_t inputHash = 0xcbf29ce484222325ull;
  int outputOrdinal = 0;
  std::vector<void *> allocations;
};

/// The CPU kernels' outputs on every case's inputs, written by the CPU build
/// and read by the CUDA build: the comparison of each CUDA kernel with the
/// CPU kernel on the same inputs, without both runtimes in one process
/// (they define the same C entry points).
class CpuRecord {
public:
  enum class Mode { Write, Compare };
  explicit CpuRecord(Mode mode) : mode(mode) {}
  Mode mode;

  /// One output, in the order of expect(), with the hash of the inputs
  /// the case had made by then.
  struct Output {
    uint64_t inputHash = 0;
    std::vector<double> values;
  };
  using Entry = std::vector<Output>;
  std::vector<std::pair<std::string, Entry>> cases;
  /// The entry of `key`, or null.
  const Entry *find(const std::string &key) const;
  Entry &add(const std::string &key);
  /// The entry being written for `key` (a new one for a new case).
  Entry &entryFor(const std::string &key);

  /// Binary, little-endian; false with `error` set on a bad file.
  bool save(const std::string &path, std::string &error) const;
  bool load(const std::string &path, std::string &error);
};

/// A named case of one kernel.
struct CaseDef {
  std::string kernel;
  std::string name;
  std::function<void(Case &)> run;
};

/// Registers cases at static-initialization time.
struct Register {
  Register(std::string kernel, std::string name,
           std::function<void(Case &)> run);
};

std::vector<CaseDef> &registry();

} // namespace conformance

/// CONFORMANCE_CASE(linear, odd_sizes) { ... c is the Case ... }
#define CONFORMANCE_CASE(kernel, name)                                         \
  static void conformance_##kernel##_##name(::conformance::Case &c);           \
  static ::conformance::Register conformance_reg_##kernel##_##name(            \
      #kernel, #name, conformance_##kernel##_##name);                          \
  static void conformance_##kernel##_##name(::conformance::Case &c)

#endif // INTERNVL_TEST_CONFORMANCE_CONFORMANCE_H
