//===- MpiLaunch.cpp - broadcasts over the launcher's MPI -----------------===//
//
// Linked into runners of multi-rank steps: carries NCCL's unique id from
// rank 0 to the others when mpirun started them.
//
//===----------------------------------------------------------------------===//

#include "internvl/runtime/MpiLaunch.h"

#include <mpi.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace {

void finalize() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

int failed(char *error, int64_t capacity, const char *what, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (code != MPI_SUCCESS)
    MPI_Error_string(code, text, &length);
  if (capacity > 0)
    std::snprintf(error, static_cast<size_t>(capacity), "%s%s%.*s", what,
                  length ? ": " : "", length, text);
  return 1;
}

} // namespace

extern "C" int ivl_mpi_broadcast(void *data, int64_t bytes, int32_t rank,
                                 int32_t size, char *error,
                                 int64_t errorBytes) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS)
      return failed(error, errorBytes, "MPI_Init failed", MPI_SUCCESS);
    std::atexit(finalize);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int worldRank = 0, worldSize = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
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
