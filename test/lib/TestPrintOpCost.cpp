//===- TestPrintOpCost.cpp - print the cost interface of every op ---------===//
//
// -test-print-op-cost prints one line per op with the cost interface:
//   <op name> flops=<N> bytes_read=<N> bytes_written=<N>
// so lit tests can check exact numbers.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace {
struct TestPrintOpCostPass
    : public PassWrapper<TestPrintOpCostPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestPrintOpCostPass)

  StringRef getArgument() const final { return "test-print-op-cost"; }
  StringRef getDescription() const final {
    return "Print FLOPs and bytes of every op with the tg cost interface";
  }

  void runOnOperation() override {
    getOperation()->walk([](tg::CostOpInterface op) {
      llvm::outs() << op->getName() << " flops=" << op.getFlops()
                   << " bytes_read=" << op.getBytesRead()
                   << " bytes_written=" << op.getBytesWritten() << "\n";
    });
    markAllAnalysesPreserved();
  }
};
} // namespace

namespace internvl::test {
void registerTestPrintOpCostPass() { PassRegistration<TestPrintOpCostPass>(); }
} // namespace internvl::test
