/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The cores this process may run on. */
#ifndef KMER_CORES_H
#define KMER_CORES_H

/* CPUs in this process's affinity mask (what mpirun's or srun's binding
 * left it), 0 where the system does not say. */
int km_usable_cores(void);

#endif
