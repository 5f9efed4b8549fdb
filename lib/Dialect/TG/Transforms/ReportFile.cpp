//===- ReportFile.cpp - the files report passes write ---------------------===//

#include "internvl/Dialect/TG/Transforms/ReportFile.h"
#include "internvl/Dialect/TG/Transforms/BucketTable.h"
#include "internvl/Support/OutputFile.h"

using namespace mlir;
using namespace mlir::tg;

std::string mlir::tg::fileOption(StringRef options) {
  if (!options.empty() && !options.contains('='))
    return ("file=" + options).str();
  return options.str();
}

LogicalResult
mlir::tg::writeReportFile(ModuleOp module, StringRef pass, StringRef file,
                          llvm::function_ref<void(llvm::raw_ostream &)> write) {
  if (file.empty())
    return module.emitError()
           << "--" << pass << " needs a file: --" << pass << "=FILE";
  // Each bucket of a bucketed module writes its own file.
  std::string path = bucketFilePath(module, file);
  llvm::Error written =
      internvl::writeOutputFile(path, [&](llvm::raw_ostream &os) {
        write(os);
        return llvm::Error::success();
      });
  if (written)
    return module.emitError()
           << "--" << pass << ": " << llvm::toString(std::move(written));
  return success();
}
