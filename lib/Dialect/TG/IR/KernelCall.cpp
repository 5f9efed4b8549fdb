//===- KernelCall.cpp - names of the runtime entry points -----------------===//

#include "internvl/Dialect/TG/IR/KernelCall.h"

using namespace mlir::tg;

llvm::StringRef mlir::tg::kernelSymbol(Kernel kernel) {
  switch (kernel) {
#define TG_KERNEL_SYMBOL(name)                                                 \
  case Kernel::name:                                                           \
    return "ivl_" #name;
    IVL_KERNEL_ENTRY_POINTS(TG_KERNEL_SYMBOL)
#undef TG_KERNEL_SYMBOL
  }
  return "";
}
