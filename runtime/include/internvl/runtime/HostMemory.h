//===- HostMemory.h - how much memory this process may use ------*- C++ -*-===//
//
// internvl-run, the runner and the CPU runtime refuse to allocate more than
// the machine can hold, with a message, instead of being killed part way.
// Plain C++17 and POSIX.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_HOSTMEMORY_H
#define INTERNVL_RUNTIME_HOSTMEMORY_H

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace ivl {

/// Bytes of memory this process may use: the machine's physical memory, or
/// its container's (cgroup's) limit when that is lower.
inline int64_t hostMemoryBytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGESIZE);
  int64_t bytes = pages > 0 && pageSize > 0
                      ? static_cast<int64_t>(pages) * pageSize
                      : INT64_MAX;
  // cgroup v2, then v1; "max" means no limit.
  for (const char *path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::FILE *f = std::fopen(path, "r");
    if (!f)
      continue;
    char text[64] = "";
    if (std::fgets(text, sizeof text, f)) {
      char *end = nullptr;
      long long limit = std::strtoll(text, &end, 10);
      if (end != text && limit > 0)
        bytes = std::min<int64_t>(bytes, limit);
    }
    std::fclose(f);
  }
  return bytes;
}

} // namespace ivl

#endif // INTERNVL_RUNTIME_HOSTMEMORY_H
