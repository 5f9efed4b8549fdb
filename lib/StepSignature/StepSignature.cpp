//===- StepSignature.cpp - a step's arguments as the runtime sees them ----===//

#include "internvl/StepSignature/StepSignature.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "mlir/IR/BuiltinOps.h"

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

namespace {
/// Shape, element type and initialiser (tg.init's syntax; parameters without
/// one draw from N(0, 0.02), the usual Linear init).
void setTypeAndInit(ArgSpec &spec, RankedTensorType type, StringRef init) {
  spec.shape.assign(type.getShape().begin(), type.getShape().end());
  llvm::Expected<ivl_dtype> dtype = runtimeType(type.getElementType());
  spec.dtype = dtype ? *dtype : IVL_F32;
  if (!dtype)
    llvm::consumeError(dtype.takeError());
  spec.normalInit = true;
  spec.initValue = 0.02;
  if (FailureOr<tg::Initializer> parsed = tg::parseInitializer(init);
      succeeded(parsed)) {
    spec.normalInit = parsed->kind == tg::Initializer::Normal;
    spec.initValue = parsed->value;
  }
}
} // namespace

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
    setTypeAndInit(spec, cast<RankedTensorType>(func.getArgument(i).getType()),
                   str(tg::TGDialect::getInitAttrName()));
    // A ZeRO shard (master copy; parameter in stage 3) holds its bucket's
    // parameters.
    StringRef name = spec.name;
    if ((spec.kind == "master" || spec.kind == "param") &&
        name.consume_front("zero.bucket") &&
        (name.consume_back(".master") || name.consume_back(".param"))) {
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

// The module's #tg.loss_reduction and the runtime's enum are one list.
static_assert(static_cast<int>(tg::LossReduction::Token) ==
                      static_cast<int>(ivl::io::LossReduction::Token) &&
                  static_cast<int>(tg::LossReduction::Sample) ==
                      static_cast<int>(ivl::io::LossReduction::Sample) &&
                  static_cast<int>(tg::LossReduction::Square) ==
                      static_cast<int>(ivl::io::LossReduction::Square),
              "tg::LossReduction and ivl::io::LossReduction differ");

BatchSpec internvl::batchSpec(func::FuncOp func) {
  BatchSpec batch;
  func.walk([&](tg::EmbeddingOp e) {
    batch.vocabSize =
        cast<RankedTensorType>(e.getTable().getType()).getDimSize(0);
  });
  func.walk([&](tg::CrossEntropyOp c) {
    batch.ignoreIndex = static_cast<int64_t>(c.getIgnoreIndex());
  });
  func.walk([&](tg::LinearCrossEntropyOp c) {
    batch.ignoreIndex = static_cast<int64_t>(c.getIgnoreIndex());
  });
  func.walk([&](tg::ScatterImageEmbedsOp s) {
    auto ids = cast<RankedTensorType>(s.getInputIds().getType());
    auto image = cast<RankedTensorType>(s.getImageEmbeds().getType());
    batch.imageTokenId = static_cast<int64_t>(s.getImageTokenId());
    int64_t rows = ids.getDimSize(0);
    batch.imageTokensPerSample = rows ? image.getDimSize(0) / rows : 0;
    if (Value flags = s.getImageFlags()) {
      int64_t tiles = cast<RankedTensorType>(flags.getType()).getDimSize(0);
      batch.pack.tilesPerRow = rows ? tiles / rows : 0;
      batch.pack.tokensPerTile = image.getDimSize(0) / tiles;
    }
  });
  // A packed step: its rows' boundaries and how its loss weighs samples.
  func.walk([&](tg::AttentionOp a) {
    if (Value cu = a.getCuSeqlens()) {
      auto type = cast<RankedTensorType>(cu.getType());
      batch.packed = true;
      batch.pack.capacity = type.getDimSize(1) - 1;
      batch.pack.rowLength =
          cast<RankedTensorType>(a.getQuery().getType()).getDimSize(1);
    }
  });
  if (auto module = func->getParentOfType<mlir::ModuleOp>())
    if (auto reduction =
            module->getAttrOfType<tg::LossReductionAttr>("tg.loss_reduction"))
      batch.pack.reduction =
          static_cast<ivl::io::LossReduction>(reduction.getValue());
  return batch;
}

std::vector<ArgSpec> internvl::zeroParameterSpecs(func::FuncOp func) {
  std::vector<ArgSpec> specs;
  auto params = func->getAttrOfType<ArrayAttr>("tg.zero_params");
  if (!params)
    return specs;
  for (Attribute attr : params) {
    auto info = cast<DictionaryAttr>(attr);
    ArgSpec spec;
    spec.name = info.getAs<StringAttr>("name").getValue().str();
    spec.kind = "param";
    auto init = info.getAs<StringAttr>("init");
    setTypeAndInit(
        spec, cast<RankedTensorType>(info.getAs<TypeAttr>("type").getValue()),
        init ? init.getValue() : "");
    specs.push_back(spec);
  }
  return specs;
}
