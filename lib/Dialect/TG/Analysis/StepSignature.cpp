//===- StepSignature.cpp - a step's arguments as the runtime sees them ----===//

#include "internvl/Dialect/TG/Analysis/StepSignature.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

using namespace mlir;
using namespace internvl;

llvm::Expected<ivl_dtype> internvl::runtimeType(Type element) {
  if (element.isF32())
    return IVL_F32;
  if (element.isBF16())
    return IVL_BF16;
  if (element.isF16())
    return IVL_F16;
  if (element.isInteger(64))
    return IVL_I64;
  if (element.isInteger(1))
    return IVL_I1;
  std::string s;
  llvm::raw_string_ostream os(s);
  os << element;
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "unsupported element type " + s);
}

std::vector<ArgSpec> internvl::argumentSpecs(func::FuncOp func) {
  std::vector<ArgSpec> specs;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    ArgSpec spec;
    auto str = [&](StringRef attr) {
      auto v = func.getArgAttrOfType<StringAttr>(i, attr);
      return v ? v.getValue().str() : std::string();
    };
    spec.name = str(tg::TGDialect::getNameAttrName());
    if (spec.name.empty())
      spec.name = "arg" + std::to_string(i);
    spec.kind = str(tg::TGDialect::getKindAttrName());
    auto type = cast<RankedTensorType>(func.getArgument(i).getType());
    spec.shape.assign(type.getShape().begin(), type.getShape().end());
    llvm::Expected<ivl_dtype> dtype = runtimeType(type.getElementType());
    spec.dtype = dtype ? *dtype : IVL_F32;
    if (!dtype)
      llvm::consumeError(dtype.takeError());
    // Parameters without tg.init draw from N(0, 0.02), the usual Linear init.
    spec.normalInit = true;
    spec.initValue = 0.02;
    if (FailureOr<tg::Initializer> init =
            tg::parseInitializer(str(tg::TGDialect::getInitAttrName()));
        succeeded(init)) {
      spec.normalInit = init->kind == tg::Initializer::Normal;
      spec.initValue = init->value;
    }
    // A ZeRO master shard copies its bucket's parameters.
    StringRef name = spec.name;
    if (spec.kind == "master" && name.consume_front("zero.bucket") &&
        name.consume_back(".master")) {
      unsigned bucket = 0;
      auto buckets = func->getAttrOfType<ArrayAttr>("tg.zero_buckets");
      if (!name.getAsInteger(10, bucket) && buckets && bucket < buckets.size())
        for (Attribute p : cast<ArrayAttr>(buckets[bucket]))
          spec.shardOf.push_back(cast<StringAttr>(p).getValue().str());
    }
    specs.push_back(spec);
  }
  return specs;
}

BatchSpec internvl::batchSpec(func::FuncOp func) {
  BatchSpec batch;
  func.walk([&](tg::EmbeddingOp e) {
    batch.vocabSize =
        cast<RankedTensorType>(e.getTable().getType()).getDimSize(0);
  });
  func.walk([&](tg::ScatterImageEmbedsOp s) {
    auto ids = cast<RankedTensorType>(s.getInputIds().getType());
    auto image = cast<RankedTensorType>(s.getImageEmbeds().getType());
    batch.imageTokenId = static_cast<int64_t>(s.getImageTokenId());
    batch.imageTokensPerSample = image.getDimSize(0) / ids.getDimSize(0);
  });
  return batch;
}
