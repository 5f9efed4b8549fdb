//===- Diagnostics.h - compact diagnostics for the tools --------*- C++ -*-===//
//
// A step's signature can be a line of megabytes and a bad attribute a string
// of megabytes; diagnostics quote neither in full. Messages are cut to
// kMaxMessageChars and the echoed source line to a window around the column.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_DIAGNOSTICS_H
#define INTERNVL_SUPPORT_DIAGNOSTICS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace internvl {

/// The longest message a diagnostic prints in full.
inline constexpr size_t kMaxMessageChars = 1000;

/// `text` if at most `max` characters long, else its start and end around
/// "... (N characters cut) ...".
std::string clipText(llvm::StringRef text, size_t max = kMaxMessageChars);

/// Prints `diag` as `file:line:col: error: message`, the source line (a
/// window of it around the column when long) and a caret; a diagnostic
/// without a location as `tool: error: message`.
void printCompactDiagnostic(const llvm::SMDiagnostic &diag,
                            llvm::StringRef tool, llvm::raw_ostream &os);

/// Makes every diagnostic `mgr` prints (MLIR's SourceMgrDiagnosticHandler
/// prints through it) compact, on stderr. `tool` must outlive `mgr`.
void useCompactDiagnostics(llvm::SourceMgr &mgr, const char *tool);

} // namespace internvl

#endif // INTERNVL_SUPPORT_DIAGNOSTICS_H
