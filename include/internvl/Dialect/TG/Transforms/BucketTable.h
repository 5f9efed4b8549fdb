//===- BucketTable.h - one row per bucket of a bucketed module ---*- C++ -*-===//
//
// internvl-import --buckets writes one nested module per batch shape
// (#tg.bucket); internvl-opt runs its pipeline on each. This is the report
// that puts the buckets side by side: peak, arena, recompute and whether
// the step fits the --tg-remat budget.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_BUCKETTABLE_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_BUCKETTABLE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::tg {

/// One row per bucket module of `top` that holds a memory plan; errors
/// (a bucket without a plan) go to that bucket's module.
LogicalResult printBucketTable(ModuleOp top, llvm::raw_ostream &os);

/// `plan.json` -> `plan.seq4096_tiles7.json` inside a bucket module (its
/// reports would otherwise overwrite each other's files); `path` elsewhere.
std::string bucketFilePath(ModuleOp module, llvm::StringRef path);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_BUCKETTABLE_H
