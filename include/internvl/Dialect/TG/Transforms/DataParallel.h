//===- DataParallel.h - one rank of a data-parallel step --------*- C++ -*-===//
//
// The rewrite behind --tg-data-parallel, callable on its own: --tg-remat
// plans its candidates through it when the step will be lowered for ZeRO
// stage 3, so gathered parameters count in the peak it budgets.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_DATAPARALLEL_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_DATAPARALLEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::tg {

struct DataParallelOptions {
  int64_t worldSize = 1;
  int64_t zeroStage = 0;
  /// Elements per gradient bucket (stages 0-2; stage 3 buckets by layer).
  int64_t reduceBucketElements = 500000000;
  /// Stages 1-2: the most parameter elements whose all-gather is in flight
  /// at once (one bucket at least). Stage 3: the most elements gathered
  /// ahead of the layer that runs (DeepSpeed's stage3_prefetch_bucket_size).
  int64_t allgatherBucketElements = 500000000;
  /// Who the messages speak for: the flag the user wrote these options in.
  std::string flag = "--tg-data-parallel";
};

/// DeepSpeed's default stage3_prefetch_bucket_size.
inline constexpr int64_t kStage3PrefetchElements = 50000000;

/// Options as given to a pass: -1 for "the module's, else the default".
inline DataParallelOptions
requestedDataParallel(int64_t worldSize, int64_t zeroStage,
                      int64_t reduceBucketSize, int64_t allgatherBucketSize,
                      llvm::StringRef flag = "--tg-data-parallel") {
  return {worldSize, zeroStage, reduceBucketSize, allgatherBucketSize,
          flag.str()};
}

/// The options: the fields of `requested` other than -1 (unset), else the
/// module's tg.world_size, tg.zero_stage, tg.reduce_bucket_size and
/// tg.allgather_bucket_size, else the defaults. Emits an error on `module`
/// for values out of range.
FailureOr<DataParallelOptions>
dataParallelOptionsFor(ModuleOp module, const DataParallelOptions &requested);

/// Rewrites `step` (built by --tg-autodiff, maybe --tg-remat) into one
/// rank's step; returns the number of gradient buckets.
FailureOr<int64_t> lowerDataParallel(func::FuncOp step,
                                     const DataParallelOptions &options);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_DATAPARALLEL_H
