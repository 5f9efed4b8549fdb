//===- BufferAnalysis.h - buffers, lifetimes and kinds of a tg step -------===//
//
// Turns a tg function into the buffers a memory plan places: one per value
// that needs memory, with its live interval on the op order, merged where a
// reshape aliases its operand or an elementwise op overwrites an operand that
// dies there; plus the explicit workspaces (cuBLASLt, attention backward).
// The planner and the reports share this analysis; the plan verifier does
// not (it recomputes lifetimes its own way).
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_ANALYSIS_BUFFERANALYSIS_H
#define INTERNVL_DIALECT_TG_ANALYSIS_BUFFERANALYSIS_H

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Support/Region.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <string>
#include <vector>

namespace mlir::tg {

/// What a buffer holds, for the reports.
enum class BufferKind {
  SavedActivation, // forward value read by backward
  Temporary,       // forward value only forward reads
  Gradient,        // made by backward or the optimizer
  Recomputed,      // made by a forward op cloned into backward
  Workspace,       // cuBLASLt or attention-backward scratch
  Output,          // returned by the step
  Offloaded,       // a saved activation in host memory (tg.offload)
};
llvm::StringRef stringifyBufferKind(BufferKind kind);

struct PlanOptions {
  int64_t zeroStage = 0;
  int64_t worldSize = 1;
  int64_t alignment = 256;
  /// cuBLASLt workspace for the whole step (NVIDIA's advice for Hopper).
  int64_t cublasWorkspaceBytes = 32ll << 20;
};

struct PlanBuffer {
  /// Bytes, rounded up to the arena alignment.
  int64_t bytes = 0;
  /// First and last step (inclusive) at which the buffer holds a value.
  int64_t start = 0, end = 0;
  MemorySpace space = MemorySpace::Arena;
  BufferKind kind = BufferKind::Temporary;
  internvl::ModelRegion region = internvl::ModelRegion::Other;
  std::string scope;
  /// The first value stored in the buffer (null for workspaces).
  Value value;
  /// The op that defines it, or for a workspace the op that uses it (null
  /// for the whole-step cuBLASLt workspace).
  Operation *op = nullptr;
};

/// Persistent bytes per rank by category, after ZeRO sharding.
struct PersistentBytes {
  int64_t params = 0, masterParams = 0, grads = 0, optimizer = 0;
  int64_t total() const { return params + masterParams + grads + optimizer; }
};

class BufferAnalysis {
public:
  BufferAnalysis(func::FuncOp func, const PlanOptions &options);

  func::FuncOp getFunction() const { return func; }
  /// Ops in execution order; the step of an op is its index.
  llvm::ArrayRef<Operation *> getSchedule() const { return schedule; }
  llvm::ArrayRef<PlanBuffer> getBuffers() const { return buffers; }
  /// The buffer holding `v`, or -1 for values outside the plan (function
  /// arguments and AdamW's in-place state).
  int bufferOf(Value v) const { return bufferIndex.lookup(v) - 1; }
  int64_t stepOf(Operation *op) const { return stepIndex.lookup(op); }
  const PersistentBytes &getPersistent() const { return persistent; }
  /// Unsharded bytes of the parameter-gradient buffer.
  int64_t getGradsBytes() const { return gradsBytes; }
  /// Bytes of the batch inputs (pixels, token ids, labels, step), which the
  /// caller passes in and the plan does not place.
  int64_t getBatchBytes() const { return batchBytes; }

private:
  void buildBuffers(const PlanOptions &options);
  void classify();
  void countPersistent(const PlanOptions &options);

  func::FuncOp func;
  std::vector<Operation *> schedule;
  llvm::DenseMap<Operation *, int64_t> stepIndex;
  std::vector<PlanBuffer> buffers;
  /// Buffer index + 1 (0: not planned).
  llvm::DenseMap<Value, int> bufferIndex;
  PersistentBytes persistent;
  /// Rewritten by --tg-data-parallel: arguments are per rank already.
  bool dataParallel = false;
  int64_t gradsBytes = 0;
  int64_t batchBytes = 0;
};

/// Bytes of a ranked tensor value (i1 as one byte).
int64_t tensorBytes(Type type);

/// Values the persistent gradient buffer holds: operand `grad` of every
/// AdamW op, and the gradients a collective reads where ZeRO `zeroStage`
/// keeps the whole buffer (stages 0 and 1).
bool isParameterGradient(Value v, int64_t zeroStage = 0);

/// Bytes of the communication buffer a collective packs its bucket into
/// (0 for other ops).
int64_t collectiveBufferBytes(Operation *op);

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_ANALYSIS_BUFFERANALYSIS_H
