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
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

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

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "internvl-opt: training-graph optimizer\n", registry));
}
