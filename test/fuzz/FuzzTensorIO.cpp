//===- FuzzTensorIO.cpp - fuzz target: .npy and .safetensors readers ------===//
//
// An input is the bytes of a tensor file: .npy when it starts with NumPy's
// magic, .safetensors otherwise. What a reader accepts must be a tensor
// whose bytes match its shape: every element is read (the output line's
// hash and statistics), converted to each float type, and a .npy is
// written back and read again to the same bytes.
//
//===----------------------------------------------------------------------===//

#include "internvl/TensorIO/HostTensor.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>
#include <unistd.h>

using namespace internvl;

namespace {

[[noreturn]] void bug(const llvm::Twine &what) {
  llvm::errs() << "fuzz-tensor-io: " << what << "\n";
  std::abort();
}

/// The tensor written as .npy and read back: the same bytes (bf16 comes
/// back as the f32 it was widened to).
void roundTrip(const HostTensor &t) {
  static std::string path =
      "/tmp/internvl-fuzz-tensor-io-" + std::to_string(::getpid()) + ".npy";
  if (llvm::Error e = writeNpy(path, t))
    bug("writeNpy failed: " + llvm::toString(std::move(e)));
  llvm::Expected<HostTensor> back = readNpy(path);
  if (!back)
    bug("a written .npy does not read back: " +
        llvm::toString(back.takeError()));
  llvm::Expected<HostTensor> expected =
      t.dtype == IVL_BF16 ? convertTensor(t, IVL_F32) : HostTensor(t);
  if (!expected)
    bug(llvm::toString(expected.takeError()));
  if (back->shape != expected->shape || back->dtype != expected->dtype ||
      (expected->bytes() &&
       std::memcmp(back->data(), expected->data(), expected->bytes()) != 0))
    bug("a .npy written and read back differs from its tensor");
}

void exercise(const HostTensor &t) {
  (void)formatOutputLine(0, "x", t);
  bool isFloat =
      t.dtype == IVL_F32 || t.dtype == IVL_BF16 || t.dtype == IVL_F16;
  for (ivl_dtype to : {IVL_F32, IVL_BF16, IVL_F16, IVL_I64, IVL_I1}) {
    llvm::Expected<HostTensor> converted = convertTensor(t, to);
    bool toFloat = to == IVL_F32 || to == IVL_BF16 || to == IVL_F16;
    if (!converted) {
      llvm::consumeError(converted.takeError());
      if (isFloat == toFloat)
        bug("convertTensor refused a conversion within floats or integers");
      continue;
    }
    if (converted->numel() != t.numel())
      bug("convertTensor changed the element count");
  }
  // Writing is bounded by the disk, not the fuzzer: small tensors only.
  if (t.bytes() <= (1 << 20))
    roundTrip(t);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  if (bytes.starts_with("\x93NUMPY")) {
    llvm::Expected<HostTensor> t = parseNpy(bytes, "fuzz.npy");
    if (!t) {
      llvm::consumeError(t.takeError());
      return 0;
    }
    exercise(*t);
    return 0;
  }
  llvm::Expected<llvm::StringMap<HostTensor>> all =
      parseSafetensors(bytes, "fuzz.safetensors");
  if (!all) {
    llvm::consumeError(all.takeError());
    return 0;
  }
  for (auto &entry : *all)
    exercise(entry.getValue());
  return 0;
}
