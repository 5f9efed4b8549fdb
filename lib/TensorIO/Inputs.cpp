//===- Inputs.cpp - deterministic inputs of a training step -----------------===//

#include "internvl/TensorIO/Inputs.h"

using namespace internvl;

llvm::Expected<HostTensor>
internvl::generateArgument(const ArgSpec &spec, const BatchSpec &batch,
                           uint64_t seed,
                           const llvm::StringMap<HostTensor> &params) {
  HostTensor t = HostTensor::allocate(spec.dtype, spec.shape);
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
