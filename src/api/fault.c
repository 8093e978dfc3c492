/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "api/fm_fault.h"

#ifdef FLASHMAP_FAULT_INJECTION

static uint64_t armed_at[FM_FAULT_KINDS];
static uint64_t seen[FM_FAULT_KINDS];
static int fired[FM_FAULT_KINDS];

int fm_fault_fire(fm_fault_kind kind)
{
    const uint64_t target = __atomic_load_n(&armed_at[kind], __ATOMIC_RELAXED);
    const uint64_t n = __atomic_add_fetch(&seen[kind], 1, __ATOMIC_RELAXED);
    if (target == 0 || n != target) return 0;
    __atomic_store_n(&fired[kind], 1, __ATOMIC_RELAXED);
    return 1;
}

void fm_fault_arm(fm_fault_kind kind, uint64_t nth)
{
    __atomic_store_n(&seen[kind], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fired[kind], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&armed_at[kind], nth, __ATOMIC_RELAXED);
}

uint64_t fm_fault_seen(fm_fault_kind kind) { return __atomic_load_n(&seen[kind], __ATOMIC_RELAXED); }

int fm_fault_fired(fm_fault_kind kind) { return __atomic_load_n(&fired[kind], __ATOMIC_RELAXED); }

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int fm_fault_injection_not_built;
#endif
