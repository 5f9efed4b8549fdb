//===- PassOptions.h - pass option errors that name the pass ----*- C++ -*-===//
//
// mlir's option parser reports an unknown key as "<Pass-Options-Parser>: no
// such option x" and a value llvm::cl cannot read by printing its own line
// and then an empty error. Passes derive from PassWithOptionErrors<Base> so
// that both name the pass flag and list its options.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_PASSOPTIONS_H
#define INTERNVL_SUPPORT_PASSOPTIONS_H

#include "mlir/Pass/Pass.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace internvl {

/// The option names of `pass`, read off its textual pipeline form
/// (`tg-remat{budget= lm=auto vision=force}`).
inline std::string passOptionNames(mlir::Pass &pass) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pass.printAsTextualPipeline(os);
  llvm::StringRef body =
      llvm::StringRef(text).split('{').second.rsplit('}').first;
  std::string names;
  llvm::SmallVector<llvm::StringRef> entries;
  body.split(entries, ' ', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef entry : entries) {
    llvm::StringRef name = entry.split('=').first.trim();
    if (name.empty())
      continue;
    names += (names.empty() ? "" : ", ") + name.str();
  }
  return names.empty() ? "none" : names;
}

/// The message for options `options` of `pass` that mlir's parser refused
/// with `message` (empty when llvm::cl printed its own).
inline std::string describeOptionError(mlir::Pass &pass,
                                       llvm::StringRef options,
                                       llvm::StringRef message) {
  std::string flag = "--" + pass.getArgument().str();
  llvm::StringRef text = llvm::StringRef(message).trim();
  std::string what;
  if (text.consume_front("<Pass-Options-Parser>: no such option "))
    what = "no option '" + text.str() + "'";
  else if (!text.empty())
    what = text.str();
  else
    what = "cannot read the options '" + options.str() + "' (see above)";
  return flag + ": " + what + "; its options: " + passOptionNames(pass);
}

/// Wraps a generated pass base (`impl::TGRematBase<RematPass>`) with those
/// messages.
template <typename PassBase> class PassWithOptionErrors : public PassBase {
public:
  using PassBase::PassBase;

  mlir::LogicalResult
  initializeOptions(llvm::StringRef options,
                    llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)>
                        errorHandler) override {
    std::string message;
    mlir::LogicalResult parsed =
        PassBase::initializeOptions(options, [&](const llvm::Twine &m) {
          message = m.str();
          return mlir::failure();
        });
    if (mlir::succeeded(parsed))
      return mlir::success();
    return errorHandler(describeOptionError(*this, options, message));
  }
};

} // namespace internvl

#endif // INTERNVL_SUPPORT_PASSOPTIONS_H
