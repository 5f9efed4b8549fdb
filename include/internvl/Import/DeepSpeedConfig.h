//===- DeepSpeedConfig.h - the ZeRO settings of a DeepSpeed JSON ----------===//

#ifndef INTERNVL_IMPORT_DEEPSPEEDCONFIG_H
#define INTERNVL_IMPORT_DEEPSPEEDCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>

namespace internvl {

/// What the memory plan and the collectives take from a DeepSpeed config
/// (zero_optimization). Sizes are in elements, as DeepSpeed counts them;
/// "auto" or a missing entry gives DeepSpeed's default (5e8).
struct DeepSpeedConfig {
  int64_t zeroStage = 0;
  int64_t reduceBucketSize = 500000000;
  int64_t allgatherBucketSize = 500000000;
};

/// Reads `path` (InternVL's zero_stage1_config.json / zero_stage3_config.json
/// style); errors name the file and the field.
llvm::Expected<DeepSpeedConfig> loadDeepSpeedConfig(llvm::StringRef path);

} // namespace internvl

#endif // INTERNVL_IMPORT_DEEPSPEEDCONFIG_H
