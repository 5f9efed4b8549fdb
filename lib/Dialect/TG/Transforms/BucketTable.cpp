//===- BucketTable.cpp - one row per bucket of a bucketed module ----------===//

#include "internvl/Dialect/TG/Transforms/BucketTable.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/IR/BucketModules.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::tg;

std::string mlir::tg::bucketFilePath(ModuleOp module, llvm::StringRef path) {
  // Devices and stdout are written as they are.
  if (!module->hasAttr("tg.bucket") || !module.getSymName() || path == "-" ||
      path.starts_with("/dev/"))
    return path.str();
  llvm::StringRef ext = llvm::sys::path::extension(path);
  return (path.drop_back(ext.size()) + "." + *module.getSymName() + ext).str();
}

static double gib(int64_t bytes) { return bytes / double(1ll << 30); }

LogicalResult mlir::tg::printBucketTable(ModuleOp top, llvm::raw_ostream &os) {
  SmallVector<ModuleOp> buckets = bucketModules(top);
  os << "buckets: " << buckets.size() << " planned\n";
  os << llvm::formatv("  {0,-20} {1,7} {2,5} {3,10} {4,10} {5,10} {6,11}  "
                      "{7,-22} {8}\n",
                      "bucket", "seq", "tiles", "peak GiB", "arena GiB",
                      "recompute", "est. time", "policy", "fits");
  for (ModuleOp module : buckets) {
    auto bucket = module->getAttrOfType<BucketAttr>("tg.bucket");
    FailureOr<MemoryPlan> plan = readModulePlan(module, "");
    if (failed(plan))
      return failure();
    func::FuncOp func = plan->analysis->getFunction();
    auto remat = func->getAttrOfType<DictionaryAttr>("tg.remat");
    std::string policy = "none";
    double seconds = 0;
    std::string fits = "-";
    if (remat) {
      policy.clear();
      for (StringRef region : {"vision", "llm"})
        if (auto entry = remat.getAs<DictionaryAttr>(region)) {
          // Named as --tg-remat's options are.
          policy += (policy.empty() ? "" : " ") +
                    (region == "llm" ? std::string("lm") : region.str()) + "=" +
                    entry.getAs<StringAttr>("policy").getValue().str();
          if (auto s = entry.getAs<FloatAttr>("recompute_seconds"))
            seconds += s.getValueAsDouble();
        }
      // --tg-remat's verdict (it planned the same peak), with the excess.
      auto budget = remat.getAs<IntegerAttr>("budget_bytes");
      auto fitsAttr = remat.getAs<BoolAttr>("fits");
      if (budget && fitsAttr)
        fits = fitsAttr.getValue()
                   ? "yes"
                   : llvm::formatv("no: {0:f2} GiB over {1:f2} GiB",
                                   gib(plan->peakBytes() - budget.getInt()),
                                   gib(budget.getInt()))
                         .str();
    }
    int64_t total = plan->totalFlops();
    os << llvm::format(
        "  %-20s %7lld %5lld %10.2f %10.2f %9.2f%% %8.2f ms  %-22s %s\n",
        module.getSymName()->str().c_str(),
        static_cast<long long>(bucket.getSeq()),
        static_cast<long long>(bucket.getTiles()), gib(plan->peakBytes()),
        gib(plan->arenaBytes),
        total ? 100.0 * plan->recomputeFlops() / total : 0.0, seconds * 1e3,
        policy.c_str(), fits.c_str());
  }
  return success();
}

