//===- Inputs.cpp - deterministic inputs of a training step
//-----------------===//
//
// splitmix64 streams keyed by (seed, argument name) and Box-Muller normals:
// fully specified arithmetic, so every build and platform draws the same
// values (unlike std::normal_distribution).
//
//===----------------------------------------------------------------------===//

#include "internvl/TensorIO/Inputs.h"
#include "internvl/runtime/Numeric.h"

#include <cmath>

using namespace internvl;

namespace {

class Stream {
public:
  Stream(uint64_t seed, llvm::StringRef name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : name) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3ull;
    }
    state = seed * 0x9E3779B97F4A7C15ull ^ h;
  }

  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// Uniform in (0, 1].
  double uniform() { return ((next() >> 11) + 1) * (1.0 / 9007199254740992.0); }

  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

  int64_t below(int64_t n) { return static_cast<int64_t>(next() % n); }

private:
  uint64_t state;
};

void fillFloat(HostTensor &t, llvm::function_ref<double()> value) {
  ivl_tensor v = t.view();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    float f = static_cast<float>(value());
    if (t.dtype == IVL_F32)
      static_cast<float *>(v.data)[i] = f;
    else if (t.dtype == IVL_BF16)
      static_cast<uint16_t *>(v.data)[i] = ivl::floatToBf16(f);
    else
      static_cast<uint16_t *>(v.data)[i] = ivl::floatToF16(f);
  }
}

bool isFloat(ivl_dtype d) {
  return d == IVL_F32 || d == IVL_BF16 || d == IVL_F16;
}

/// Token ids of one sample: a text token, the IMG_CONTEXT run, then text.
std::vector<int64_t> sampleIds(Stream &stream, const BatchSpec &batch,
                               int64_t length) {
  std::vector<int64_t> ids(length);
  int64_t vocab = std::max<int64_t>(batch.vocabSize, 2);
  auto text = [&] {
    int64_t id = stream.below(vocab);
    return id == batch.imageTokenId ? (id + 1) % vocab : id;
  };
  for (int64_t t = 0; t < length; ++t) {
    bool image =
        batch.imageTokenId >= 0 && t >= 1 && t <= batch.imageTokensPerSample;
    ids[t] = image ? batch.imageTokenId : text();
  }
  return ids;
}

/// Where the answer (the supervised part) starts: halfway through the text
/// after the image.
int64_t answerStart(const BatchSpec &batch, int64_t length) {
  int64_t prompt = 1 + batch.imageTokensPerSample;
  return std::min(length - 1, prompt + (length - prompt) / 2);
}

} // namespace

llvm::Expected<HostTensor>
internvl::generateArgument(const ArgSpec &spec, const BatchSpec &batch,
                           uint64_t seed,
                           const llvm::StringMap<HostTensor> &params) {
  HostTensor t = HostTensor::allocate(spec.dtype, spec.shape);
  auto failWith = [&](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "argument '" + spec.name + "': " + why);
  };

  if (spec.kind == "param") {
    if (!isFloat(spec.dtype))
      return failWith("parameters must be float tensors");
    Stream stream(seed, spec.name);
    if (spec.normalInit)
      fillFloat(t, [&] { return spec.initValue * stream.normal(); });
    else
      fillFloat(t, [&] { return spec.initValue; });
    return t;
  }
  if (spec.kind == "master") {
    llvm::StringRef param =
        llvm::StringRef(spec.name).drop_back(llvm::StringRef(".master").size());
    auto it = params.find(param);
    if (it == params.end())
      return failWith("no parameter '" + param + "' to copy");
    return convertTensor(it->second, spec.dtype);
  }
  if (spec.kind == "exp_avg" || spec.kind == "exp_avg_sq")
    return t; // zeros, as before the first update
  if (spec.name == "step" && spec.dtype == IVL_I64) {
    static_cast<int64_t *>(t.data())[0] = 1;
    return t;
  }

  if ((spec.name == "input_ids" || spec.name == "labels") &&
      spec.dtype == IVL_I64 && spec.shape.size() == 2) {
    int64_t samples = spec.shape[0], length = spec.shape[1];
    Stream stream(seed, "input_ids");
    int64_t *out = static_cast<int64_t *>(t.data());
    for (int64_t b = 0; b < samples; ++b) {
      std::vector<int64_t> ids = sampleIds(stream, batch, length);
      int64_t start = answerStart(batch, length);
      for (int64_t i = 0; i < length; ++i)
        out[b * length + i] = spec.name == "input_ids" ? ids[i]
                              : i >= start             ? ids[i]
                                                       : -100;
    }
    return t;
  }

  Stream stream(seed, spec.name);
  if (isFloat(spec.dtype)) {
    fillFloat(t, [&] { return stream.normal(); });
  } else if (spec.dtype == IVL_I64) {
    int64_t range = batch.vocabSize > 0 ? batch.vocabSize : 100;
    for (int64_t i = 0, n = t.numel(); i < n; ++i)
      static_cast<int64_t *>(t.data())[i] = stream.below(range);
  } else {
    for (int64_t i = 0, n = t.numel(); i < n; ++i)
      static_cast<uint8_t *>(t.data())[i] = stream.next() & 1;
  }
  return t;
}
