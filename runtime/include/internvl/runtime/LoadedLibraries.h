//===- LoadedLibraries.h - the CUDA libraries loaded ------------*- C++ -*-===//
//
// The CUDA runner and the CUDA conformance suite print the files the loader
// chose for cuBLAS, cuBLASLt, NCCL and the CUDA runtime: on a machine whose
// libraries live in several places (toolkit, pip packages) that says which
// one ran. Plain C++17 and glibc's dl_iterate_phdr.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_LOADEDLIBRARIES_H
#define INTERNVL_RUNTIME_LOADEDLIBRARIES_H

#include <link.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ivl {

/// The resolved paths of the loaded shared objects whose file name starts
/// with libcublas, libcublasLt, libnccl or libcudart, in load order.
inline std::vector<std::string> loadedCudaLibraries() {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, size_t, void *data) {
        const char *path = info->dlpi_name;
        if (!path || !*path)
          return 0;
        const char *base = std::strrchr(path, '/');
        base = base ? base + 1 : path;
        for (const char *prefix : {"libcublas", "libnccl", "libcudart"}) {
          if (std::strncmp(base, prefix, std::strlen(prefix)) != 0)
            continue;
          char resolved[PATH_MAX];
          auto *out = static_cast<std::vector<std::string> *>(data);
          out->push_back(::realpath(path, resolved) ? resolved : path);
          break;
        }
        return 0;
      },
      &paths);
  return paths;
}

/// "loaded: a, b, c", or empty when none is loaded (a CPU build).
inline std::string loadedCudaLibrariesLine() {
  std::string line;
  for (const std::string &path : loadedCudaLibraries())
    line += (line.empty() ? "loaded " : ", ") + path;
  return line;
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_LOADEDLIBRARIES_H
