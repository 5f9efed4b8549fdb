//===- Targets.h - the GPUs plans are made for ------------------*- C++ -*-===//
//
// One table of the cards a budget may name and the rooflines recomputation
// is priced on (--tg-remat gpu=..., budget=h100-80gb), so a new card is one
// row here.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_TARGETS_H
#define INTERNVL_SUPPORT_TARGETS_H

#include "internvl/Support/CostModel.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace internvl {

/// One card: its GPU (the roofline's name), its memory and throughput.
struct GpuTarget {
  llvm::StringLiteral gpu;  ///< "h100": what --tg-remat gpu= names
  llvm::StringLiteral card; ///< "h100-80gb": what a budget names
  int64_t memoryMiB;        ///< what the device reports as total memory
  cost::Roofline roofline;  ///< dense bf16 tensor-core FLOP/s, HBM bytes/s
  /// Effective host link bytes per second, each direction, for pinned
  /// copies (the offload lever); 0 where the table has no figure.
  double hostLinkBytesPerSecond;
  llvm::StringLiteral hostLink; ///< "PCIe Gen5 x16": where that comes from
};

/// Every card, the first of each GPU being its roofline's source.
llvm::ArrayRef<GpuTarget> gpuTargets();

/// What the CUDA context, cuBLAS/NCCL handles and the allocator's slack
/// take of a card's memory: a card budget is its memory less this.
inline constexpr int64_t kCardReserveBytes = 2ll << 30;

/// The roofline of the GPU named `gpu`, or null.
const GpuTarget *findGpu(llvm::StringRef gpu);
/// The card named `card`, or null.
const GpuTarget *findCard(llvm::StringRef card);

/// "h100, h200 or a100" and "h100-80gb, h200-141gb, ...", for messages.
std::string gpuNames();
std::string cardNames();

} // namespace internvl

#endif // INTERNVL_SUPPORT_TARGETS_H
