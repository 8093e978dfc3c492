/* MPI maps. Arguments are checked now; the sharded exchange comes with the
 * sharding work, so creation reports FM_ERR_UNSUPPORTED on every rank. */
#include <flashmap_mpi.h>

#include "api/fm_map.h"

fm_status fm_create_mpi(MPI_Comm comm, const fm_config *cfg, fm_map **map_out)
{
    if (map_out) *map_out = NULL;
    if (comm == MPI_COMM_NULL) return fm_fail(NULL, FM_ERR_INVALID, "fm_create_mpi: comm is MPI_COMM_NULL");
    if (!cfg) return fm_fail(NULL, FM_ERR_INVALID, "fm_create_mpi: cfg is NULL");
    if (!map_out) return fm_fail(NULL, FM_ERR_INVALID, "fm_create_mpi: map_out is NULL");
    return fm_fail(NULL, FM_ERR_UNSUPPORTED, "fm_create_mpi: MPI maps are not implemented in this version");
}

fm_status fm_load_mpi(MPI_Comm comm, const char *path, const fm_config *overrides, fm_map **map_out)
{
    (void)overrides;
    if (map_out) *map_out = NULL;
    if (comm == MPI_COMM_NULL) return fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: comm is MPI_COMM_NULL");
    if (!path) return fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: path is NULL");
    if (!map_out) return fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: map_out is NULL");
    return fm_fail(NULL, FM_ERR_UNSUPPORTED, "fm_load_mpi: MPI checkpoints are not implemented in this version");
}
