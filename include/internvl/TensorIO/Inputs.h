//===- Inputs.h - deterministic inputs of a training step ---------*- C++ -*-===//
//
// When no checkpoint or batch is given, every argument of a step is filled
// from a seed (runtime/support/StepIO.cpp, shared with the compiled runners
// so both see the same bits): parameters with the model's initialisation,
// optimizer state as at step 1, pixels from N(0, 1), token ids laid out like
// an InternVL sample.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_TENSORIO_INPUTS_H
#define INTERNVL_TENSORIO_INPUTS_H

#include "internvl/TensorIO/HostTensor.h"
#include "internvl/runtime/StepIO.h"

namespace internvl {

using ArgSpec = ivl::io::ArgSpec;
using BatchSpec = ivl::io::BatchSpec;

/// Fills `spec` deterministically from `seed`. `params` maps parameter names
/// to their values, which a parameter's master copy reproduces in f32.
llvm::Expected<HostTensor>
generateArgument(const ArgSpec &spec, const BatchSpec &batch, uint64_t seed,
                 const llvm::StringMap<HostTensor> &params);

} // namespace internvl

#endif // INTERNVL_TENSORIO_INPUTS_H
