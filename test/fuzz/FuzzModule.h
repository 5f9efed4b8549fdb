//===- FuzzModule.h - the module a fuzz input is --------------------------===//
//
// fuzz-pipeline and fuzz-plan parse their input the same way: in a fresh
// single-threaded context with every dialect and pass of internvl-opt, the
// first diagnostic kept (for a message when the target aborts).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_TEST_FUZZ_FUZZMODULE_H
#define INTERNVL_TEST_FUZZ_FUZZMODULE_H

#include "internvl/Conversion/Passes.h"
#include "internvl/Dialect/TG/IR/TGDialect.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>
#include <string>

namespace internvl::fuzz {

/// A parsed input and the context that owns it.
struct FuzzModule {
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  /// The first diagnostic of the input's processing.
  std::string diagnostic;
  mlir::OwningOpRef<mlir::ModuleOp> module;

  explicit FuzzModule(const uint8_t *data, size_t size) {
    static mlir::DialectRegistry *registry = [] {
      auto *r = new mlir::DialectRegistry();
      r->insert<mlir::tg::TGDialect, mlir::func::FuncDialect,
                mlir::arith::ArithDialect, mlir::emitc::EmitCDialect>();
      mlir::tg::registerTGPasses();
      mlir::tg::registerConversionPasses();
      return r;
    }();
    context = std::make_unique<mlir::MLIRContext>(
        *registry, mlir::MLIRContext::Threading::DISABLED);
    context->printOpOnDiagnostic(false);
    handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
        context.get(), [this](mlir::Diagnostic &d) {
          if (diagnostic.empty())
            diagnostic = d.str();
          return mlir::success();
        });
    llvm::SourceMgr sources;
    sources.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(
            llvm::StringRef(reinterpret_cast<const char *>(data), size),
            "fuzz"),
        llvm::SMLoc());
    module = mlir::parseSourceFile<mlir::ModuleOp>(sources, context.get());
  }
};

} // namespace internvl::fuzz

#endif // INTERNVL_TEST_FUZZ_FUZZMODULE_H
