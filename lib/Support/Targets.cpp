//===- Targets.cpp - the GPUs plans are made for --------------------------===//

#include "internvl/Support/Targets.h"

using namespace internvl;

// Datasheet figures: dense bf16 tensor-core throughput and HBM bandwidth
// (SXM parts); memory as nvidia-smi reports it. Host links: the PCIe
// generation each part has, at the rate pinned cudaMemcpyAsync reaches in
// one direction (about 80% of the x16 link's 15.75 / 31.5 / 63 GB/s for
// Gen3 / Gen4 / Gen5 after encoding and packet overhead; docs/remat.md).
static const GpuTarget kTargets[] = {
    {"h100", "h100-80gb", 81559, {989e12, 3.35e12}, 50e9, "PCIe Gen5 x16"},
    {"h200", "h200-141gb", 143771, {989e12, 4.8e12}, 50e9, "PCIe Gen5 x16"},
    {"a100", "a100-80gb", 81920, {312e12, 2.0e12}, 25e9, "PCIe Gen4 x16"},
    {"a100", "a100-40gb", 40960, {312e12, 1.555e12}, 25e9, "PCIe Gen4 x16"},
    // Ada: bf16 tensor cores with f32 accumulation, 1008 GB/s GDDR6X.
    {"rtx4090", "rtx4090-24gb", 24564, {165.2e12, 1.008e12}, 25e9,
     "PCIe Gen4 x16"},
    // Volta has no bf16: its fp16 tensor-core rate, 900 GB/s HBM2.
    {"v100", "v100-32gb", 32510, {125e12, 0.9e12}, 12e9, "PCIe Gen3 x16"},
};

llvm::ArrayRef<GpuTarget> internvl::gpuTargets() { return kTargets; }

const GpuTarget *internvl::findGpu(llvm::StringRef gpu) {
  for (const GpuTarget &t : kTargets)
    if (t.gpu == gpu)
      return &t;
  return nullptr;
}

const GpuTarget *internvl::findCard(llvm::StringRef card) {
  for (const GpuTarget &t : kTargets)
    if (t.card == card)
      return &t;
  return nullptr;
}

static std::string joined(llvm::ArrayRef<std::string> names,
                          llvm::StringRef last) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? last.str() : ", ") + names[i];
  return s;
}

std::string internvl::gpuNames() {
  std::vector<std::string> names;
  for (const GpuTarget &t : kTargets)
    if (findGpu(t.gpu) == &t)
      names.push_back(t.gpu.str());
  return joined(names, " or ");
}

std::string internvl::cardNames() {
  std::vector<std::string> names;
  for (const GpuTarget &t : kTargets)
    names.push_back(t.card.str());
  return joined(names, ", ");
}
