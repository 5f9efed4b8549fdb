//===- FuzzPlan.cpp - fuzz target: the memory plan verifier ---------------===//
//
// An input is the text of a planned module, typically a real plan with its
// offsets, sizes and summary mutated. When verifyMemoryPlan accepts it, the
// plan must really be safe, which this target checks a second, simpler way:
// it replays the step on a byte-ownership map of the arena and the gradient
// buffer (every byte remembers the value that last wrote it) and aborts when
// an op reads a value whose bytes something else overwrote, writes outside
// its space, or writes over an operand it may not overwrite. An accepted
// plan must also lower to C++ and feed the reports.
//
//===----------------------------------------------------------------------===//

#include "FuzzModule.h"

#include "internvl/Conversion/TGToEmitC/TGToEmitC.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/Cpp/CppEmitter.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <map>

using namespace mlir;
using namespace mlir::tg;

namespace {

[[noreturn]] void bug(func::FuncOp func, const llvm::Twine &what) {
  llvm::errs() << "fuzz-plan: verifyMemoryPlan accepted a plan of @"
               << func.getName() << " that is not safe: " << what << "\n";
  std::abort();
}

/// Where a value's bytes are: a planned buffer, or outside the plan (an
/// argument, or AdamW's in-place state).
struct Location {
  MemorySpace space = MemorySpace::Arena;
  int64_t offset = 0, bytes = 0;
  /// The value that wrote them (views share their source's).
  int owner = 0;
};

/// Who wrote each byte of a space, as disjoint [begin, end) runs of one
/// owner (unwritten bytes belong to no one, owner 0).
class OwnerMap {
public:
  explicit OwnerMap(int64_t size) : size(size) {}
  int64_t getSize() const { return size; }

  void write(int64_t begin, int64_t end, int owner) {
    if (begin >= end)
      return;
    split(begin);
    split(end);
    runs.erase(runs.lower_bound(begin), runs.lower_bound(end));
    runs[begin] = {end, owner};
  }

  /// The first byte of [begin, end) that `owner` did not write, or -1.
  int64_t firstForeign(int64_t begin, int64_t end, int owner) const {
    int64_t at = begin;
    auto it = runs.upper_bound(begin);
    if (it != runs.begin())
      --it;
    for (; at < end; ++it) {
      if (it == runs.end() || it->first > at || it->second.first <= at ||
          it->second.second != owner)
        return at;
      at = it->second.first;
    }
    return -1;
  }

private:
  /// Makes `at` the start of a run if a run spans it.
  void split(int64_t at) {
    auto it = runs.upper_bound(at);
    if (it == runs.begin())
      return;
    --it;
    auto [end, owner] = it->second;
    if (it->first < at && at < end) {
      it->second.first = at;
      runs[at] = {end, owner};
    }
  }

  int64_t size;
  std::map<int64_t, std::pair<int64_t, int>> runs; // begin -> (end, owner)
};

class Replay {
public:
  Replay(func::FuncOp func, MemoryPlanAttr plan)
      : func(func), arena(plan.getArenaBytes()),
        grads(plan.getGradsBufferBytes()), host(plan.getHostBytes()) {
    if (AllocAttr ws = plan.getCublasltWorkspace())
      cublas = {ws.getSpace(), ws.getOffset(), ws.getSize(), newOwner()};
  }

  void run();

private:
  int newOwner() { return ++owners; }
  OwnerMap &space(MemorySpace s) {
    return s == MemorySpace::Arena ? arena
           : s == MemorySpace::Host ? host
                                    : grads;
  }
  std::string name(Operation *op) { return op->getName().getStringRef().str(); }

  /// The op writes `loc`: it must fit its space.
  void write(Operation *op, const Location &loc, const char *what) {
    OwnerMap &bytes = space(loc.space);
    if (loc.offset < 0 || loc.offset + loc.bytes > bytes.getSize())
      bug(func, name(op) + " writes " + what + " at [" +
                    std::to_string(loc.offset) + ", " +
                    std::to_string(loc.offset + loc.bytes) +
                    ") outside its space of " +
                    std::to_string(bytes.getSize()) + " bytes");
    bytes.write(loc.offset, loc.offset + loc.bytes, loc.owner);
  }

  /// The op reads `loc`: its bytes must still be the ones written there.
  void read(Operation *op, const Location &loc, const char *what) {
    int64_t foreign = space(loc.space).firstForeign(
        loc.offset, loc.offset + loc.bytes, loc.owner);
    if (foreign >= 0)
      bug(func, name(op) + " reads " + what + " at byte " +
                    std::to_string(foreign) + " after something else wrote it");
  }

  static bool overlap(const Location &a, const Location &b) {
    return a.space == b.space && a.offset < b.offset + b.bytes &&
           b.offset < a.offset + a.bytes && a.bytes && b.bytes;
  }

  func::FuncOp func;
  OwnerMap arena, grads, host;
  int owners = 0;
  std::optional<Location> cublas;
  llvm::DenseMap<Value, Location> located;
  /// A collective's communication buffer, in use until its wait.
  llvm::DenseMap<Operation *, Location> buffers;
};

void Replay::run() {
  Block &body = func.getBody().front();
  for (Operation &opRef : body.without_terminator()) {
    Operation *op = &opRef;
    SmallVector<std::pair<unsigned, Location>> inputs;
    for (auto [k, v] : llvm::enumerate(op->getOperands()))
      if (auto it = located.find(v); it != located.end()) {
        read(op, it->second, "an operand");
        inputs.push_back({static_cast<unsigned>(k), it->second});
      }
    // A wait is where a collective's (or host copy's) operands and buffer
    // are last in use.
    if (auto wait = dyn_cast<CommWaitOp>(op))
      for (Operation *collective : waitedAsyncOps(wait)) {
        for (Value v : collective->getOperands())
          if (auto it = located.find(v); it != located.end())
            read(op, it->second, "a collective's operand");
        if (auto it = buffers.find(collective); it != buffers.end())
          read(op, it->second, "a collective's buffer");
      }
    if (isa<LinearOp, MatmulOp>(op) && cublas)
      write(op, *cublas, "the cuBLASLt workspace");
    if (auto ws = op->getAttrOfType<AllocAttr>(kWorkspaceAttr)) {
      Location scratch{ws.getSpace(), ws.getOffset(), ws.getSize(), newOwner()};
      write(op, scratch, "its workspace");
      if (isCollective(op))
        buffers[op] = scratch;
    }
    // AdamW updates its state and the parameter in place: arguments, which
    // are outside the plan.
    if (isa<AdamWOp>(op))
      continue;
    auto allocs = op->getAttrOfType<ArrayAttr>(kAllocAttr);
    for (OpResult r : op->getResults()) {
      if (Value source = storageSource(r)) {
        // A view, or an in-place update (copied out first: inserting may
        // move the map's entries).
        if (auto it = located.find(source); it != located.end()) {
          Location shared = it->second;
          located[r] = shared;
        }
        continue;
      }
      auto alloc =
          allocs ? dyn_cast<AllocAttr>(allocs[allocIndex(r)]) : AllocAttr();
      if (!alloc)
        bug(func, name(op) + " has a result without a location");
      Location loc{alloc.getSpace(), alloc.getOffset(),
                   tensorBytes(r.getType()), newOwner()};
      // Writing over an operand is only for in-place kernels, over an
      // operand of the same size.
      for (auto [k, in] : inputs)
        if (overlap(loc, in) &&
            !(r.getResultNumber() == 0 && canWriteInPlace(op, k) &&
              in.offset == loc.offset && in.bytes == loc.bytes))
          bug(func, name(op) + " writes its result over operand #" +
                        std::to_string(k) + ", which its kernel still reads");
      write(op, loc, "a result");
      located[r] = loc;
    }
  }
  for (Value v : body.getTerminator()->getOperands())
    if (auto it = located.find(v); it != located.end())
      read(body.getTerminator(), it->second, "a returned value");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  internvl::fuzz::FuzzModule input(data, size);
  OwningOpRef<ModuleOp> &module = input.module;
  MLIRContext &context = *input.context;
  if (!module)
    return 0;
  func::FuncOp func = findPlannedFunction(*module, "");
  if (!func || !getMemoryPlan(func) ||
      failed(verifyMemoryPlan(func)))
    return 0;

  Replay(func, getMemoryPlan(func)).run();

  // What readers of an accepted plan do with it.
  PassManager pm(&context);
  if (failed(parsePassPipeline("tg-export-memory-plan{file=/dev/null},"
                               "tg-memory-timeline{file=/dev/null}",
                               pm, llvm::nulls())))
    std::abort();
  (void)pm.run(*module);
  StepEmitOptions options;
  options.target = size % 2 ? StepTarget::Cpu : StepTarget::Cuda;
  if (succeeded(convertStepToEmitC(*module, options)) &&
      failed(emitc::translateToCpp(*module, llvm::nulls()))) {
    llvm::errs() << "fuzz-plan: the lowered step does not translate to C++\n";
    std::abort();
  }
  return 0;
}
