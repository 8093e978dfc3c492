/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <flashmap.h>

#ifdef FLASHMAP_HAVE_CUDA
#define FM_CUDA_PART ", cuda"
#else
#define FM_CUDA_PART ""
#endif
#ifdef FLASHMAP_HAVE_MPI
#define FM_MPI_PART ", mpi"
#else
#define FM_MPI_PART ""
#endif
#ifdef FLASHMAP_HAVE_OPENMP
#define FM_CPU_PART "cpu (openmp)"
#else
#define FM_CPU_PART "cpu (serial)"
#endif

const char *fm_version_string(void)
{
    return "flashmap " FLASHMAP_VERSION_STRING " (backends: " FM_CPU_PART FM_CUDA_PART FM_MPI_PART ")";
}
