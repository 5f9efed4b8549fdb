//===- HostTensor.cpp - host tensors, .npy/.safetensors, output lines -----===//
//
// Compiled with exceptions on: nlohmann/json (the safetensors header) throws,
// and every exception is caught here and returned as llvm::Error.
//
//===----------------------------------------------------------------------===//

#include "internvl/TensorIO/HostTensor.h"
#include "internvl/runtime/CheckedMath.h"
#include "internvl/runtime/StepIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>

using namespace internvl;

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// A name or value from a file, cut for a message.
static std::string clipped(llvm::StringRef text) {
  return text.size() <= 200 ? text.str()
                            : (text.take_front(200) + "...").str();
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
  // Shapes come from verified types or checked files: within the ceiling.
  std::optional<int64_t> n = ivl::checkedProduct(shape.data(), shape.size());
  assert(n && "tensor shape beyond the ceiling");
  return n.value_or(0);
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

/// The bytes of a tensor of `shape` with `elementSize`-byte elements in the
/// file, or nothing when a dimension is negative, the product overflows or
/// the tensor (as `dtype`, what it is decoded to) is beyond the ceiling of
/// any tensor (a file's header may say anything).
std::optional<int64_t> payloadBytes(const std::vector<int64_t> &shape,
                                    const SourceType &type) {
  if (!ivl::fitsTensorCeiling(shape.data(), shape.size(),
                              ivl_dtype_size(type.dtype)))
    return std::nullopt;
  return ivl::checkedTensorBytes(shape.data(), shape.size(), type.size);
}

/// "(2, 3)", for messages.
std::string shapeText(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

/// Copies the elements of `type` at `src` into a tensor of `shape`.
HostTensor decode(const SourceType &type, std::vector<int64_t> shape,
                  const uint8_t *src) {
  HostTensor t = HostTensor::allocate(type.dtype, std::move(shape));
  int64_t n = t.numel();
  if (n == 0)
    return t;
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

/// The value of `'key': ...` in a .npy header dictionary, up to the next
/// top-level comma or the closing brace.
std::optional<llvm::StringRef> npyField(llvm::StringRef header,
                                        llvm::StringRef key) {
  size_t at = header.find(("'" + key + "'").str());
  if (at == llvm::StringRef::npos)
    return std::nullopt;
  llvm::StringRef rest = header.drop_front(at + key.size() + 2).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  return rest.ltrim();
}
} // namespace

llvm::Expected<HostTensor> internvl::parseNpy(llvm::StringRef data,
                                              llvm::StringRef name) {
  auto bad = [&](const llvm::Twine &why) {
    return error(clipped(name) + ": " + why);
  };
  if (data.size() < 10 || !data.starts_with("\x93NUMPY"))
    return bad("not a .npy file (no \\x93NUMPY magic)");
  uint8_t major = data[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen =
        static_cast<uint8_t>(data[8]) | (static_cast<uint8_t>(data[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12)
      return bad("truncated .npy header");
    headerLen = static_cast<uint8_t>(data[8]) |
                (static_cast<uint8_t>(data[9]) << 8) |
                (static_cast<uint8_t>(data[10]) << 16) |
                (static_cast<uint32_t>(static_cast<uint8_t>(data[11])) << 24);
    headerStart = 12;
  } else {
    return bad("unsupported .npy version " + llvm::Twine(int(major)) +
               " (supported: 1, 2, 3)");
  }
  if (headerLen > data.size() - headerStart)
    return bad("truncated .npy header");
  llvm::StringRef header = data.substr(headerStart, headerLen).trim();
  if (!header.starts_with("{") || !header.ends_with("}"))
    return bad(".npy header is not a dictionary");
  std::optional<llvm::StringRef> descr = npyField(header, "descr");
  if (!descr || !descr->consume_front("'"))
    return bad(".npy header has no 'descr'");
  llvm::StringRef dtype = descr->take_until([](char c) { return c == '\''; });
  std::optional<llvm::StringRef> order = npyField(header, "fortran_order");
  if (!order || !(order->starts_with("False") || order->starts_with("True")))
    return bad(".npy header has no 'fortran_order' of True or False");
  if (order->starts_with("True"))
    return bad("Fortran-ordered arrays are not supported; save a "
               "C-contiguous array");
  std::optional<llvm::StringRef> shapeField = npyField(header, "shape");
  if (!shapeField || !shapeField->consume_front("(") ||
      shapeField->find(')') == llvm::StringRef::npos)
    return bad(".npy header has no 'shape' tuple");
  llvm::StringRef shapeList = shapeField->take_until([](char c) { return c == ')'; });
  std::vector<int64_t> shape;
  llvm::SmallVector<llvm::StringRef> parts;
  shapeList.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    int64_t d;
    if (part.getAsInteger(10, d) || d < 0)
      return bad("bad dimension '" + clipped(part) + "' in the .npy shape");
    shape.push_back(d);
  }
  llvm::Expected<SourceType> type = npyType(dtype);
  if (!type)
    return bad(llvm::toString(type.takeError()));
  std::optional<int64_t> bytes = payloadBytes(shape, *type);
  if (!bytes)
    return bad("the .npy shape " + shapeText(shape) +
               " is beyond the 1 TiB ceiling of one tensor");
  size_t payload = headerStart + headerLen;
  if (data.size() - payload != static_cast<uint64_t>(*bytes))
    return bad("holds " + llvm::Twine(data.size() - payload) +
               " bytes after its header, but shape " + shapeText(shape) +
               " of '" + dtype + "' needs " + llvm::Twine(*bytes));
  return decode(*type, shape,
                reinterpret_cast<const uint8_t *>(data.data() + payload));
}

llvm::Expected<HostTensor> internvl::readNpy(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return error(path + ": cannot read: " + buffer.getError().message());
  return parseNpy((*buffer)->getBuffer(), path);
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

/// The safetensors format's own limit on its header.
static constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

llvm::Expected<llvm::StringMap<HostTensor>>
internvl::parseSafetensors(llvm::StringRef data, llvm::StringRef name) {
  auto bad = [&](const llvm::Twine &why) {
    return error(clipped(name) + ": " + why);
  };
  if (data.size() < 8)
    return bad("not a .safetensors file (shorter than its header size)");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | static_cast<uint8_t>(data[i]);
  if (headerSize > data.size() - 8)
    return bad("header size " + llvm::Twine(headerSize) + " exceeds the file");
  if (headerSize > kMaxSafetensorsHeader)
    return bad("header size " + llvm::Twine(headerSize) +
               " exceeds the format's limit of 100000000 bytes");
  llvm::StringRef payload = data.drop_front(8 + headerSize);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data.substr(8, headerSize).str());
  } catch (const nlohmann::json::exception &e) {
    return bad(std::string("the header is not JSON: ") + e.what());
  }
  if (!header.is_object())
    return bad("the header is not a JSON object");
  struct Entry {
    std::string name;
    SourceType type;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto item : header.items()) {
    const std::string &key = item.key();
    const nlohmann::json &info = item.value();
    if (key == "__metadata__")
      continue;
    auto badTensor = [&](const llvm::Twine &why) {
      return bad("tensor '" + clipped(key) + "': " + why);
    };
    if (!info.is_object())
      return badTensor("expected an object with dtype, shape and "
                       "data_offsets");
    auto dtype = info.find("dtype");
    if (dtype == info.end() || !dtype->is_string())
      return badTensor("'dtype' must be a string");
    llvm::Expected<SourceType> type =
        safetensorsType(dtype->get<std::string>());
    if (!type)
      return badTensor(llvm::toString(type.takeError()));
    auto shapeJson = info.find("shape");
    if (shapeJson == info.end() || !shapeJson->is_array())
      return badTensor("'shape' must be an array of dimensions");
    std::vector<int64_t> shape;
    for (const nlohmann::json &d : *shapeJson) {
      if (!d.is_number_unsigned() ||
          d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return badTensor("'shape' holds " + clipped(d.dump()) +
                         ", not a non-negative integer");
      shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
    }
    auto offsets = info.find("data_offsets");
    if (offsets == info.end() || !offsets->is_array() ||
        offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      return badTensor("'data_offsets' must be [begin, end]");
    uint64_t begin = (*offsets)[0].get<uint64_t>(),
             end = (*offsets)[1].get<uint64_t>();
    std::optional<int64_t> bytes = payloadBytes(shape, *type);
    if (!bytes)
      return badTensor("shape " + shapeText(shape) +
                       " is beyond the 1 TiB ceiling of one tensor");
    if (begin > end || end > payload.size() ||
        end - begin != static_cast<uint64_t>(*bytes))
      return badTensor("data_offsets [" + llvm::Twine(begin) + ", " +
                       llvm::Twine(end) + "] do not hold the " +
                       llvm::Twine(*bytes) + " bytes of shape " +
                       shapeText(shape) + " in a payload of " +
                       llvm::Twine(payload.size()) + " bytes");
    entries.push_back({key, *type, std::move(shape), begin, end});
  }
  // The format: the tensors tile the payload, without holes or overlaps.
  std::vector<const Entry *> byOffset;
  for (const Entry &e : entries)
    byOffset.push_back(&e);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const Entry *a, const Entry *b) {
              return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
            });
  uint64_t covered = 0;
  for (const Entry *e : byOffset) {
    if (e->begin != covered)
      return bad("tensor '" + clipped(e->name) + "' starts at byte " +
                 llvm::Twine(e->begin) + " of the payload, expected " +
                 llvm::Twine(covered) +
                 " (the tensors must follow each other without gaps or "
                 "overlaps)");
    covered = e->end;
  }
  if (covered != payload.size())
    return bad("the tensors end at byte " + llvm::Twine(covered) +
               " but the payload holds " + llvm::Twine(payload.size()));
  llvm::StringMap<HostTensor> tensors;
  for (const Entry &e : entries)
    tensors[e.name] = decode(
        e.type, e.shape,
        reinterpret_cast<const uint8_t *>(payload.data() + e.begin));
  return tensors;
}

llvm::Expected<llvm::StringMap<HostTensor>>
internvl::readSafetensors(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  if (!buffer)
    return error(path + ": cannot read: " + buffer.getError().message());
  return parseSafetensors((*buffer)->getBuffer(), path);
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
