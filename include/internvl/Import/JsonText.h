//===- JsonText.h - a JSON value as an error message shows it ---*- C++ -*-===//
//
// Error messages quote the value a user wrote. Scalars print in full;
// arrays and objects print only when small and shallow, since printing
// recurses and a config file can nest deep enough to overflow the stack.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_IMPORT_JSONTEXT_H
#define INTERNVL_IMPORT_JSONTEXT_H

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

namespace internvl {

/// `value` as JSON text if it is a scalar or a small, shallow container;
/// otherwise "an array of N elements" / "an object of N keys".
inline std::string jsonText(const nlohmann::json &value) {
  if (!value.is_structured())
    return value.dump();
  // Depth-2 containers of at most 8 scalars print in full.
  bool small = value.size() <= 8;
  for (const nlohmann::json &item : value)
    small = small && (!item.is_structured() ||
                      (item.size() <= 8 &&
                       std::none_of(item.begin(), item.end(),
                                    [](const nlohmann::json &x) {
                                      return x.is_structured();
                                    })));
  if (small)
    return value.dump();
  size_t n = value.size();
  return std::string(value.is_array() ? "an array of " : "an object of ") +
         std::to_string(n) + (value.is_array() ? " element" : " key") +
         (n == 1 ? "" : "s");
}

} // namespace internvl

#endif // INTERNVL_IMPORT_JSONTEXT_H
