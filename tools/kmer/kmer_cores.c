/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The cores this process may run on (see kmer_cores.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "kmer_cores.h"

#include <sched.h>

int km_usable_cores(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}
