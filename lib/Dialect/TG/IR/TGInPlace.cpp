//===- TGInPlace.cpp - which kernels may overwrite an operand
//---------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tg;

bool mlir::tg::canWriteInPlace(Operation *op, unsigned operand) {
  if (op->getNumResults() == 0 || operand >= op->getNumOperands())
    return false;
  auto in = dyn_cast<RankedTensorType>(op->getOperand(operand).getType());
  auto out = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!in || !out || in.getShape() != out.getShape() ||
      in.getElementTypeBitWidth() != out.getElementTypeBitWidth())
    return false;
  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case<AddOp, SubOp, MulOp, DivOp>([](auto) { return true; })
      .Case<NegOp, ScaleOp, CastOp, GeluOp, SiluOp, RopeOp, DropPathOp>(
          [&](auto) { return operand == 0; })
      .Case<GeluGradOp, SiluGradOp, MaskImagePositionsOp, ScatterImageEmbedsOp>(
          [&](auto) { return operand == 0; })
      .Case<CrossEntropyGradOp>([&](auto) { return operand == 1; })
      .Default([](Operation *) { return false; });
}
