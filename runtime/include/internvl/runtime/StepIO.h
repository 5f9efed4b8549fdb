//===- StepIO.h - inputs and output lines of a step, without LLVM -*- C++ -*-===//
//
// What internvl-run and the compiled runners must do identically: fill the
// arguments of a step from a seed, and print one line per output. Plain
// C++17 so that a compiled runner needs nothing but the runtime (the GPU
// machine has no LLVM).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_STEPIO_H
#define INTERNVL_RUNTIME_STEPIO_H

#include "internvl/runtime/Runtime.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace ivl::io {

/// What a step argument is, read off its `tg.*` attributes.
struct ArgSpec {
  std::string name;
  /// "param", "input", "master", "exp_avg", "exp_avg_sq", "step" or "".
  std::string kind;
  ivl_dtype dtype = IVL_F32;
  std::vector<int64_t> shape;
  /// For parameters: constant value, or the std of a zero-mean normal.
  bool normalInit = false;
  double initValue = 0.0;
  /// For a ZeRO master shard: the parameters of its bucket, in order (the
  /// shard is this rank's part of their concatenation).
  std::vector<std::string> shardOf;
};

/// A parameter's values, for a master shard to copy.
struct ParamView {
  const void *data = nullptr;
  ivl_dtype dtype = IVL_F32;
  int64_t count = 0;
};

/// InternVL's --loss_reduction: a labelled token of a sample with n of
/// them weighs 1, 1/n or 1/sqrt(n).
enum class LossReduction { Token = 0, Sample = 1, Square = 2 };

/// The layout of packed rows (InternVL's packed dataset), which the inputs
/// input_ids, labels, cu_seqlens, image_flags and loss_weight share.
struct PackSpec {
  /// Tokens per row (max_packed_tokens).
  int64_t rowLength = 0;
  /// Samples a row may hold (cu_seqlens has capacity + 1 entries per row).
  int64_t capacity = 0;
  int64_t tilesPerRow = 0;
  int64_t tokensPerTile = 0;
  LossReduction reduction = LossReduction::Token;
};

/// Facts about the batch that token ids must respect.
struct BatchSpec {
  int64_t vocabSize = 0;
  int64_t imageTokenId = -1;
  /// IMG_CONTEXT positions per sample (0 without images); per row when
  /// packed (the most its tiles hold).
  int64_t imageTokensPerSample = 0;
  /// The label the loss skips (cross-entropy's ignore_index).
  int64_t ignoreIndex = -100;
  /// Set for packed steps.
  bool packed = false;
  PackSpec pack;
};

/// One sample of a packed row: its tokens [begin, begin + length) and the
/// tiles of its image (0: a text-only sample, which InternVL gives one
/// dummy tile with image_flags 0).
struct PackedSample {
  int64_t begin = 0, length = 0, tiles = 0;
};

/// The samples of row `row` of a packed batch, drawn from `seed`: random
/// lengths and tile counts that fit the row's tokens, tiles and capacity
/// (the rest of the row is one padding segment without labels). Every
/// packed input is generated from it, so they agree.
std::vector<PackedSample> packRow(const PackSpec &pack, uint64_t seed,
                                  int64_t row);

int64_t numElements(const std::vector<int64_t> &shape);

/// The parameter a `master` argument copies: `<name>` of `<name>.master`.
std::string parameterOfMaster(const std::string &masterName);

/// Fills `out` (numElements(spec.shape) elements of spec.dtype) from `seed`,
/// independently of the other arguments. A `master` argument copies its
/// parameter, given as `param` (null when there is none; it must have as
/// many elements); other kinds ignore it. Returns an error message, or "" on
/// success.
std::string generateArgument(const ArgSpec &spec, const BatchSpec &batch,
                             uint64_t seed, const ParamView *param,
                             void *out);

/// Fills the ZeRO shard `spec` (spec.shardOf set: a master copy, or a
/// parameter in stage 3) of `rank`: element j is element rank * c + j of the
/// concatenated parameters (c the shard length) in spec.dtype, 0 past their
/// end. `find` returns a parameter by name, or null.
std::string generateShard(
    const ArgSpec &spec, int64_t rank,
    const std::function<const ParamView *(const std::string &)> &find,
    void *out);

/// Converts `count` elements between float types (rounding to nearest even)
/// or between integer types; returns false for float <-> integer.
bool convertElements(const void *in, ivl_dtype from, void *out, ivl_dtype to,
                     int64_t count);

/// `output <index> <name> <shape>x<dtype> hash=<16 hex> mean=<%.6e>
/// absmax=<%.6e>`, the hash being FNV-1a (64 bits) over the bytes.
std::string outputLine(int64_t index, const std::string &name, ivl_dtype dtype,
                       const std::vector<int64_t> &shape, const void *data);

/// FNV-1a, 64 bits.
uint64_t hashBytes(const void *data, int64_t bytes);

/// Element `i` as f32.
float elementAsFloat(const void *data, ivl_dtype dtype, int64_t i);

const char *dtypeName(ivl_dtype dtype);

/// Parses "f32", "bf16", "f16", "i64" or "i1"; false for anything else.
bool parseDtype(const std::string &name, ivl_dtype &dtype);

/// "12.34 GiB".
std::string formatGiB(int64_t bytes);

/// An argument of a step and its values.
struct ArgView {
  const ArgSpec *spec = nullptr;
  const void *data = nullptr;
};

/// Why a step's loss is NaN or infinite, read off the arguments it got: a
/// `labels` input that is all batch.ignoreIndex once shifted (no supervised
/// token: the mean over none), or NaN/Inf in a float argument. "" when it
/// is neither.
std::string explainNonFiniteLoss(const std::vector<ArgView> &args,
                                 const BatchSpec &batch);

/// Writes `path` through `write` (false: a write failed) whole or not at
/// all: a regular file goes to `<path>.tmp-<pid>` first and is renamed over
/// `path` when complete; a device or pipe is written in place. Returns an
/// error message, or "" on success.
std::string writeFileAtomically(const std::string &path,
                                const std::function<bool(std::FILE *)> &write);

/// Writes a NumPy .npy file (bf16 widened to f32, which NumPy lacks).
/// Returns an error message, or "" on success; nothing is left at `path`
/// on failure.
std::string writeNpy(const std::string &path, ivl_dtype dtype,
                     const std::vector<int64_t> &shape, const void *data);

} // namespace ivl::io

#endif // INTERNVL_RUNTIME_STEPIO_H
