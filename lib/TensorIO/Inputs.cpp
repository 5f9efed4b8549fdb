//===- Inputs.cpp - deterministic inputs of a training step -----------------===//

#include "internvl/TensorIO/Inputs.h"

using namespace internvl;

llvm::Expected<HostTensor>
internvl::generateArgument(const ArgSpec &spec, const BatchSpec &batch,
                           uint64_t seed,
                           const llvm::StringMap<HostTensor> &params) {
  HostTensor t = HostTensor::allocate(spec.dtype, spec.shape);
  if (!spec.shardOf.empty()) {
    // A ZeRO shard (master copy, or a stage 3 parameter); internvl-run is
    // rank 0 of one.
    std::vector<ivl::io::ParamView> views;
    auto find = [&](const std::string &name) -> const ivl::io::ParamView * {
      auto it = params.find(name);
      if (it == params.end())
        return nullptr;
      views.push_back({it->second.data(), it->second.dtype,
                       it->second.numel()});
      return &views.back();
    };
    views.reserve(spec.shardOf.size());
    std::string error = ivl::io::generateShard(spec, 0, find, t.data());
    if (!error.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
    return t;
  }
  const HostTensor *param = nullptr;
  if (spec.kind == "master") {
    llvm::StringRef name = llvm::StringRef(spec.name).drop_back(
        llvm::StringRef(".master").size());
    auto it = params.find(name);
    if (it != params.end())
      param = &it->second;
  }
  std::string error = ivl::io::generateArgument(
      spec, batch, seed, param ? param->data() : nullptr,
      param ? param->dtype : IVL_F32, t.data());
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  return t;
}
