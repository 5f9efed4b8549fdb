/*===- MpiLaunch.h - the launcher's channel under mpirun ----------*- C -*-===*
 *
 * Under mpirun, the ranks already share MPI: rank 0's NCCL unique id goes to
 * every rank with MPI_Bcast, so the rendezvous is the launcher's own, with
 * no address to agree on. internvl-compile links this (and MPI) into the
 * runner of steps of more than one rank when it was built with MPI; the
 * declarations are weak so that a runner without it falls back to
 * NCCL_COMM_ID.
 *
 *===----------------------------------------------------------------------===*/

#ifndef INTERNVL_RUNTIME_MPILAUNCH_H
#define INTERNVL_RUNTIME_MPILAUNCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies rank 0's `bytes` bytes at `data` to every rank of MPI_COMM_WORLD
   (MPI_Init first if needed, MPI_Finalize at exit), this process being
   `rank` of `size` as the launcher said. Returns 0; IVL_MPI_NOT_LAUNCHER
   when MPI_COMM_WORLD disagrees with that (the runner's MPI is not the
   launcher's: each process is a world of its own); or writes a message to
   `error` (capacity `error_bytes`) and returns another non-zero value. */
#define IVL_MPI_NOT_LAUNCHER 2
__attribute__((weak)) int ivl_mpi_broadcast(void *data, int64_t bytes,
                                            int32_t rank, int32_t size,
                                            char *error, int64_t error_bytes);

#ifdef __cplusplus
}
#endif

#endif /* INTERNVL_RUNTIME_MPILAUNCH_H */
