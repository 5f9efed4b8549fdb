//===- Interpreter.cpp - run a tg function on the CPU runtime -------------===//
//
// A straight walk over the function body: each op allocates its results
// from their types and calls the runtime kernel of the same C API the
// compiled step calls, so the interpreter and the compiled CPU step compute
// the same bits.
//
//===----------------------------------------------------------------------===//

#include "internvl/Interpreter/Interpreter.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <cstring>
#include <deque>

using namespace mlir;
using namespace internvl;

/// The values each op of `body` uses for the last time (those the
/// terminator uses die there).
static llvm::DenseMap<Operation *, SmallVector<Value>>
valuesDyingAt(Block &body) {
  llvm::DenseMap<Value, Operation *> lastUse;
  for (Operation &op : body)
    for (Value v : op.getOperands())
      lastUse[v] = &op;
  llvm::DenseMap<Operation *, SmallVector<Value>> dies;
  for (auto &[v, op] : lastUse)
    dies[op].push_back(v);
  return dies;
}

namespace {

class Executor {
public:
  explicit Executor(func::FuncOp func)
      : func(func), ctx(ivl_context_create()) {}
  ~Executor() { ivl_context_destroy(ctx); }

  llvm::Expected<std::vector<HostTensor>> run(ArrayRef<HostTensor> args);

private:
  llvm::Error execute(Operation *op);

  HostTensor &get(Value v) { return values[v]; }
  ivl_tensor in(Value v) { return values[v].view(); }

  /// Allocates the result `i` of `op`.
  llvm::Expected<HostTensor> allocate(Value result) {
    auto type = cast<RankedTensorType>(result.getType());
    llvm::Expected<ivl_dtype> dtype = runtimeType(type.getElementType());
    if (!dtype)
      return dtype.takeError();
    return HostTensor::allocate(
        *dtype,
        std::vector<int64_t>(type.getShape().begin(), type.getShape().end()));
  }

  /// Turns a kernel status into an llvm::Error naming the op.
  llvm::Error check(Operation *op, ivl_status status) {
    if (status == IVL_OK)
      return llvm::Error::success();
    std::string where;
    llvm::raw_string_ostream os(where);
    os << op->getName();
    if (auto scope =
            op->getAttrOfType<StringAttr>(tg::TGDialect::getScopeAttrName()))
      os << " (" << scope.getValue() << ")";
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   where + ": " + ivl_last_error(ctx));
  }

  func::FuncOp func;
  ivl_context *ctx;
  llvm::DenseMap<Value, HostTensor> values;
};

llvm::Expected<std::vector<HostTensor>>
Executor::run(ArrayRef<HostTensor> args) {
  Block &body = func.getBody().front();
  if (args.size() != body.getNumArguments())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "@%s takes %u arguments, got %zu",
        func.getName().str().c_str(), body.getNumArguments(), args.size());
  for (auto [arg, value] : llvm::zip(body.getArguments(), args))
    values[arg] = value;

  // Free each value after its last use.
  llvm::DenseMap<Operation *, SmallVector<Value>> dies = valuesDyingAt(body);

  for (Operation &op : body.without_terminator()) {
    if (llvm::Error e = execute(&op))
      return std::move(e);
    for (Value v : dies.lookup(&op))
      values.erase(v);
  }
  std::vector<HostTensor> results;
  for (Value v : body.getTerminator()->getOperands())
    results.push_back(values[v]);
  return results;
}

/// Each kernel's packed trampoline, in tg::Kernel order.
static const ivl::PackedKernel kKernels[] = {
#define TG_PACKED_KERNEL(name) &ivl::packedCall<&ivl_##name>,
    IVL_KERNEL_ENTRY_POINTS(TG_PACKED_KERNEL)
#undef TG_PACKED_KERNEL
};

llvm::Error Executor::execute(Operation *op) {
  // One rank only: the collectives of a data-parallel step need their
  // peers (run such a step compiled, under mpirun).
  if (auto world = op->getAttrOfType<IntegerAttr>("world_size");
      world && world.getInt() != 1)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "internvl-run runs one rank, and '" +
            op->getName().getStringRef().str() + "' communicates across " +
            std::to_string(world.getInt()) +
            " ranks: compile the step (internvl-compile) and start it with "
            "mpirun");
  auto unsupported = [&] {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "internvl-run cannot execute '" +
                                       op->getName().getStringRef().str() +
                                       "': it has no CPU runtime kernel");
  };
  auto kernelOp = dyn_cast<tg::KernelOpInterface>(op);
  if (!kernelOp)
    return unsupported();
  tg::KernelCall call;
  kernelOp.describeKernelCall(call);

  // Views (tg.reshape, tg.comm_wait): each result is its operand's storage.
  if (!call.entry) {
    for (OpResult r : op->getResults()) {
      Value source = tg::storageSource(r);
      if (!source)
        return unsupported();
      auto type = cast<RankedTensorType>(r.getType());
      // Copied first: inserting may move the map's entries.
      HostTensor t = get(source).reshaped(
          std::vector<int64_t>(type.getShape().begin(), type.getShape().end()));
      values[r] = t;
    }
    return llvm::Error::success();
  }

  // Results first: every kernel writes into caller-owned memory. A result
  // that takes an operand's storage in the compiled step (an in-place
  // update) starts as a copy of it here.
  SmallVector<HostTensor> outs;
  for (OpResult r : op->getResults()) {
    llvm::Expected<HostTensor> t = allocate(r);
    if (!t)
      return t.takeError();
    if (Value source = tg::storageSource(r)) {
      const HostTensor &from = get(source);
      std::memcpy(t->data(), from.data(), std::min(t->bytes(), from.bytes()));
    }
    outs.push_back(*t);
  }
  auto tensorOf = [&](Value v) -> HostTensor & {
    if (auto r = dyn_cast<OpResult>(v); r && r.getOwner() == op)
      return outs[r.getResultNumber()];
    return get(v);
  };

  // The C arguments, in storage that outlives the call.
  std::deque<ivl_tensor> descriptors;
  std::deque<SmallVector<ivl_tensor>> lists;
  std::deque<SmallVector<uint8_t>> flags;
  HostTensor buffer;
  SmallVector<ivl::PackedArg> packed;
  for (const tg::KernelArg &a : call.args) {
    ivl::PackedArg p;
    switch (a.kind) {
    case tg::KernelArg::Kind::Input:
    case tg::KernelArg::Kind::Output:
      p.pointer = &descriptors.emplace_back(tensorOf(a.values[0]).view());
      break;
    case tg::KernelArg::Kind::Null:
      break;
    case tg::KernelArg::Kind::TensorList: {
      SmallVector<ivl_tensor> &list = lists.emplace_back();
      for (Value v : a.values)
        list.push_back(tensorOf(v).view());
      p.pointer = list.data();
      break;
    }
    case tg::KernelArg::Kind::Integer:
      p.integer = a.integer;
      break;
    case tg::KernelArg::Kind::Real:
      p.real = a.real;
      break;
    case tg::KernelArg::Kind::Integers:
      p.pointer = a.integers.data(); // `call` outlives the kernel call
      break;
    case tg::KernelArg::Kind::Reals:
      p.pointer = a.reals.data();
      break;
    case tg::KernelArg::Kind::Flags: {
      SmallVector<uint8_t> &bits = flags.emplace_back();
      for (int64_t f : a.integers)
        bits.push_back(static_cast<uint8_t>(f));
      p.pointer = bits.data();
      break;
    }
    case tg::KernelArg::Kind::Buffer:
      buffer = HostTensor::allocate(IVL_I1, {tg::collectiveBufferBytes(op)});
      p.pointer = buffer.data();
      break;
    case tg::KernelArg::Kind::BufferSize:
      p.integer = buffer.bytes();
      break;
    }
    packed.push_back(p);
  }
  ivl_status status = kKernels[static_cast<size_t>(*call.entry)](
      ctx, packed.data(), packed.size());
  if (llvm::Error e = check(op, status))
    return e;
  for (auto [r, t] : llvm::zip(op->getResults(), outs))
    values[r] = t;
  return llvm::Error::success();
}

} // namespace

llvm::Expected<std::vector<HostTensor>>
internvl::interpret(func::FuncOp func, ArrayRef<HostTensor> args) {
  return Executor(func).run(args);
}

static std::string shapeText(const std::vector<int64_t> &shape,
                             ivl_dtype dtype) {
  std::string s;
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + dtypeName(dtype).str();
}

llvm::Expected<std::vector<HostTensor>>
internvl::makeArguments(func::FuncOp func, uint64_t seed,
                        const llvm::StringMap<HostTensor> &provided,
                        llvm::StringSet<> *used) {
  std::vector<ArgSpec> specs = argumentSpecs(func);
  BatchSpec batch = batchSpec(func);
  std::vector<HostTensor> args(specs.size());
  llvm::StringMap<HostTensor> params;
  auto obtain = [&](const ArgSpec &spec) -> llvm::Expected<HostTensor> {
    auto it = provided.find(spec.name);
    if (it == provided.end())
      return generateArgument(spec, batch, seed, params);
    if (used)
      used->insert(spec.name);
    if (it->second.shape != spec.shape)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "input '" + spec.name + "' has shape " +
              shapeText(it->second.shape, it->second.dtype) +
              ", the argument is " + shapeText(spec.shape, spec.dtype));
    llvm::Expected<HostTensor> converted = convertTensor(it->second, spec.dtype);
    if (!converted)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "input '" + spec.name + "': " +
                                         llvm::toString(converted.takeError()));
    return converted;
  };
  // Parameters ZeRO stage 3 keeps as shards come first (the shards are made
  // from them), then the parameters, from which master copies start.
  for (const ArgSpec &spec : zeroParameterSpecs(func)) {
    llvm::Expected<HostTensor> value = obtain(spec);
    if (!value)
      return value.takeError();
    params[spec.name] = *value;
  }
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < specs.size(); ++i) {
      const ArgSpec &spec = specs[i];
      if ((spec.kind == "param") != (pass == 0))
        continue;
      llvm::Expected<HostTensor> value = obtain(spec);
      if (!value)
        return value.takeError();
      args[i] = *value;
      if (spec.kind == "param")
        params[spec.name] = args[i];
    }
  return args;
}

int64_t internvl::interpreterPeakBytes(func::FuncOp func) {
  Block &body = func.getBody().front();
  // Views (reshape, comm_wait) share their operand's storage: a storage is
  // freed when the last value using it dies, as HostTensor's shared_ptr is.
  llvm::DenseMap<Value, Value> storageOf;
  llvm::DenseMap<Value, int64_t> users; // storage -> live values using it
  llvm::DenseMap<Operation *, SmallVector<Value>> dies = valuesDyingAt(body);
  int64_t live = 0, peak = 0;
  for (Operation &op : body.without_terminator()) {
    bool view = tg::isStorageView(&op);
    for (auto [i, r] : llvm::enumerate(op.getResults())) {
      Value storage = view ? storageOf.lookup(op.getOperand(i)) : r;
      storageOf[r] = storage;
      if (!storage)
        continue; // a view of an argument
      if (users[storage]++ == 0)
        live += tg::tensorBytes(storage.getType());
    }
    peak = std::max(peak, live);
    for (Value v : dies.lookup(&op)) {
      Value storage = storageOf.lookup(v);
      if (storage && --users[storage] == 0)
        live -= tg::tensorBytes(storage.getType());
    }
  }
  return peak;
}
