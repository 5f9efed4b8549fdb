//===- Units.cpp - byte sizes as people write them ------------------------===//

#include "internvl/Support/Units.h"
#include "internvl/Support/Targets.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace internvl;

std::string internvl::formatGiB(int64_t bytes) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.2f GiB", bytes / double(1ll << 30));
  return s;
}

llvm::Expected<int64_t> internvl::parseByteSize(llvm::StringRef text) {
  llvm::StringRef t = text.trim();
  size_t digits = 0;
  while (digits < t.size() && (std::isdigit(t[digits]) || t[digits] == '.'))
    ++digits;
  llvm::StringRef number = t.take_front(digits);
  llvm::StringRef unit = t.drop_front(digits).trim();
  double value;
  if (number.empty() || number.getAsDouble(value))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "'" + text +
            "' is not a size (expected a "
            "number and a unit: B, KiB, MiB, GiB, TiB, "
            "KB, MB, GB, TB)");
  double scale = llvm::StringSwitch<double>(unit)
                     .Cases("", "B", 1.0)
                     .Case("KiB", 1024.0)
                     .Case("MiB", 1024.0 * 1024)
                     .Case("GiB", 1024.0 * 1024 * 1024)
                     .Case("TiB", 1024.0 * 1024 * 1024 * 1024)
                     .Case("KB", 1e3)
                     .Case("MB", 1e6)
                     .Case("GB", 1e9)
                     .Case("TB", 1e12)
                     .Default(-1.0);
  if (scale < 0)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "unknown unit '" + unit + "' in '" + text +
                                       "' (allowed: B, KiB, MiB, GiB, TiB, "
                                       "KB, MB, GB, TB)");
  // Up to 1 PiB: beyond any card, and far from int64 overflow in the sums
  // the plan makes with it.
  double bytes = value * scale;
  if (!(bytes <= double(1ll << 50)))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "'" + text +
                                       "' is larger than 1 PiB, the largest "
                                       "size accepted");
  return static_cast<int64_t>(std::llround(bytes));
}

llvm::Expected<int64_t> internvl::parseMemoryBudget(llvm::StringRef text) {
  if (const GpuTarget *card = findCard(text))
    return card->memoryMiB * (1ll << 20) - kCardReserveBytes;
  llvm::Expected<int64_t> bytes = parseByteSize(text);
  if (!bytes)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "budget: " +
                                       llvm::toString(bytes.takeError()) +
                                       ", or a card: " + cardNames());
  return *bytes;
}
