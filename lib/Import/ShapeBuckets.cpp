//===- ShapeBuckets.cpp - parse and check a run's batch shapes ------------===//

#include "internvl/Import/ShapeBuckets.h"
#include "internvl/Import/ImportLimits.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace internvl;

static llvm::Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "--buckets: " + message);
}

std::string ShapeBucket::name() const {
  return llvm::formatv("seq{0}_tiles{1}", seq, tiles).str();
}

/// "1024,2048,4096": positive, strictly increasing, at most `max`.
static llvm::Expected<std::vector<int64_t>>
parseList(llvm::StringRef key, llvm::StringRef text, int64_t min, int64_t max) {
  std::vector<int64_t> values;
  llvm::SmallVector<llvm::StringRef> parts;
  text.split(parts, ',');
  for (llvm::StringRef part : parts) {
    int64_t v;
    if (part.trim().getAsInteger(10, v))
      return fail(llvm::formatv("{0}= takes integers separated by commas, "
                                "got '{1}'",
                                key, part));
    if (v < min || v > max)
      return fail(llvm::formatv("{0} {1} is outside [{2}, {3}]", key, v, min,
                                max));
    if (!values.empty() && v <= values.back())
      return fail(llvm::formatv("{0}= must be increasing, got {1} after {2}",
                                key, v, values.back()));
    values.push_back(v);
  }
  return values;
}

llvm::Expected<BucketSpec> internvl::parseBucketSpec(llvm::StringRef text) {
  BucketSpec spec;
  llvm::SmallVector<llvm::StringRef> fields;
  text.split(fields, ' ', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef field : fields) {
    auto [key, values] = field.split('=');
    std::vector<int64_t> *into = key == "seq"     ? &spec.seq
                                 : key == "tiles" ? &spec.tiles
                                                  : nullptr;
    if (!into || !field.contains('='))
      return fail(llvm::formatv("expected seq=L1,L2,... and tiles=T1,T2,..., "
                                "got '{0}'",
                                field));
    if (!into->empty())
      return fail(llvm::formatv("{0}= is given twice", key));
    llvm::Expected<std::vector<int64_t>> list =
        key == "seq" ? parseList(key, values, 2, limits::kMaxSeqLength)
                     : parseList(key, values, 1, limits::kMaxTiles);
    if (!list)
      return list.takeError();
    *into = std::move(*list);
  }
  if (spec.seq.empty() || spec.tiles.empty())
    return fail(llvm::formatv("needs both seq=... and tiles=..., got '{0}'",
                              text));
  return spec;
}

llvm::Expected<std::vector<ShapeBucket>>
internvl::bucketsOf(const BucketSpec &spec, int64_t tokensPerTile) {
  std::vector<ShapeBucket> buckets;
  for (int64_t tiles : spec.tiles) {
    int64_t needed = tiles * tokensPerTile + 2;
    if (spec.seq.back() < needed)
      return fail(llvm::formatv("tiles {0} needs {1} image tokens plus <img> "
                                "and </img>, more than the longest seq {2}",
                                tiles, tiles * tokensPerTile,
                                spec.seq.back()));
  }
  for (int64_t seq : spec.seq)
    for (int64_t tiles : spec.tiles)
      if (tiles * tokensPerTile + 2 <= seq)
        buckets.push_back({seq, tiles});
  return buckets;
}
