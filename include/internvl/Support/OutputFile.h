//===- OutputFile.h - output files written whole or not at all --*- C++ -*-===//
//
// Every file a tool writes goes through writeOutputFile: a regular file is
// written to a temporary file beside it and renamed over it only when
// everything was written, so `-o` may name the input, a full disk leaves
// nothing behind, and a write error is a message instead of LLVM's fatal
// "IO failure on output stream".
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_SUPPORT_OUTPUTFILE_H
#define INTERNVL_SUPPORT_OUTPUTFILE_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

namespace internvl {

/// Writes `path` through `write`. "-" is standard output; a path naming
/// something other than a regular file (/dev/null, /dev/full, a pipe) is
/// written in place; otherwise the data goes to `<path>.tmp-XXXXXX`, which
/// replaces `path` (or the file a symlink there points to) once `write`
/// succeeded and every byte reached the disk. Errors name the file.
llvm::Error
writeOutputFile(llvm::StringRef path,
                llvm::function_ref<llvm::Error(llvm::raw_ostream &)> write);

/// writeOutputFile for text that is already in memory.
llvm::Error writeOutputFile(llvm::StringRef path, llvm::StringRef contents);

/// Flushes standard output; a write error (stdout on a full disk, a closed
/// pipe) becomes an error instead of a fatal one when the program exits.
llvm::Error flushStandardOutput();

} // namespace internvl

#endif // INTERNVL_SUPPORT_OUTPUTFILE_H
