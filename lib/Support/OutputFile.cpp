//===- OutputFile.cpp - output files written whole or not at all ----------===//

#include "internvl/Support/OutputFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace internvl;

static llvm::Error writeError(llvm::StringRef path, std::error_code ec) {
  return llvm::createStringError(ec, "cannot write '%s': %s",
                                 path.str().c_str(), ec.message().c_str());
}

/// Flushes `os` and turns its error state into an llvm::Error (clearing it,
/// since a stream destroyed with an error aborts the program).
static llvm::Error finish(llvm::raw_fd_ostream &os, llvm::StringRef path) {
  os.flush();
  if (!os.has_error())
    return llvm::Error::success();
  std::error_code ec = os.error();
  os.clear_error();
  return writeError(path, ec);
}

llvm::Error internvl::flushStandardOutput() {
  return finish(llvm::outs(), "<stdout>");
}

llvm::Error internvl::writeOutputFile(
    llvm::StringRef path,
    llvm::function_ref<llvm::Error(llvm::raw_ostream &)> write) {
  if (path == "-") {
    if (llvm::Error e = write(llvm::outs()))
      return e;
    return flushStandardOutput();
  }
  llvm::sys::fs::file_status status;
  bool exists = !llvm::sys::fs::status(path, status);
  if (exists && llvm::sys::fs::is_directory(status))
    return llvm::createStringError(
        std::make_error_code(std::errc::is_a_directory),
        "cannot write '%s': it is a directory", path.str().c_str());
  if (exists && !llvm::sys::fs::is_regular_file(status)) {
    // A device or a pipe: there is nothing to rename over.
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
    if (ec)
      return writeError(path, ec);
    llvm::Error written = write(os);
    llvm::Error flushed = finish(os, path);
    if (written)
      return llvm::joinErrors(std::move(written), std::move(flushed));
    return flushed;
  }
  // Rename over the file a symlink points to, not over the link.
  llvm::SmallString<256> target(path);
  if (exists)
    if (std::error_code ec = llvm::sys::fs::real_path(path, target))
      return writeError(path, ec);
  llvm::Expected<llvm::sys::fs::TempFile> temp =
      llvm::sys::fs::TempFile::create(target + ".tmp-%%%%%%");
  if (!temp)
    return writeError(path, llvm::errorToErrorCode(temp.takeError()));
  llvm::Error result = llvm::Error::success();
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    llvm::Error written = write(os);
    llvm::Error flushed = finish(os, path);
    result = written ? llvm::joinErrors(std::move(written), std::move(flushed))
                     : std::move(flushed);
  }
  if (result) {
    llvm::consumeError(temp->discard());
    return result;
  }
  if (llvm::Error e = temp->keep(target))
    return writeError(path, llvm::errorToErrorCode(std::move(e)));
  return llvm::Error::success();
}

llvm::Error internvl::writeOutputFile(llvm::StringRef path,
                                      llvm::StringRef contents) {
  return writeOutputFile(path, [&](llvm::raw_ostream &os) {
    os << contents;
    return llvm::Error::success();
  });
}
