//===- Units.h - byte sizes as people write them ----------------*- C++ -*-===//

#ifndef INTERNVL_SUPPORT_UNITS_H
#define INTERNVL_SUPPORT_UNITS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace internvl {

/// "12.34 GiB" (two decimals).
std::string formatGiB(int64_t bytes);

/// Parses "80GiB", "80 GB", "512MiB", "1024", "1.5GiB" (B, KiB, MiB, GiB,
/// TiB, KB, MB, GB, TB; powers of 1024 for *iB, of 1000 for *B).
llvm::Expected<int64_t> parseByteSize(llvm::StringRef text);

/// A per-GPU memory budget: a byte size, or a card (h100-80gb, h200-141gb,
/// a100-80gb, a100-40gb, rtx4090-24gb, v100-32gb) whose memory as nvidia-smi reports it, less 2 GiB
/// for the CUDA context, library handles and allocator slack.
llvm::Expected<int64_t> parseMemoryBudget(llvm::StringRef text);

} // namespace internvl

#endif // INTERNVL_SUPPORT_UNITS_H
