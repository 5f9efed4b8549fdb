//===- StepManifest.h - the JSON description of a compiled step -*- C++ -*-===//
//
// A compiled step carries its own description: the runner of
// internvl-compile allocates the arena and gradient buffer, fills the
// arguments and finds the results from it alone (no MLIR on the GPU
// machine). Keys:
//
//   function, model, target, arena_bytes, grads_buffer_bytes,
//   planned_peak_bytes, persistent_bytes {params, master_params, grads,
//   optimizer}, total_flops, recompute_flops, tokens_per_step,
//   batch {vocab_size, image_token_id, image_tokens_per_sample},
//   arguments [{name, kind, dtype, shape, init}],
//   results [{name, dtype, shape, space: arena|grads|argument, offset,
//             argument}]
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_CONVERSION_TGTOEMITC_STEPMANIFEST_H
#define INTERNVL_CONVERSION_TGTOEMITC_STEPMANIFEST_H

#include "internvl/Conversion/TGToEmitC/StepStorage.h"

#include "llvm/Support/JSON.h"

namespace mlir::tg {

/// The manifest of the planned `func` (whose storage is `storage`) lowered
/// for `target` ("cpu" or "cuda").
FailureOr<llvm::json::Object> stepManifest(func::FuncOp func,
                                           const StepStorage &storage,
                                           StringRef target);

} // namespace mlir::tg

#endif // INTERNVL_CONVERSION_TGTOEMITC_STEPMANIFEST_H
