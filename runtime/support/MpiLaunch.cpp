//===- MpiLaunch.cpp - broadcasts over the launcher's MPI -----------------===//
//
// Linked into runners of multi-rank steps: carries NCCL's unique id from
// rank 0 to the others when mpirun started them.
//
//===----------------------------------------------------------------------===//

#include "internvl/runtime/MpiLaunch.h"
#include "MpiWorld.h"

#include <climits>
#include <cstdio>

namespace {

int failed(char *error, int64_t capacity, const char *what, int code) {
  std::string text =
      code == MPI_SUCCESS ? std::string() : ": " + ivl::mpi::errorText(code);
  if (capacity > 0)
    std::snprintf(error, static_cast<size_t>(capacity), "%s%s", what,
                  text.c_str());
  return 1;
}

} // namespace

extern "C" int ivl_mpi_broadcast(void *data, int64_t bytes, int32_t rank,
                                 int32_t size, char *error,
                                 int64_t errorBytes) {
  int worldRank = 0, worldSize = 1;
  if (!ivl::mpi::joinWorld(worldRank, worldSize))
    return failed(error, errorBytes, "MPI_Init failed", MPI_SUCCESS);
  if (worldRank != rank || worldSize != size) {
    if (errorBytes > 0)
      std::snprintf(error, static_cast<size_t>(errorBytes),
                    "MPI_COMM_WORLD has this process as rank %d of %d where "
                    "the launcher said %d of %d",
                    worldRank, worldSize, rank, size);
    return IVL_MPI_NOT_LAUNCHER;
  }
  if (bytes < 0 || bytes > INT_MAX)
    return failed(error, errorBytes, "MPI_Bcast: byte count out of range",
                  MPI_SUCCESS);
  int code = MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, 0,
                       MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? 0 : failed(error, errorBytes, "MPI_Bcast", code);
}
