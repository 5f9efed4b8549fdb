//===- internvl-opt.cpp - the tg pass driver
//---------------------------------===//
//
// mlir-opt for training graphs: the tg, func and arith dialects with every
// project pass (and the -test-* passes) registered.
//
//===----------------------------------------------------------------------===//

#include "internvl/Conversion/Passes.h"
#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Version.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <vector>

namespace internvl::test {
void registerTestPasses();
} // namespace internvl::test

int main(int argc, char **argv) {
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    internvl::printVersion(os, "internvl-opt");
  });

  mlir::DialectRegistry registry;
  registry.insert<mlir::tg::TGDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::emitc::EmitCDialect>();
  mlir::tg::registerTGPasses();
  mlir::tg::registerConversionPasses();
  internvl::test::registerTestPasses();

  // An error on the module would otherwise print the whole step (a 26B
  // model's is tens of MB) after the message; ask with
  // --mlir-print-op-on-diagnostic=true.
  std::vector<char *> args(argv, argv + argc);
  bool asked = llvm::any_of(args, [](const char *a) {
    return llvm::StringRef(a).contains("mlir-print-op-on-diagnostic");
  });
  static char quiet[] = "--mlir-print-op-on-diagnostic=false";
  if (!asked)
    args.insert(args.begin() + 1, quiet);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      static_cast<int>(args.size()), args.data(),
      "internvl-opt: training-graph optimizer\n", registry));
}
