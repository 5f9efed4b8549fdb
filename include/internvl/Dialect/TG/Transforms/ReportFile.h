//===- ReportFile.h - the files report passes write -------------*- C++ -*-===//

#ifndef INTERNVL_DIALECT_TG_TRANSFORMS_REPORTFILE_H
#define INTERNVL_DIALECT_TG_TRANSFORMS_REPORTFILE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::tg {

/// The reports that write a file accept it bare (`--tg-memory-timeline=x.svg`):
/// turns such an option string into `file=x.svg`.
std::string fileOption(StringRef options);

/// Writes `file` through `write`, keeping it only if everything was written;
/// errors (naming `pass`) go to `module`.
LogicalResult
writeReportFile(ModuleOp module, StringRef pass, StringRef file,
                llvm::function_ref<void(llvm::raw_ostream &)> write);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_TRANSFORMS_REPORTFILE_H
