//===- BucketModules.cpp - the nested modules of a bucketed module --------===//

#include "internvl/Dialect/TG/IR/BucketModules.h"

using namespace mlir;

SmallVector<ModuleOp> mlir::tg::bucketModules(ModuleOp top) {
  SmallVector<ModuleOp> buckets;
  for (ModuleOp nested : top.getOps<ModuleOp>())
    if (nested->hasAttr("tg.bucket"))
      buckets.push_back(nested);
  return buckets;
}

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::tg::selectBucket(ModuleOp top, llvm::StringRef bucket) {
  SmallVector<ModuleOp> buckets = bucketModules(top);
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  if (buckets.empty()) {
    if (!bucket.empty())
      return error("--bucket " + bucket +
                   ": the module is not bucketed (internvl-import --buckets)");
    return OwningOpRef<ModuleOp>(cast<ModuleOp>(top->clone()));
  }
  std::string names;
  for (ModuleOp b : buckets) {
    if (b.getSymName() == bucket) {
      // A step of its own: what holds only among buckets (a budget that
      // warns instead of failing, report files named after the bucket)
      // does not hold for it.
      auto step = cast<ModuleOp>(b->clone());
      step->removeAttr("tg.bucket");
      step.setSymName(std::nullopt);
      return OwningOpRef<ModuleOp>(step);
    }
    names += (names.empty() ? "" : ", ") + b.getSymName()->str();
  }
  return error(llvm::Twine(bucket.empty() ? "the module holds one step per "
                                            "bucket; choose one with --bucket"
                                          : ("no bucket '" + bucket + "'")
                                                .str()) +
               " (buckets: " + names + ")");
}
