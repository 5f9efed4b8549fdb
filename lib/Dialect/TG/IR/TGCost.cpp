//===- TGCost.cpp - cost interface of tg ops ------------------------------===//
//
// FLOPs and bytes per op. The formulas are in internvl/Support/CostModel.h;
// this file reads the sizes off the op's types.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Support/CostModel.h"
#include "internvl/Support/Shape.h"

using namespace mlir;
using namespace mlir::tg;
namespace cost = internvl::cost;

static int64_t elementsOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getNumElements();
}

/// Storage size of a tensor value; i1 is stored as one byte.
static int64_t bytesOf(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t bits = type.getElementTypeBitWidth();
  return type.getNumElements() * ((bits + 7) / 8);
}

static int64_t sumBytes(ValueRange values) {
  int64_t total = 0;
  for (Value v : values)
    total += bytesOf(v);
  return total;
}

int64_t mlir::tg::detail::defaultFlops(Operation *op) {
  int64_t total = 0;
  for (Value v : op->getResults())
    total += elementsOf(v);
  return total;
}

int64_t mlir::tg::detail::defaultBytesRead(Operation *op) {
  return sumBytes(op->getOperands());
}

int64_t mlir::tg::detail::defaultBytesWritten(Operation *op) {
  return sumBytes(op->getResults());
}

//===----------------------------------------------------------------------===//
// Ops that move data without arithmetic
//===----------------------------------------------------------------------===//

int64_t FillOp::getFlops() { return 0; }
int64_t TransposeOp::getFlops() { return 0; }
int64_t BroadcastOp::getFlops() { return 0; }
int64_t ConcatOp::getFlops() { return 0; }
int64_t PadOp::getFlops() { return 0; }
int64_t PixelShuffleOp::getFlops() { return 0; }
int64_t ScatterImageEmbedsOp::getFlops() { return 0; }
int64_t GatherImageEmbedsOp::getFlops() { return 0; }
int64_t MaskImagePositionsOp::getFlops() { return 0; }

// A reshape is a view of its operand's buffer.
int64_t ReshapeOp::getFlops() { return 0; }
int64_t ReshapeOp::getBytesRead() { return 0; }
int64_t ReshapeOp::getBytesWritten() { return 0; }

int64_t SliceOp::getFlops() { return 0; }
int64_t SliceOp::getBytesRead() { return bytesOf(getResult()); }

int64_t EmbeddingOp::getFlops() { return 0; }
int64_t EmbeddingOp::getBytesRead() {
  return bytesOf(getResult()) + bytesOf(getIndices());
}

//===----------------------------------------------------------------------===//
// Arithmetic
//===----------------------------------------------------------------------===//

int64_t ReduceSumOp::getFlops() { return elementsOf(getInput()); }
int64_t EmbeddingGradOp::getFlops() { return elementsOf(getGrad()); }

int64_t GeluOp::getFlops() { return cost::kGeluFlops * elementsOf(getInput()); }
int64_t GeluGradOp::getFlops() {
  return cost::kGeluGradFlops * elementsOf(getInput());
}
int64_t SiluOp::getFlops() { return cost::kSiluFlops * elementsOf(getInput()); }
int64_t SiluGradOp::getFlops() {
  return cost::kSiluGradFlops * elementsOf(getInput());
}
int64_t RopeOp::getFlops() { return cost::kRopeFlops * elementsOf(getInput()); }

int64_t LayerNormOp::getFlops() {
  return cost::kLayerNormFlops * elementsOf(getInput());
}
int64_t LayerNormGradOp::getFlops() {
  return cost::kLayerNormGradFlops * elementsOf(getInput());
}
int64_t RmsNormOp::getFlops() {
  return cost::kRmsNormFlops * elementsOf(getInput());
}
int64_t RmsNormGradOp::getFlops() {
  return cost::kRmsNormGradFlops * elementsOf(getInput());
}

int64_t CrossEntropyOp::getFlops() {
  return cost::kCrossEntropyFlops * elementsOf(getLogits());
}
int64_t CrossEntropyGradOp::getFlops() {
  return cost::kCrossEntropyGradFlops * elementsOf(getLogits());
}

int64_t GlobalNormOp::getFlops() {
  int64_t total = 0;
  for (Value g : getGrads())
    total += cost::kSquareSumFlops * elementsOf(g);
  return total;
}

int64_t AdamWOp::getFlops() {
  return cost::kAdamWFlops * elementsOf(getMaster());
}

int64_t ShardAdamWOp::getFlops() {
  return cost::kAdamWFlops * elementsOf(getMaster());
}

//===----------------------------------------------------------------------===//
// Collectives: the sums are negligible next to the bytes they move, which
// the default byte counts (operands read, results written) describe.
//===----------------------------------------------------------------------===//

int64_t AllReduceMeanOp::getFlops() { return 0; }
int64_t ReduceScatterMeanOp::getFlops() { return 0; }
int64_t AllGatherOp::getFlops() { return 0; }
int64_t CommWaitOp::getFlops() { return 0; }

// Host copies run on the copy engines, not the compute roofline: --tg-remat
// prices them on the card's host link (docs/remat.md, the offload lever).
int64_t OffloadOp::getFlops() { return 0; }
int64_t OffloadOp::getBytesRead() { return 0; }
int64_t OffloadOp::getBytesWritten() { return 0; }
int64_t PrefetchOp::getFlops() { return 0; }
int64_t PrefetchOp::getBytesRead() { return 0; }
int64_t PrefetchOp::getBytesWritten() { return 0; }

//===----------------------------------------------------------------------===//
// Matrix products and attention
//===----------------------------------------------------------------------===//

int64_t LinearOp::getFlops() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  int64_t rows = elementsOf(getInput()) / w.getDimSize(1);
  int64_t flops = cost::matmulFlops(1, rows, w.getDimSize(0), w.getDimSize(1));
  if (getBias())
    flops += elementsOf(getResult());
  return flops;
}

int64_t MatmulOp::getFlops() {
  auto lhs = cast<RankedTensorType>(getLhs().getType());
  int64_t k = getTransposeLhs() ? lhs.getDimSize(lhs.getRank() - 2)
                                : lhs.getShape().back();
  // M·N summed over every batch is the result's element count.
  return 2 * elementsOf(getResult()) * k;
}

int64_t AttentionOp::getFlops() {
  ArrayRef<int64_t> q = cast<RankedTensorType>(getQuery().getType()).getShape();
  ArrayRef<int64_t> k = cast<RankedTensorType>(getKey().getType()).getShape();
  ArrayRef<int64_t> v = cast<RankedTensorType>(getValue().getType()).getShape();
  if (getCuSeqlens())
    return 2 * q[0] * q[2] *
           cost::packedAttentionPairs(q[1], getExpectedSamples(), getCausal()) *
           (q[3] + v[3]);
  return cost::attentionFlops(q[0], q[2], q[1], k[1], q[3], v[3], getCausal());
}

int64_t AttentionGradOp::getFlops() {
  ArrayRef<int64_t> q = cast<RankedTensorType>(getQuery().getType()).getShape();
  ArrayRef<int64_t> k = cast<RankedTensorType>(getKey().getType()).getShape();
  ArrayRef<int64_t> v = cast<RankedTensorType>(getValue().getType()).getShape();
  if (getCuSeqlens())
    return 2 * q[0] * q[2] *
           cost::packedAttentionPairs(q[1], getExpectedSamples(), getCausal()) *
           (3 * q[3] + 2 * v[3]);
  return cost::attentionGradFlops(q[0], q[2], q[1], k[1], q[3], v[3],
                                  getCausal());
}

//===----------------------------------------------------------------------===//
// The chunked loss (cost::ChunkedLoss)
//===----------------------------------------------------------------------===//

int64_t LinearCrossEntropyOp::getFlops() {
  return linearCrossEntropyShape(*this).forward().flops;
}
int64_t LinearCrossEntropyOp::getBytesRead() {
  return linearCrossEntropyShape(*this).forward().bytesRead;
}
int64_t LinearCrossEntropyOp::getBytesWritten() {
  return linearCrossEntropyShape(*this).forward().bytesWritten;
}

static cost::OpCost costOf(LinearCrossEntropyGradOp op) {
  return linearCrossEntropyShape(op).backward(/*hiddenGrad=*/true,
                                              op.getWeightGrad() != nullptr);
}
int64_t LinearCrossEntropyGradOp::getFlops() { return costOf(*this).flops; }
int64_t LinearCrossEntropyGradOp::getBytesRead() {
  return costOf(*this).bytesRead;
}
int64_t LinearCrossEntropyGradOp::getBytesWritten() {
  return costOf(*this).bytesWritten;
}
