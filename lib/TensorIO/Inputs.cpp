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
    ivl::io::ParamView view;
    auto find = [&](const std::string &name) -> const ivl::io::ParamView * {
      auto it = params.find(name);
      if (it == params.end())
        return nullptr;
      view = {it->second.data(), it->second.dtype, it->second.numel()};
      return &view;
    };
    std::string error = ivl::io::generateShard(spec, 0, find, t.data());
    if (!error.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
    return t;
  }
  ivl::io::ParamView view;
  const ivl::io::ParamView *param = nullptr;
  if (spec.kind == "master") {
    auto it = params.find(ivl::io::parameterOfMaster(spec.name));
    if (it != params.end()) {
      view = {it->second.data(), it->second.dtype, it->second.numel()};
      param = &view;
    }
  }
  std::string error =
      ivl::io::generateArgument(spec, batch, seed, param, t.data());
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  return t;
}
