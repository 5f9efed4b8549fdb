//===- StepStorage.h - where each value of a planned step lives --*- C++ -*-===//
//
// The lowering reads the memory plan back from the IR: every value of a
// planned step is stored at an arena, gradient-buffer or host-buffer offset
// (tg.alloc),
// in a step argument (arguments, and AdamW's in-place updates of masters,
// moments and parameters), or in its operand's storage (tg.reshape).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_CONVERSION_TGTOEMITC_STEPSTORAGE_H
#define INTERNVL_CONVERSION_TGTOEMITC_STEPSTORAGE_H

#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::tg {

struct Storage {
  enum class Space { Arena, Grads, Host, Argument };
  Space space = Space::Arena;
  /// Byte offset in the arena, gradient or host buffer (0 for an argument).
  int64_t offset = 0;
  /// The argument index for Space::Argument.
  unsigned argument = 0;
  /// Bytes the value occupies (its tensor size, unaligned).
  int64_t bytes = 0;

  /// Whether the two byte ranges share a byte.
  bool overlaps(const Storage &other) const;
  bool operator==(const Storage &other) const {
    return space == other.space && offset == other.offset &&
           argument == other.argument;
  }
};

class StepStorage {
public:
  /// Reads the storage of every value of the planned `func`. Fails with an
  /// error on the op that has no planned place (an unplanned function) or
  /// on an AdamW whose state is not a step argument.
  static FailureOr<StepStorage> read(func::FuncOp func);

  const Storage &lookup(Value v) const { return storage.find(v)->second; }

private:
  llvm::DenseMap<Value, Storage> storage;
};

} // namespace mlir::tg

#endif // INTERNVL_CONVERSION_TGTOEMITC_STEPSTORAGE_H
