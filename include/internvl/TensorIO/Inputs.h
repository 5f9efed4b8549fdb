//===- Inputs.h - deterministic inputs of a training step ---------*- C++
//-*-===//
//
// When no checkpoint or batch is given, every argument of a step is filled
// from a seed: parameters with the model's initialisation, optimizer state
// as at step 1, pixels from N(0, 1), and token ids laid out like an InternVL
// sample. The same generator serves internvl-run and the compiled runners,
// so both see the same bits.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_TENSORIO_INPUTS_H
#define INTERNVL_TENSORIO_INPUTS_H

#include "internvl/TensorIO/HostTensor.h"

namespace internvl {

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
};

/// Facts about the batch that token ids must respect.
struct BatchSpec {
  int64_t vocabSize = 0;
  int64_t imageTokenId = -1;
  /// IMG_CONTEXT positions per sample (0 without images).
  int64_t imageTokensPerSample = 0;
};

/// Fills `spec` deterministically from `seed` (independent of the order and
/// number of the other arguments). `params` maps parameter names to their
/// values, which a parameter's master copy reproduces in f32.
llvm::Expected<HostTensor>
generateArgument(const ArgSpec &spec, const BatchSpec &batch, uint64_t seed,
                 const llvm::StringMap<HostTensor> &params);

} // namespace internvl

#endif // INTERNVL_TENSORIO_INPUTS_H
