//===- BucketModules.h - the nested modules of a bucketed module -*- C++ -*-===//
//
// internvl-import --buckets writes one nested module per batch shape, marked
// #tg.bucket and named after it (@seq4096_tiles7). internvl-opt runs its
// pipeline on each; the tools that run or compile one step pick one.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_IR_BUCKETMODULES_H
#define INTERNVL_DIALECT_TG_IR_BUCKETMODULES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

namespace mlir::tg {

/// The bucket modules nested in `top` (empty for a module of one shape).
llvm::SmallVector<ModuleOp> bucketModules(ModuleOp top);

/// The step a tool runs or compiles: a copy of `top` when it is not
/// bucketed (`bucket` must then be empty), else a copy of its bucket module
/// `bucket` as a module of its own. Errors list the buckets there are.
llvm::Expected<OwningOpRef<ModuleOp>> selectBucket(ModuleOp top,
                                                   llvm::StringRef bucket);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_BUCKETMODULES_H
