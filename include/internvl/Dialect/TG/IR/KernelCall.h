//===- KernelCall.h - the runtime call that runs a tg op --------*- C++ -*-===//
//
// Each tg op states once, in its ODS entry (`kernelCall`), which runtime
// entry point runs it and what goes in each C parameter. The EmitC lowering
// turns that into a call of the emitted step, the interpreter into a call
// through the runtime's packed trampoline: one description, two executors.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_DIALECT_TG_IR_KERNELCALL_H
#define INTERNVL_DIALECT_TG_IR_KERNELCALL_H

#include "internvl/runtime/EntryPoints.h"

#include "mlir/IR/TypeRange.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::tg {

/// The runtime entry points that run tg ops (`ivl_<name>`).
enum class Kernel {
#define TG_KERNEL_ENUMERATOR(name) name,
  IVL_KERNEL_ENTRY_POINTS(TG_KERNEL_ENUMERATOR)
#undef TG_KERNEL_ENUMERATOR
};

/// "ivl_linear".
llvm::StringRef kernelSymbol(Kernel kernel);

/// One C parameter of a kernel call, after the context.
struct KernelArg {
  enum class Kind {
    Input,      ///< const ivl_tensor *: the view of `values[0]`
    Output,     ///< ivl_tensor *: the view of `values[0]`, a result
    Null,       ///< a null pointer (an absent optional tensor or array)
    TensorList, ///< ivl_tensor *: the views of `values`, in one array
    Integer,    ///< an integer or enumerator parameter
    Real,       ///< a double parameter
    Integers,   ///< const int64_t * to `integers`
    Reals,      ///< const double * to `reals`
    Flags,      ///< const uint8_t * to `integers` (0 or 1 each)
    Buffer,     ///< void *: the op's planned collective buffer
    BufferSize, ///< int64_t: the bytes of that buffer
  };
  Kind kind = Kind::Null;
  llvm::SmallVector<Value> values;
  int64_t integer = 0;
  double real = 0;
  llvm::SmallVector<int64_t> integers;
  llvm::SmallVector<double> reals;
  /// How the emitted C++ spells an enumerator (`IVL_ADD`); empty for plain
  /// integers.
  std::string spelling;
};

/// The call of one op: its kernel and arguments in C parameter order.
class KernelCall {
public:
  KernelCall &kernel(Kernel k) {
    entry = k;
    return *this;
  }
  KernelCall &in(Value v) { return add(KernelArg::Kind::Input, {v}); }
  KernelCall &out(Value v) { return add(KernelArg::Kind::Output, {v}); }
  KernelCall &outs(ValueRange vs) {
    for (Value v : vs)
      out(v);
    return *this;
  }
  /// An optional operand: its view, or a null pointer.
  KernelCall &optionalIn(Value v) {
    return v ? in(v) : add(KernelArg::Kind::Null, {});
  }
  /// An optional result: its view, or a null pointer.
  KernelCall &optionalOut(Value v) {
    return v ? out(v) : add(KernelArg::Kind::Null, {});
  }
  /// Tensors as one array, then their count (the C API's `count`).
  KernelCall &list(ValueRange vs) {
    add(KernelArg::Kind::TensorList, llvm::SmallVector<Value>(vs));
    return integer(static_cast<int64_t>(vs.size()));
  }
  KernelCall &integer(int64_t v) {
    KernelArg &a = addArg(KernelArg::Kind::Integer);
    a.integer = v;
    return *this;
  }
  /// An enumerator of the C API and its spelling: use TG_ENUMERATOR.
  KernelCall &enumerator(int64_t v, llvm::StringRef spelling) {
    integer(v);
    args.back().spelling = spelling.str();
    return *this;
  }
  KernelCall &real(double v) {
    KernelArg &a = addArg(KernelArg::Kind::Real);
    a.real = v;
    return *this;
  }
  KernelCall &integers(llvm::ArrayRef<int64_t> vs) {
    addArg(KernelArg::Kind::Integers).integers.assign(vs.begin(), vs.end());
    return *this;
  }
  KernelCall &flags(llvm::ArrayRef<bool> vs) {
    KernelArg &a = addArg(KernelArg::Kind::Flags);
    for (bool v : vs)
      a.integers.push_back(v);
    return *this;
  }
  /// An array of doubles, or a null pointer when absent.
  KernelCall &reals(std::optional<llvm::ArrayRef<double>> vs) {
    if (!vs)
      return add(KernelArg::Kind::Null, {});
    addArg(KernelArg::Kind::Reals).reals.assign(vs->begin(), vs->end());
    return *this;
  }
  /// The op's planned collective buffer and its size in bytes.
  KernelCall &buffer() {
    addArg(KernelArg::Kind::Buffer);
    addArg(KernelArg::Kind::BufferSize);
    return *this;
  }

  std::optional<Kernel> entry;
  llvm::SmallVector<KernelArg> args;

private:
  KernelArg &addArg(KernelArg::Kind kind) {
    KernelArg &arg = args.emplace_back();
    arg.kind = kind;
    return arg;
  }
  KernelCall &add(KernelArg::Kind kind, llvm::ArrayRef<Value> vs) {
    addArg(kind).values.assign(vs.begin(), vs.end());
    return *this;
  }
};

/// An enumerator of the runtime's C API, with its spelling for the emitted
/// code: `call.TG_ENUMERATOR(IVL_ADD)`.
#define TG_ENUMERATOR(e) enumerator(static_cast<int64_t>(e), #e)

} // namespace mlir::tg

#endif // INTERNVL_DIALECT_TG_IR_KERNELCALL_H
