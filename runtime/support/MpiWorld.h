//===- MpiWorld.h - this process in MPI_COMM_WORLD ---------------*- C++ -*-===//
//
// The CPU runtime's collectives (cpu/MpiComm.cpp) and the runner's id
// broadcast (support/MpiLaunch.cpp) both join MPI_COMM_WORLD; whichever
// comes first initialises MPI, the other finds it done.
//
//===----------------------------------------------------------------------===//

#ifndef INTERNVL_RUNTIME_SUPPORT_MPIWORLD_H
#define INTERNVL_RUNTIME_SUPPORT_MPIWORLD_H

#include <mpi.h>

#include <cstdlib>
#include <string>

namespace ivl::mpi {

inline void finalizeOnce() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

/// MPI_Init unless already done (then MPI_Finalize at exit), with errors
/// returned as codes rather than aborting, so that they reach the message.
/// Sets this process's rank and size in MPI_COMM_WORLD; false when MPI_Init
/// fails.
inline bool joinWorld(int &rank, int &size) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS)
      return false;
    std::atexit(finalizeOnce);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return true;
}

/// MPI's text for an error code.
inline std::string errorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

} // namespace ivl::mpi

#endif // INTERNVL_RUNTIME_SUPPORT_MPIWORLD_H
