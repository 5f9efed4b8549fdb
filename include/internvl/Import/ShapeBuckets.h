//===- ShapeBuckets.h - the batch shapes of a run that does not pack -*- C++ -*-===//
//
// InternVL's scripts without packing pad each batch to its longest sample
// (group_by_length) with 1..max_dynamic_patch tiles per image. A run's
// buckets are the shapes its batches are padded to: sequence lengths and
// tiles per sample, `--buckets "seq=1024,2048,4096 tiles=1,3,7,13"`.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_SHAPEBUCKETS_H
#define INTERNVL_IMPORT_SHAPEBUCKETS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace internvl {

/// One batch shape: `seq` tokens and `tiles` tiles per sample.
struct ShapeBucket {
  int64_t seq = 0;
  int64_t tiles = 0;
  /// "seq4096_tiles7", the nested module's name.
  std::string name() const;
};

/// The sequence lengths and tile counts of `--buckets`, each list strictly
/// increasing and positive. Errors name the value and what is allowed.
struct BucketSpec {
  std::vector<int64_t> seq, tiles;
};
llvm::Expected<BucketSpec> parseBucketSpec(llvm::StringRef text);

/// The buckets of `spec`: every (seq, tiles) pair whose sequence holds the
/// tiles' image tokens plus <img> and </img> (a batch with more tiles needs
/// a longer bucket anyway), in order of seq then tiles. Tiles may exceed one
/// image's (a sample with several images has more). Fails when a tile count
/// fits no sequence length.
llvm::Expected<std::vector<ShapeBucket>>
bucketsOf(const BucketSpec &spec, int64_t tokensPerTile);

} // namespace internvl

#endif // INTERNVL_IMPORT_SHAPEBUCKETS_H
