//===- MpiComm.cpp - MPI's collectives for the CPU runtime ----------------===//
//
// Linked into CPU steps compiled for more than one rank; started by mpirun.
// MPI_COMM_WORLD is the data-parallel group.
//
//===----------------------------------------------------------------------===//

#include "../support/MpiWorld.h"
#include "Tensor.h"

#include <climits>

using namespace ivl::cpu;

namespace {

ivl_status mpiFailed(ivl_context *ctx, const char *what, int code) {
  return fail(ctx, IVL_ERROR_RUNTIME, "%s: MPI error: %s", what,
              ivl::mpi::errorText(code).c_str());
}

/// MPI counts are ints.
ivl_status count(ivl_context *ctx, const char *what, int64_t n, int &out) {
  if (n > INT_MAX)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "%s: %lld elements exceed MPI's count limit (use smaller "
                "buckets)",
                what, static_cast<long long>(n));
  out = static_cast<int>(n);
  return IVL_OK;
}

ivl_status allReduceSum(ivl_context *ctx, float *values, int64_t n) {
  int c = 0;
  if (ivl_status s = count(ctx, "all_reduce", n, c))
    return s;
  int code = MPI_Allreduce(MPI_IN_PLACE, values, c, MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? IVL_OK : mpiFailed(ctx, "all_reduce", code);
}

ivl_status allReduceSumF64(ivl_context *ctx, double *values, int64_t n) {
  int c = 0;
  if (ivl_status s = count(ctx, "all_reduce", n, c))
    return s;
  int code = MPI_Allreduce(MPI_IN_PLACE, values, c, MPI_DOUBLE, MPI_SUM,
                           MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? IVL_OK : mpiFailed(ctx, "all_reduce", code);
}

ivl_status reduceScatterSum(ivl_context *ctx, const float *in, float *out,
                            int64_t chunk) {
  int c = 0;
  if (ivl_status s = count(ctx, "reduce_scatter", chunk, c))
    return s;
  int code = MPI_Reduce_scatter_block(in, out, c, MPI_FLOAT, MPI_SUM,
                                      MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? IVL_OK : mpiFailed(ctx, "reduce_scatter", code);
}

ivl_status allGather(ivl_context *ctx, const void *in, void *out,
                     int64_t bytes) {
  int c = 0;
  if (ivl_status s = count(ctx, "all_gather", bytes, c))
    return s;
  int code =
      MPI_Allgather(in, c, MPI_BYTE, out, c, MPI_BYTE, MPI_COMM_WORLD);
  return code == MPI_SUCCESS ? IVL_OK : mpiFailed(ctx, "all_gather", code);
}


} // namespace

extern "C" ivl_status ivl_cpu_mpi_comm(ivl_context *ctx, int32_t rank,
                                       int32_t size, Comm *comm) {
  int worldRank = 0, worldSize = 1;
  if (!ivl::mpi::joinWorld(worldRank, worldSize))
    return fail(ctx, IVL_ERROR_RUNTIME, "comm_init: MPI_Init failed");
  if (worldRank != rank || worldSize != size)
    return fail(ctx, IVL_ERROR_INVALID_ARGUMENT,
                "comm_init: asked for rank %d of %d, but MPI_COMM_WORLD has "
                "this process as rank %d of %d (start it with mpirun -np %d)",
                rank, size, worldRank, worldSize, size);
  comm->rank = rank;
  comm->size = size;
  comm->allReduceSum = allReduceSum;
  comm->allReduceSumF64 = allReduceSumF64;
  comm->reduceScatterSum = reduceScatterSum;
  comm->allGather = allGather;
  return IVL_OK;
}
