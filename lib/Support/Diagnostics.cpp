//===- Diagnostics.cpp - compact diagnostics for the tools ----------------===//

#include "internvl/Support/Diagnostics.h"

#include <algorithm>

using namespace internvl;

/// Characters of a long source line shown on each side of the column.
static constexpr size_t kLineWindow = 60;

std::string internvl::clipText(llvm::StringRef text, size_t max) {
  if (text.size() <= max)
    return text.str();
  size_t head = max * 2 / 3, tail = max - head;
  return (text.take_front(head) + " ... (" +
          llvm::Twine(text.size() - head - tail) + " characters cut) ... " +
          text.take_back(tail))
      .str();
}

static llvm::StringRef kindName(llvm::SourceMgr::DiagKind kind) {
  switch (kind) {
  case llvm::SourceMgr::DK_Error:
    return "error";
  case llvm::SourceMgr::DK_Warning:
    return "warning";
  case llvm::SourceMgr::DK_Remark:
    return "remark";
  case llvm::SourceMgr::DK_Note:
    return "note";
  }
  return "error";
}

void internvl::printCompactDiagnostic(const llvm::SMDiagnostic &diag,
                                      llvm::StringRef tool,
                                      llvm::raw_ostream &os) {
  bool located = diag.getLineNo() > 0;
  if (located) {
    os << diag.getFilename() << ":" << diag.getLineNo() << ":"
       << diag.getColumnNo() + 1 << ": ";
  } else {
    os << tool << ": ";
  }
  os << kindName(diag.getKind()) << ": " << clipText(diag.getMessage()) << "\n";
  if (!located || diag.getColumnNo() < 0)
    return;
  llvm::StringRef line = diag.getLineContents();
  size_t column = std::min<size_t>(diag.getColumnNo(), line.size());
  size_t from = 0, to = line.size();
  if (line.size() > 2 * kLineWindow) {
    from = column > kLineWindow ? column - kLineWindow : 0;
    to = std::min(line.size(), column + kLineWindow);
  }
  llvm::StringRef before = from ? "..." : "",
                  after = to < line.size() ? "..." : "";
  std::string shown = (before + line.slice(from, to) + after).str();
  // Tabs would misplace the caret.
  std::replace(shown.begin(), shown.end(), '\t', ' ');
  os << shown << "\n"
     << std::string(before.size() + column - from, ' ') << "^\n";
}

void internvl::useCompactDiagnostics(llvm::SourceMgr &mgr, const char *tool) {
  mgr.setDiagHandler(
      [](const llvm::SMDiagnostic &diag, void *context) {
        printCompactDiagnostic(diag, static_cast<const char *>(context),
                               llvm::errs());
      },
      const_cast<char *>(tool));
}
