/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* NCCL opened at run time (see fm_nccl_loader.h). */
#include "mpi/fm_nccl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static fm_nccl_api api;
static const fm_nccl_api *loaded;
static char error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* dlsym into *slot; 0, or -1 with the missing name in error. */
static int find(void *lib, const char *name, const char *file, void **slot)
{
    *slot = dlsym(lib, name);
    if (*slot) return 0;
    snprintf(error, sizeof error, "%s has no %s (NCCL 2.14 or later is needed)", file, name);
    return -1;
}

static void load(void)
{
    const char *env = getenv("FLASHMAP_NCCL_LIBRARY");
    const char *file = env && *env ? env : "libnccl.so.2";
    void *lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(error, sizeof error, "NCCL cannot be loaded: %s", why ? why : file);
        return;
    }
    /* POSIX: function pointers round-trip through void * (dlsym's contract). */
    struct {
        const char *name;
        void **slot;
    } const fns[] = {
        {"ncclGetErrorString", (void **)&api.GetErrorString},
        {"ncclGetUniqueId", (void **)&api.GetUniqueId},
        {"ncclCommInitRank", (void **)&api.CommInitRank},
        {"ncclCommFinalize", (void **)&api.CommFinalize},
        {"ncclCommDestroy", (void **)&api.CommDestroy},
        {"ncclCommAbort", (void **)&api.CommAbort},
        {"ncclCommGetAsyncError", (void **)&api.CommGetAsyncError},
        {"ncclGroupStart", (void **)&api.GroupStart},
        {"ncclGroupEnd", (void **)&api.GroupEnd},
        {"ncclSend", (void **)&api.Send},
        {"ncclRecv", (void **)&api.Recv},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        if (find(lib, fns[i].name, file, fns[i].slot) != 0) {
            dlclose(lib);
            return;
        }
    }
    loaded = &api; /* the library stays open for the process's life */
}

const fm_nccl_api *fm_nccl_api_get(void)
{
    pthread_once(&once, load);
    return loaded;
}

const char *fm_nccl_api_error(void)
{
    pthread_once(&once, load);
    return error;
}
