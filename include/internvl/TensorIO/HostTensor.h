//===- HostTensor.h - tensors in host memory, files and output lines ------===//
//
// What internvl-run and the compiled runners share without MLIR: host
// tensors, .npy/.safetensors reading and writing, deterministic input
// generation, and the `output ...` line both print.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_TENSORIO_HOSTTENSOR_H
#define INTERNVL_TENSORIO_HOSTTENSOR_H

#include "internvl/runtime/Runtime.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace internvl {

/// A dense row-major tensor in host memory. Copies share the storage (a
/// reshape is a new shape over the same bytes).
struct HostTensor {
  ivl_dtype dtype = IVL_F32;
  std::vector<int64_t> shape;
  std::shared_ptr<std::vector<uint8_t>> storage;

  /// Zero-filled storage for `shape`.
  static HostTensor allocate(ivl_dtype dtype, std::vector<int64_t> shape);

  int64_t numel() const;
  int64_t bytes() const { return numel() * ivl_dtype_size(dtype); }
  void *data() const { return storage ? storage->data() : nullptr; }
  ivl_tensor view() const;
  /// The same storage under another shape with as many elements.
  HostTensor reshaped(std::vector<int64_t> newShape) const;
  float floatAt(int64_t i) const;
};

/// "f32", "bf16", "f16", "i64", "i1".
llvm::StringRef dtypeName(ivl_dtype dtype);

/// Converts between element types: floats by rounding to nearest even,
/// integers exactly; float <-> integer is refused.
llvm::Expected<HostTensor> convertTensor(const HostTensor &t, ivl_dtype to);

/// Reads a NumPy .npy file (f4, f2, f8, i8, i4, b1; C order). The payload
/// must be exactly what the header's shape and dtype need.
llvm::Expected<HostTensor> readNpy(llvm::StringRef path);
/// readNpy on the bytes of a file; `name` names it in errors.
llvm::Expected<HostTensor> parseNpy(llvm::StringRef data, llvm::StringRef name);
/// Writes a .npy file; bf16 is written as f32 (exactly, NumPy has no bf16).
llvm::Error writeNpy(llvm::StringRef path, const HostTensor &t);
/// Reads every tensor of a .safetensors file (F32, BF16, F16, F64, I64, I32,
/// BOOL).
llvm::Expected<llvm::StringMap<HostTensor>>
readSafetensors(llvm::StringRef path);
/// readSafetensors on the bytes of a file: every entry typed as the format
/// says, the tensors tiling the payload without gaps or overlaps.
llvm::Expected<llvm::StringMap<HostTensor>>
parseSafetensors(llvm::StringRef data, llvm::StringRef name);

/// FNV-1a, 64 bits, over the tensor's bytes: the `hash=` of an output line.
uint64_t hashBytes(const HostTensor &t);

/// `output <index> <name> <shape>x<dtype> hash=<16 hex> mean=<%.6e>
/// absmax=<%.6e>`; the shape of a scalar is empty ("f32").
std::string formatOutputLine(int64_t index, llvm::StringRef name,
                             const HostTensor &t);

} // namespace internvl

#endif // INTERNVL_TENSORIO_HOSTTENSOR_H
