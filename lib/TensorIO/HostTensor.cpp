//===- HostTensor.cpp - host tensors, .npy/.safetensors, output lines
//-------===//
//
// Compiled with exceptions on: nlohmann/json (the safetensors header) throws,
// and every exception is caught here and returned as llvm::Error.
//
//===----------------------------------------------------------------------===//

#include "internvl/TensorIO/HostTensor.h"
#include "internvl/runtime/StepIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <optional>

using namespace internvl;

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// HostTensor
//===----------------------------------------------------------------------===//

HostTensor HostTensor::allocate(ivl_dtype dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.storage = std::make_shared<std::vector<uint8_t>>(t.bytes(), 0);
  return t;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

ivl_tensor HostTensor::view() const {
  ivl_tensor v{};
  v.data = data();
  v.dtype = dtype;
  v.rank = static_cast<int32_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    v.shape[i] = shape[i];
  return v;
}

HostTensor HostTensor::reshaped(std::vector<int64_t> newShape) const {
  HostTensor t = *this;
  t.shape = std::move(newShape);
  return t;
}

float HostTensor::floatAt(int64_t i) const {
  return ivl::io::elementAsFloat(data(), dtype, i);
}

llvm::StringRef internvl::dtypeName(ivl_dtype dtype) {
  return ivl::io::dtypeName(dtype);
}

llvm::Expected<HostTensor> internvl::convertTensor(const HostTensor &t,
                                                   ivl_dtype to) {
  if (t.dtype == to)
    return t;
  HostTensor out = HostTensor::allocate(to, t.shape);
  if (!ivl::io::convertElements(t.data(), t.dtype, out.data(), to, t.numel()))
    return error("cannot convert " + dtypeName(t.dtype) + " to " +
                 dtypeName(to));
  return out;
}

//===----------------------------------------------------------------------===//
// .npy
//===----------------------------------------------------------------------===//

namespace {
/// A source element type of a file and how to widen or narrow it.
struct SourceType {
  ivl_dtype dtype;
  int64_t size;
  enum { Same, F64, I32 } convert;
};

llvm::Expected<SourceType> npyType(llvm::StringRef descr) {
  if (descr == "<f4")
    return SourceType{IVL_F32, 4, SourceType::Same};
  if (descr == "<f2")
    return SourceType{IVL_F16, 2, SourceType::Same};
  if (descr == "<f8")
    return SourceType{IVL_F32, 8, SourceType::F64};
  if (descr == "<i8")
    return SourceType{IVL_I64, 8, SourceType::Same};
  if (descr == "<i4")
    return SourceType{IVL_I64, 4, SourceType::I32};
  if (descr == "|b1")
    return SourceType{IVL_I1, 1, SourceType::Same};
  return error("unsupported element type '" + descr +
               "' (supported: <f4, <f2, <f8, <i8, <i4, |b1)");
}

/// The bytes of a tensor of `shape` with `elementSize`-byte elements, or
/// nothing when a dimension is negative or the product overflows (a file's
/// header may say anything).
std::optional<int64_t> payloadBytes(const std::vector<int64_t> &shape,
                                    int64_t elementSize) {
  int64_t bytes = elementSize;
  for (int64_t d : shape)
    if (d < 0 || llvm::MulOverflow(bytes, d, bytes))
      return std::nullopt;
  return bytes;
}

/// Copies `count` elements of `type` from `src` into a tensor of `shape`.
HostTensor decode(const SourceType &type, std::vector<int64_t> shape,
                  const uint8_t *src) {
  HostTensor t = HostTensor::allocate(type.dtype, std::move(shape));
  int64_t n = t.numel();
  if (type.convert == SourceType::Same) {
    std::memcpy(t.data(), src, t.bytes());
  } else if (type.convert == SourceType::F64) {
    for (int64_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      static_cast<float *>(t.data())[i] = static_cast<float>(d);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, src + 4 * i, 4);
      static_cast<int64_t *>(t.data())[i] = v;
    }
  }
  return t;
}
} // namespace

llvm::Expected<HostTensor> internvl::readNpy(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return error(path + ": cannot read: " + buffer.getError().message());
  llvm::StringRef data = (*buffer)->getBuffer();
  if (data.size() < 10 || !data.starts_with("\x93NUMPY"))
    return error(path + ": not a .npy file (no \\x93NUMPY magic)");
  uint8_t major = data[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen =
        static_cast<uint8_t>(data[8]) | (static_cast<uint8_t>(data[9]) << 8);
    headerStart = 10;
  } else {
    if (data.size() < 12)
      return error(path + ": truncated .npy header");
    headerLen = static_cast<uint8_t>(data[8]) |
                (static_cast<uint8_t>(data[9]) << 8) |
                (static_cast<uint8_t>(data[10]) << 16) |
                (static_cast<uint32_t>(static_cast<uint8_t>(data[11])) << 24);
    headerStart = 12;
  }
  if (headerStart + headerLen > data.size())
    return error(path + ": truncated .npy header");
  llvm::StringRef header = data.substr(headerStart, headerLen);
  auto field = [&](llvm::StringRef key) {
    size_t at = header.find("'" + key.str() + "'");
    if (at == llvm::StringRef::npos)
      return llvm::StringRef();
    llvm::StringRef rest = header.drop_front(at + key.size() + 2).ltrim(" :");
    return rest;
  };
  llvm::StringRef descr = field("descr");
  if (!descr.consume_front("'"))
    return error(path + ": .npy header has no 'descr'");
  descr = descr.take_until([](char c) { return c == '\''; });
  if (field("fortran_order").starts_with("True"))
    return error(path + ": Fortran-ordered arrays are not supported; save a "
                        "C-contiguous array");
  llvm::StringRef shapeText = field("shape");
  if (!shapeText.consume_front("("))
    return error(path + ": .npy header has no 'shape'");
  shapeText = shapeText.take_until([](char c) { return c == ')'; });
  std::vector<int64_t> shape;
  llvm::SmallVector<llvm::StringRef> parts;
  shapeText.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    int64_t d;
    if (part.getAsInteger(10, d) || d < 0)
      return error(path + ": bad dimension '" + part + "' in the .npy shape");
    shape.push_back(d);
  }
  llvm::Expected<SourceType> type = npyType(descr);
  if (!type)
    return error(path + ": " + llvm::toString(type.takeError()));
  std::optional<int64_t> bytes = payloadBytes(shape, type->size);
  if (!bytes)
    return error(path + ": the .npy shape is too large");
  size_t payload = headerStart + headerLen;
  if (data.size() - payload < static_cast<size_t>(*bytes))
    return error(path + ": the file holds fewer bytes than its shape needs");
  return decode(*type, shape,
                reinterpret_cast<const uint8_t *>(data.data() + payload));
}

llvm::Error internvl::writeNpy(llvm::StringRef path, const HostTensor &t) {
  std::string message =
      ivl::io::writeNpy(path.str(), t.dtype, t.shape, t.data());
  if (!message.empty())
    return error(message);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// .safetensors
//===----------------------------------------------------------------------===//

static llvm::Expected<SourceType> safetensorsType(llvm::StringRef dtype) {
  if (dtype == "F32")
    return SourceType{IVL_F32, 4, SourceType::Same};
  if (dtype == "BF16")
    return SourceType{IVL_BF16, 2, SourceType::Same};
  if (dtype == "F16")
    return SourceType{IVL_F16, 2, SourceType::Same};
  if (dtype == "F64")
    return SourceType{IVL_F32, 8, SourceType::F64};
  if (dtype == "I64")
    return SourceType{IVL_I64, 8, SourceType::Same};
  if (dtype == "I32")
    return SourceType{IVL_I64, 4, SourceType::I32};
  if (dtype == "BOOL")
    return SourceType{IVL_I1, 1, SourceType::Same};
  return error("unsupported dtype \"" + dtype +
               "\" (supported: F32, BF16, F16, F64, I64, I32, BOOL)");
}

llvm::Expected<llvm::StringMap<HostTensor>>
internvl::readSafetensors(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return error(path + ": cannot read: " + buffer.getError().message());
  llvm::StringRef data = (*buffer)->getBuffer();
  if (data.size() < 8)
    return error(path + ": not a .safetensors file (shorter than its header "
                        "size)");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | static_cast<uint8_t>(data[i]);
  if (headerSize > data.size() - 8)
    return error(path + ": header size " + llvm::Twine(headerSize) +
                 " exceeds the file");
  llvm::StringRef payload = data.drop_front(8 + headerSize);
  llvm::StringMap<HostTensor> tensors;
  try {
    nlohmann::json header =
        nlohmann::json::parse(data.substr(8, headerSize).str());
    for (auto &[name, info] : header.items()) {
      if (name == "__metadata__")
        continue;
      llvm::Expected<SourceType> type =
          safetensorsType(info.at("dtype").get<std::string>());
      if (!type)
        return error(path + ": tensor '" + name +
                     "': " + llvm::toString(type.takeError()));
      std::vector<int64_t> shape = info.at("shape").get<std::vector<int64_t>>();
      auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
      std::optional<int64_t> bytes = payloadBytes(shape, type->size);
      if (!bytes || offsets.size() != 2 || offsets[0] > offsets[1] ||
          offsets[1] > payload.size() ||
          offsets[1] - offsets[0] != static_cast<uint64_t>(*bytes))
        return error(path + ": tensor '" + name +
                     "': data_offsets do not match its shape and dtype");
      tensors[name] = decode(
          *type, shape,
          reinterpret_cast<const uint8_t *>(payload.data() + offsets[0]));
    }
  } catch (const nlohmann::json::exception &e) {
    return error(path + ": bad safetensors header: " + e.what());
  }
  return tensors;
}

//===----------------------------------------------------------------------===//
// Output lines
//===----------------------------------------------------------------------===//

uint64_t internvl::hashBytes(const HostTensor &t) {
  return ivl::io::hashBytes(t.data(), t.bytes());
}

std::string internvl::formatOutputLine(int64_t index, llvm::StringRef name,
                                       const HostTensor &t) {
  return ivl::io::outputLine(index, name.str(), t.dtype, t.shape, t.data());
}
