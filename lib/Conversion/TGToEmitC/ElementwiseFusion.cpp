//===- ElementwiseFusion.cpp - which runs of elementwise ops fuse ----------===//

#include "internvl/Conversion/TGToEmitC/ElementwiseFusion.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;
using namespace mlir::tg;

std::string FusedGroup::describe() const {
  std::string s;
  for (auto [i, op] : llvm::enumerate(ops))
    s += (i ? " + " : "") + op->getName().getStringRef().str();
  if (auto scope = ops.back()->getAttrOfType<StringAttr>(
          TGDialect::getScopeAttrName()))
    s += " (" + scope.getValue().str() + ")";
  return s;
}

static bool isFloat(Type t) {
  Type e = cast<ShapedType>(t).getElementType();
  return e.isF32() || e.isBF16() || e.isF16();
}

/// Ops the generated kernels implement, with float operands and results.
static bool isFusible(Operation *op) {
  if (!isa<AddOp, SubOp, MulOp, DivOp, NegOp, ScaleOp, CastOp, GeluOp, SiluOp,
           GeluGradOp, SiluGradOp>(op))
    return false;
  if (op->getNumResults() != 1 || !isFloat(op->getResult(0).getType()))
    return false;
  return llvm::all_of(op->getOperandTypes(), isFloat);
}

/// Whether `leaf` can be read for each element of `out`: the same shape, or
/// equal trailing dimensions behind leading ones (a bias, a scalar).
static bool isTrailingBroadcast(ShapedType leaf, ShapedType out) {
  int64_t lead = out.getRank() - leaf.getRank();
  if (lead < 0)
    return false;
  int64_t d = leaf.getRank() - 1;
  while (d >= 0 && leaf.getDimSize(d) == out.getDimSize(d + lead))
    --d;
  for (; d >= 0; --d)
    if (leaf.getDimSize(d) != 1)
      return false;
  return true;
}

namespace {

class GroupFinder {
public:
  GroupFinder(ArrayRef<Operation *> schedule, const StepStorage &storage)
      : schedule(schedule), storage(storage) {}

  /// The longest safe group starting at `first`, or an empty one.
  FusedGroup groupAt(size_t first);

private:
  /// Whether ops [first, last] form a group: every result but the last is
  /// used only inside, all results have the output's shape, every leaf
  /// broadcasts onto it, and the output overlaps no leaf except in place.
  bool isGroup(size_t first, size_t last, FusedGroup &group);

  ArrayRef<Operation *> schedule;
  const StepStorage &storage;
};

} // namespace

bool GroupFinder::isGroup(size_t first, size_t last, FusedGroup &group) {
  llvm::SmallPtrSet<Operation *, 8> members;
  for (size_t i = first; i <= last; ++i)
    members.insert(schedule[i]);
  Value output = schedule[last]->getResult(0);
  auto outType = cast<ShapedType>(output.getType());
  llvm::SetVector<Value> leaves;
  for (size_t i = first; i <= last; ++i) {
    Operation *op = schedule[i];
    Value result = op->getResult(0);
    if (cast<ShapedType>(result.getType()).getShape() != outType.getShape())
      return false;
    if (i != last &&
        !llvm::all_of(result.getUsers(),
                      [&](Operation *user) { return members.contains(user); }))
      return false;
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && members.contains(def))
        continue;
      if (!isTrailingBroadcast(cast<ShapedType>(operand.getType()), outType))
        return false;
      leaves.insert(operand);
    }
  }
  // The output is written element by element while the leaves are read:
  // overlapping storage is safe only where element i is read and written at
  // the same address.
  const Storage &out = storage.lookup(output);
  for (Value leaf : leaves) {
    const Storage &s = storage.lookup(leaf);
    if (!s.overlaps(out))
      continue;
    auto leafType = cast<ShapedType>(leaf.getType());
    if (!(s == out) || leafType.getShape() != outType.getShape() ||
        leafType.getElementTypeBitWidth() != outType.getElementTypeBitWidth())
      return false;
  }
  group.ops.assign(schedule.begin() + first, schedule.begin() + last + 1);
  group.leaves.assign(leaves.begin(), leaves.end());
  return true;
}

FusedGroup GroupFinder::groupAt(size_t first) {
  FusedGroup best;
  if (!isFusible(schedule[first]))
    return best;
  // Extend while each next op is fusible and reads a value of the run.
  size_t last = first;
  llvm::SmallPtrSet<Operation *, 8> members = {schedule[first]};
  while (last + 1 < schedule.size()) {
    Operation *next = schedule[last + 1];
    if (!isFusible(next) || !llvm::any_of(next->getOperands(), [&](Value v) {
          Operation *def = v.getDefiningOp();
          return def && members.contains(def);
        }))
      break;
    members.insert(next);
    ++last;
  }
  // The longest prefix that is a valid group.
  for (size_t end = last; end > first; --end) {
    FusedGroup group;
    if (isGroup(first, end, group))
      return group;
  }
  return best;
}

FusionPlan mlir::tg::planElementwiseFusion(func::FuncOp func,
                                           const StepStorage &storage) {
  SmallVector<Operation *> schedule;
  for (Operation &op : func.getBody().front().without_terminator())
    schedule.push_back(&op);
  FusionPlan plan;
  GroupFinder finder(schedule, storage);
  for (size_t i = 0; i < schedule.size();) {
    FusedGroup group = finder.groupAt(i);
    if (group.ops.size() < 2) {
      ++i;
      continue;
    }
    group.name = "ivl_fused_" + std::to_string(plan.groups.size());
    for (Operation *op : group.ops)
      plan.groupIndex[op] = plan.groups.size();
    i += group.ops.size();
    plan.groups.push_back(std::move(group));
  }
  return plan;
}
