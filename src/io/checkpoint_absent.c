/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Built without checkpoints (FLASHMAP_WITH_CHECKPOINTS=OFF, no libxxhash):
 * fm_save and fm_load say why they cannot run. */
#include "io/fm_checkpoint.h"

#ifdef FLASHMAP_HAVE_MPI
#include <flashmap_mpi.h>
#endif

#define FM_NO_CHECKPOINTS "flashmap was built without checkpoints (FLASHMAP_WITH_CHECKPOINTS=OFF)"

fm_status fm_checkpoint_save(fm_map *map, const char *path)
{
    (void)path;
    return fm_fail(map, FM_ERR_UNSUPPORTED, "fm_save: %s", FM_NO_CHECKPOINTS);
}

fm_status fm_checkpoint_load(const char *path, const fm_config *overrides, fm_map **map_out)
{
    (void)path;
    (void)overrides;
    *map_out = NULL;
    return fm_fail(NULL, FM_ERR_UNSUPPORTED, "fm_load: %s", FM_NO_CHECKPOINTS);
}

#ifdef FLASHMAP_HAVE_MPI
/* Every rank answers the same without talking to the others. */
fm_status fm_load_mpi(MPI_Comm comm, const char *path, const fm_config *overrides, fm_map **map_out)
{
    (void)comm;
    (void)path;
    (void)overrides;
    if (map_out) *map_out = NULL;
    return fm_fail(NULL, FM_ERR_UNSUPPORTED, "fm_load_mpi: %s", FM_NO_CHECKPOINTS);
}
#endif
