//===- StepIO.cpp - inputs and output lines of a step, without LLVM ---------===//
//
// splitmix64 streams keyed by (seed, argument name) and Box-Muller normals:
// fully specified arithmetic, so every build and platform draws the same
// values (unlike std::normal_distribution).
//
//===----------------------------------------------------------------------===//

#include "internvl/runtime/StepIO.h"
#include "internvl/runtime/Numeric.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace ivl;
using namespace ivl::io;

namespace {

class Stream {
public:
  Stream(uint64_t seed, const std::string &name) {
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

bool isFloat(ivl_dtype d) {
  return d == IVL_F32 || d == IVL_BF16 || d == IVL_F16;
}

template <typename F> void fillFloat(void *out, ivl_dtype dtype, int64_t n, F value) {
  for (int64_t i = 0; i < n; ++i) {
    float f = static_cast<float>(value());
    if (dtype == IVL_F32)
      static_cast<float *>(out)[i] = f;
    else if (dtype == IVL_BF16)
      static_cast<uint16_t *>(out)[i] = floatToBf16(f);
    else
      static_cast<uint16_t *>(out)[i] = floatToF16(f);
  }
}

/// Token ids of one sample: a text token, the IMG_CONTEXT run, then text.
std::vector<int64_t> sampleIds(Stream &stream, const BatchSpec &batch,
                               int64_t length) {
  std::vector<int64_t> ids(length);
  int64_t vocab = std::max<int64_t>(batch.vocabSize, 2);
  for (int64_t t = 0; t < length; ++t) {
    bool image = batch.imageTokenId >= 0 && t >= 1 &&
                 t <= batch.imageTokensPerSample;
    if (image) {
      ids[t] = batch.imageTokenId;
    } else {
      int64_t id = stream.below(vocab);
      ids[t] = id == batch.imageTokenId ? (id + 1) % vocab : id;
    }
  }
  return ids;
}

/// Where the answer (the supervised part) starts: halfway through the text
/// after the image.
int64_t answerStart(const BatchSpec &batch, int64_t length) {
  int64_t prompt = 1 + batch.imageTokensPerSample;
  return std::min(length - 1, prompt + (length - prompt) / 2);
}

/// The weight of each labelled token of a sample with `n` of them
/// (len2weight of InternVL's internvl_chat_finetune.py).
float sampleWeight(LossReduction reduction, int64_t n) {
  if (n == 0)
    return 0.0f;
  switch (reduction) {
  case LossReduction::Token:
    return 1.0f;
  case LossReduction::Sample:
    return 1.0f / static_cast<float>(n);
  case LossReduction::Square:
    return 1.0f / std::sqrt(static_cast<float>(n));
  }
  return 1.0f;
}

/// Token ids and labels of one packed sample (a text token, the
/// IMG_CONTEXT run of its tiles, then text whose second half is the
/// supervised answer), or of the padding segment (text, no labels).
void packedSampleTokens(Stream &stream, const BatchSpec &batch,
                        const PackedSample &sample, bool padding,
                        int64_t *ids, int64_t *labels) {
  int64_t vocab = std::max<int64_t>(batch.vocabSize, 2);
  int64_t image = sample.tiles * batch.pack.tokensPerTile;
  int64_t prompt = 1 + image;
  int64_t answer =
      std::min(sample.length - 1, prompt + (sample.length - prompt) / 2);
  for (int64_t t = 0; t < sample.length; ++t) {
    int64_t id;
    if (t >= 1 && t <= image) {
      id = batch.imageTokenId;
    } else {
      id = stream.below(vocab);
      id = id == batch.imageTokenId ? (id + 1) % vocab : id;
    }
    ids[t] = id;
    labels[t] = !padding && t >= answer && t > 0 ? id : batch.ignoreIndex;
  }
}

/// The packed inputs, all from the rows' layouts (packRow).
std::string generatePacked(const ArgSpec &spec, const BatchSpec &batch,
                           uint64_t seed, void *out) {
  const PackSpec &pack = batch.pack;
  const std::string &name = spec.name;
  int64_t rows = spec.shape.empty() ? 0 : spec.shape[0];
  if (name == "image_flags")
    rows = pack.tilesPerRow ? rows / pack.tilesPerRow : 0;
  int64_t length = pack.rowLength;
  // The layout writes what its numbers say: the argument must have exactly
  // that shape.
  std::vector<int64_t> expected =
      name == "cu_seqlens"    ? std::vector<int64_t>{rows, pack.capacity + 1}
      : name == "image_flags" ? std::vector<int64_t>{rows * pack.tilesPerRow}
                              : std::vector<int64_t>{rows, length};
  if (spec.shape != expected || pack.tilesPerRow < 0 || pack.capacity < 1 ||
      length < 2 || (name == "image_flags" && pack.tilesPerRow == 0)) {
    std::string want;
    for (int64_t d : expected)
      want += (want.empty() ? "" : "x") + std::to_string(d);
    return "argument '" + name + "' does not have the shape of the pack "
           "layout (row length " + std::to_string(length) + ", capacity " +
           std::to_string(pack.capacity) + ", " +
           std::to_string(pack.tilesPerRow) + " tiles per row): expected " +
           want;
  }
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<PackedSample> samples = packRow(pack, seed, r);
    if (name == "cu_seqlens") {
      int64_t *c = static_cast<int64_t *>(out) + r * (pack.capacity + 1);
      int64_t k = 0;
      c[k++] = 0;
      for (const PackedSample &s : samples)
        c[k++] = s.begin + s.length;
      if (c[k - 1] < length)
        c[k++] = length; // the padding segment
      while (k <= pack.capacity)
        c[k++] = length;
      continue;
    }
    if (name == "image_flags") {
      // The samples' tiles (flag 1) and text-only samples' dummy tiles
      // (flag 0) in order, then strict_mode's padding tiles (flag 0).
      int64_t *f = static_cast<int64_t *>(out) + r * pack.tilesPerRow;
      int64_t t = 0;
      for (const PackedSample &s : samples) {
        for (int64_t i = 0; i < s.tiles; ++i)
          f[t++] = 1;
        if (s.tiles == 0 && t < pack.tilesPerRow)
          f[t++] = 0;
      }
      while (t < pack.tilesPerRow)
        f[t++] = 0;
      continue;
    }
    // input_ids, labels and loss_weight: every token of the row.
    std::vector<int64_t> ids(length), labels(length);
    Stream stream(seed, "input_ids/" + std::to_string(r));
    int64_t end = 0;
    for (const PackedSample &s : samples) {
      packedSampleTokens(stream, batch, s, false, ids.data() + s.begin,
                         labels.data() + s.begin);
      end = s.begin + s.length;
    }
    if (end < length)
      packedSampleTokens(stream, batch, PackedSample{end, length - end, 0},
                         true, ids.data() + end, labels.data() + end);
    if (name == "input_ids" || name == "labels") {
      const std::vector<int64_t> &v = name == "input_ids" ? ids : labels;
      std::memcpy(static_cast<int64_t *>(out) + r * length, v.data(),
                  length * sizeof(int64_t));
      continue;
    }
    // loss_weight: len2weight of the sample's labelled tokens on each of
    // them, 0 where there is no label (packed_collate_fn).
    float *w = static_cast<float *>(out) + r * length;
    std::fill(w, w + length, 0.0f);
    for (const PackedSample &s : samples) {
      int64_t labelled = 0;
      for (int64_t t = s.begin; t < s.begin + s.length; ++t)
        labelled += labels[t] != batch.ignoreIndex;
      float weight = sampleWeight(pack.reduction, labelled);
      for (int64_t t = s.begin; t < s.begin + s.length; ++t)
        w[t] = labels[t] != batch.ignoreIndex ? weight : 0.0f;
    }
  }
  return "";
}

} // namespace

std::vector<PackedSample> ivl::io::packRow(const PackSpec &pack,
                                           uint64_t seed, int64_t row) {
  Stream stream(seed, "pack/" + std::to_string(row));
  std::vector<PackedSample> samples;
  int64_t length = pack.rowLength, pos = 0, tilesLeft = pack.tilesPerRow;
  while (pos < length) {
    int64_t left = length - pos;
    // The last boundary the capacity allows: this sample ends the row.
    bool last = static_cast<int64_t>(samples.size()) + 1 == pack.capacity;
    int64_t maxTiles = 0;
    if (pack.tokensPerTile > 0 && left >= pack.tokensPerTile + 3)
      maxTiles = std::min(tilesLeft, (left - 3) / pack.tokensPerTile);
    int64_t tiles = maxTiles ? stream.below(maxTiles + 1) : 0;
    int64_t least = tiles ? tiles * pack.tokensPerTile + 3 : 2;
    if (left < least)
      break;
    // Up to half the row per sample, so that a row holds several.
    int64_t most = std::max(least, std::min(left, length / 2));
    int64_t sampleLength =
        last ? left : least + stream.below(most - least + 1);
    samples.push_back({pos, sampleLength, tiles});
    pos += sampleLength;
    // A text-only sample takes a dummy tile, as InternVL's does.
    tilesLeft -= tiles ? tiles : std::min<int64_t>(tilesLeft, 1);
    // Sometimes leave the rest as padding (InternVL pads short packs);
    // the padding segment needs a boundary of its own.
    if (last || (pos < length && static_cast<int64_t>(samples.size()) + 1 ==
                                     pack.capacity) ||
        (samples.size() > 1 && stream.below(4) == 0))
      break;
  }
  return samples;
}

std::string ivl::io::writeFileAtomically(
    const std::string &path, const std::function<bool(std::FILE *)> &write) {
  // A device or a pipe (/dev/null, /dev/full) is written in place; a file
  // is written beside itself and renamed over the old one once complete.
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  bool special = exists && !S_ISREG(st.st_mode);
  if (special && S_ISDIR(st.st_mode))
    return path + ": cannot write: it is a directory";
  // Through a symlink, replace the file it names.
  std::string target = path;
  if (exists && !special)
    if (char *real = ::realpath(path.c_str(), nullptr)) {
      target = real;
      std::free(real);
    }
  std::string temp =
      special ? path : target + ".tmp-" + std::to_string(::getpid());
  std::FILE *f = std::fopen(temp.c_str(), "wb");
  if (!f)
    return path + ": cannot write: " + std::strerror(errno);
  bool ok = write(f);
  ok = std::fflush(f) == 0 && ok;
  int error = ok ? 0 : errno;
  ok = std::fclose(f) == 0 && ok;
  if (!error && !ok)
    error = errno;
  if (ok && !special && std::rename(temp.c_str(), target.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    if (!special)
      std::remove(temp.c_str());
    return path + ": cannot write: " +
           (error ? std::strerror(error) : "write failed");
  }
  return "";
}

std::string ivl::io::formatGiB(int64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.2f GiB", bytes / double(1ll << 30));
  return text;
}

std::string ivl::io::explainNonFiniteLoss(const std::vector<ArgView> &args,
                                          const BatchSpec &batch) {
  int64_t ignoreIndex = batch.ignoreIndex;
  for (const ArgView &arg : args) {
    const ArgSpec &spec = *arg.spec;
    int64_t n = numElements(spec.shape);
    if (spec.name == "labels" && spec.dtype == IVL_I64 &&
        spec.shape.size() == 2) {
      // The loss predicts token t + 1 from token t: labels[:, 1:] count.
      const int64_t *labels = static_cast<const int64_t *>(arg.data);
      int64_t rows = spec.shape[0], cols = spec.shape[1], supervised = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 1; c < cols; ++c)
          supervised += labels[r * cols + c] != ignoreIndex;
      if (supervised == 0)
        return "every label of the batch is " + std::to_string(ignoreIndex) +
               " (ignore_index) once shifted, so no token is supervised and "
               "the mean loss over none is undefined";
      continue;
    }
    if (!isFloat(spec.dtype))
      continue;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(elementAsFloat(arg.data, spec.dtype, i))) {
        first = first < 0 ? i : first;
        ++bad;
      }
    if (bad)
      return "argument '" + spec.name + "' holds " + std::to_string(bad) +
             " NaN or infinite value(s), the first at element " +
             std::to_string(first);
  }
  return "";
}

int64_t ivl::io::numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

const char *ivl::io::dtypeName(ivl_dtype dtype) {
  return ivl_dtype_name(dtype);
}

std::string ivl::io::generateShard(
    const ArgSpec &spec, int64_t rank,
    const std::function<const ParamView *(const std::string &)> &find,
    void *out) {
  if (!isFloat(spec.dtype))
    return "argument '" + spec.name + "': a shard must be a float tensor";
  int64_t c = numElements(spec.shape);
  int64_t first = rank * c, last = first + c;
  std::vector<float> shard(c, 0.0f);
  int64_t offset = 0;
  for (const std::string &name : spec.shardOf) {
    const ParamView *p = find(name);
    if (!p)
      return "argument '" + spec.name + "': its bucket's parameter '" + name +
             "' is not an argument";
    // The part of [offset, offset + count) inside [first, last).
    int64_t lo = std::max(first, offset), hi = std::min(last, offset + p->count);
    for (int64_t i = lo; i < hi; ++i)
      shard[i - first] = elementAsFloat(p->data, p->dtype, i - offset);
    offset += p->count;
  }
  convertElements(shard.data(), IVL_F32, out, spec.dtype, c);
  return "";
}

bool ivl::io::parseDtype(const std::string &name, ivl_dtype &dtype) {
  for (ivl_dtype d : {IVL_F32, IVL_BF16, IVL_F16, IVL_I64, IVL_I1})
    if (name == dtypeName(d)) {
      dtype = d;
      return true;
    }
  return false;
}

std::string ivl::io::writeNpy(const std::string &path, ivl_dtype dtype,
                              const std::vector<int64_t> &shape,
                              const void *data) {
  int64_t n = numElements(shape);
  std::vector<float> widened;
  if (dtype == IVL_BF16) {
    widened.resize(n);
    convertElements(data, IVL_BF16, widened.data(), IVL_F32, n);
    data = widened.data();
    dtype = IVL_F32;
  }
  const char *descr = dtype == IVL_F32   ? "<f4"
                      : dtype == IVL_F16 ? "<f2"
                      : dtype == IVL_I64 ? "<i8"
                                         : "|b1";
  // NumPy's tuple syntax: (), (n,), (a, b).
  std::string tuple = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    tuple += (i ? ", " : "") + std::to_string(shape[i]);
  tuple += shape.size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + tuple + ", }";
  // Pad so that the data starts on a 64-byte boundary, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  size_t bytes = static_cast<size_t>(n * ivl_dtype_size(dtype));
  return writeFileAtomically(path, [&](std::FILE *f) {
    return std::fwrite(preamble, 1, 10, f) == 10 &&
           std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
           (bytes == 0 || std::fwrite(data, 1, bytes, f) == bytes);
  });
}

float ivl::io::elementAsFloat(const void *data, ivl_dtype dtype, int64_t i) {
  const uint8_t *p = static_cast<const uint8_t *>(data);
  switch (dtype) {
  case IVL_F32: {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  case IVL_BF16:
  case IVL_F16: {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return dtype == IVL_BF16 ? bf16ToFloat(h) : f16ToFloat(h);
  }
  case IVL_I64: {
    int64_t v;
    std::memcpy(&v, p + 8 * i, 8);
    return static_cast<float>(v);
  }
  case IVL_I1:
    return p[i] ? 1.0f : 0.0f;
  }
  return 0.0f;
}

bool ivl::io::convertElements(const void *in, ivl_dtype from, void *out,
                              ivl_dtype to, int64_t count) {
  if (isFloat(from) != isFloat(to))
    return false;
  if (from == to) {
    if (count > 0)
      std::memcpy(out, in, count * ivl_dtype_size(to));
    return true;
  }
  if (isFloat(to)) {
    int64_t i = 0;
    fillFloat(out, to, count, [&] { return elementAsFloat(in, from, i++); });
    return true;
  }
  for (int64_t i = 0; i < count; ++i) {
    int64_t v = from == IVL_I64 ? static_cast<const int64_t *>(in)[i]
                                : static_cast<const uint8_t *>(in)[i];
    if (to == IVL_I64)
      static_cast<int64_t *>(out)[i] = v;
    else
      static_cast<uint8_t *>(out)[i] = v != 0;
  }
  return true;
}

std::string ivl::io::parameterOfMaster(const std::string &masterName) {
  const std::string suffix = ".master";
  if (masterName.size() > suffix.size() &&
      masterName.compare(masterName.size() - suffix.size(), suffix.size(),
                         suffix) == 0)
    return masterName.substr(0, masterName.size() - suffix.size());
  return masterName;
}

std::string ivl::io::generateArgument(const ArgSpec &spec,
                                      const BatchSpec &batch, uint64_t seed,
                                      const ParamView *param, void *out) {
  int64_t n = numElements(spec.shape);
  // An empty tensor may have no storage at all.
  if (n > 0)
    std::memset(out, 0, n * ivl_dtype_size(spec.dtype));
  if (spec.kind == "param") {
    if (!isFloat(spec.dtype))
      return "argument '" + spec.name + "': parameters must be float tensors";
    Stream stream(seed, spec.name);
    if (spec.normalInit)
      fillFloat(out, spec.dtype, n,
                [&] { return spec.initValue * stream.normal(); });
    else
      fillFloat(out, spec.dtype, n, [&] { return spec.initValue; });
    return "";
  }
  if (spec.kind == "master") {
    if (!param)
      return "argument '" + spec.name + "': no parameter to copy";
    if (param->count != n)
      return "argument '" + spec.name + "' has " + std::to_string(n) +
             " elements, its parameter '" + parameterOfMaster(spec.name) +
             "' " + std::to_string(param->count);
    if (!convertElements(param->data, param->dtype, out, spec.dtype, n))
      return "argument '" + spec.name + "': its parameter is not a float tensor";
    return "";
  }
  if (spec.kind == "exp_avg" || spec.kind == "exp_avg_sq")
    return ""; // zeros, as before the first update
  if (spec.name == "step" && spec.dtype == IVL_I64) {
    static_cast<int64_t *>(out)[0] = 1;
    return "";
  }
  if (batch.packed &&
      (spec.name == "input_ids" || spec.name == "labels" ||
       spec.name == "cu_seqlens" || spec.name == "image_flags" ||
       spec.name == "loss_weight")) {
    bool i64 = spec.name != "loss_weight";
    if (spec.dtype != (i64 ? IVL_I64 : IVL_F32))
      return "argument '" + spec.name + "' of a packed step must be " +
             (i64 ? "i64" : "f32");
    return generatePacked(spec, batch, seed, out);
  }
  if ((spec.name == "input_ids" || spec.name == "labels") &&
      spec.dtype == IVL_I64 && spec.shape.size() == 2) {
    int64_t samples = spec.shape[0], length = spec.shape[1];
    Stream stream(seed, "input_ids");
    int64_t *ids = static_cast<int64_t *>(out);
    for (int64_t b = 0; b < samples; ++b) {
      std::vector<int64_t> sample = sampleIds(stream, batch, length);
      int64_t start = answerStart(batch, length);
      for (int64_t i = 0; i < length; ++i)
        ids[b * length + i] = spec.name == "input_ids" ? sample[i]
                              : i >= start           ? sample[i]
                                                     : -100;
    }
    return "";
  }
  Stream stream(seed, spec.name);
  if (isFloat(spec.dtype)) {
    fillFloat(out, spec.dtype, n, [&] { return stream.normal(); });
  } else if (spec.dtype == IVL_I64) {
    int64_t range = batch.vocabSize > 0 ? batch.vocabSize : 100;
    for (int64_t i = 0; i < n; ++i)
      static_cast<int64_t *>(out)[i] = stream.below(range);
  } else {
    for (int64_t i = 0; i < n; ++i)
      static_cast<uint8_t *>(out)[i] = stream.next() & 1;
  }
  return "";
}

uint64_t ivl::io::hashBytes(const void *data, int64_t bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  const uint8_t *p = static_cast<const uint8_t *>(data);
  for (int64_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string ivl::io::outputLine(int64_t index, const std::string &name,
                                ivl_dtype dtype,
                                const std::vector<int64_t> &shape,
                                const void *data) {
  int64_t n = numElements(shape);
  double sum = 0.0, absmax = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double v = elementAsFloat(data, dtype, i);
    sum += v;
    absmax = std::max(absmax, std::fabs(v));
    if (std::isnan(v))
      absmax = v;
  }
  std::string line = "output " + std::to_string(index) + " " + name + " ";
  for (int64_t d : shape)
    line += std::to_string(d) + "x";
  char numbers[128];
  std::snprintf(numbers, sizeof(numbers), "%s hash=%016llx mean=%.6e absmax=%.6e",
                dtypeName(dtype),
                static_cast<unsigned long long>(
                    hashBytes(data, n * ivl_dtype_size(dtype))),
                n ? sum / n : 0.0, absmax);
  return line + numbers;
}
