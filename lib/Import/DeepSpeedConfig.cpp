//===- DeepSpeedConfig.cpp - the ZeRO settings of a DeepSpeed JSON --------===//
//
// Compiled with exceptions (nlohmann/json); none escapes this file.
//
//===----------------------------------------------------------------------===//

#include "internvl/Import/DeepSpeedConfig.h"

#include "llvm/Support/MemoryBuffer.h"

#include "internvl/Import/JsonText.h"

#include <nlohmann/json.hpp>

using namespace internvl;
using json = nlohmann::json;

static llvm::Error fail(llvm::StringRef path, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 path + ": " + message);
}

/// A size in elements: a positive number (1e9 is a float in JSON), "auto"
/// or absent (keep `value`).
static llvm::Error readSize(const json &zero, const char *key,
                            llvm::StringRef path, int64_t &value) {
  auto it = zero.find(key);
  if (it == zero.end() || (it->is_string() && it->get<std::string>() == "auto"))
    return llvm::Error::success();
  // Up to 1e15 elements: far beyond any model, and exact as a double.
  if (!it->is_number() || !(it->get<double>() >= 1) ||
      it->get<double>() > 1e15)
    return fail(path, llvm::Twine("zero_optimization.") + key +
                          ": expected a number in [1, 1e15] or \"auto\", "
                          "got " +
                          jsonText(*it));
  value = static_cast<int64_t>(it->get<double>());
  return llvm::Error::success();
}

llvm::Expected<DeepSpeedConfig>
internvl::loadDeepSpeedConfig(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fail(path, "cannot read: " + buffer.getError().message());
  DeepSpeedConfig config;
  try {
    json root = json::parse((*buffer)->getBuffer().str());
    if (!root.is_object())
      return fail(path, "expected a JSON object");
    auto zero = root.find("zero_optimization");
    if (zero == root.end())
      return config; // stage 0
    if (!zero->is_object())
      return fail(path,
                  "zero_optimization: expected an object, got " + jsonText(*zero));
    auto stage = zero->find("stage");
    if (stage != zero->end()) {
      if (!stage->is_number_integer() || stage->get<int64_t>() < 0 ||
          stage->get<int64_t>() > 3)
        return fail(path, "zero_optimization.stage: expected 0, 1, 2 or 3, "
                          "got " +
                              jsonText(*stage));
      config.zeroStage = stage->get<int64_t>();
    }
    if (llvm::Error e = readSize(*zero, "reduce_bucket_size", path,
                                 config.reduceBucketSize))
      return std::move(e);
    // Stage 3 names its gather bucket stage3_prefetch_bucket_size.
    if (llvm::Error e = readSize(*zero, "allgather_bucket_size", path,
                                 config.allgatherBucketSize))
      return std::move(e);
    if (llvm::Error e = readSize(*zero, "stage3_prefetch_bucket_size", path,
                                 config.allgatherBucketSize))
      return std::move(e);
  } catch (const json::exception &e) {
    return fail(path, std::string("invalid JSON: ") + e.what());
  }
  return config;
}
