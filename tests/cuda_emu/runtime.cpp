/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The runtime API of the host emulation (cuda_runtime.h): devices, memory,
 * copies, streams and events.
 *
 * Device and pinned memory come from the host heap and are kept in a
 * registry, so every copy and memset is checked against the memory space
 * its direction names and against the end of its allocation; a breach
 * aborts with a message (fm_emu_misuse). New device memory is filled with
 * garbage, as a GPU's is. The registry holds addresses offset by 2^62, so
 * LeakSanitizer still sees device memory that nothing frees.
 *
 * Streams do their work when it is enqueued, so synchronizing is a no-op;
 * streams and events are checked for use after destruction, and events
 * for recording on another device's stream (a CUDA error).
 *
 * Environment: FM_CUDA_EMU_DEVICES (default 2; 0 emulates a machine with
 * the toolkit but no device), FM_CUDA_EMU_MEMORY_MIB (device memory per
 * device, default 2048) and FM_CUDA_EMU_NO_POOLS=1 (cudaMemPoolCreate
 * fails: a device without stream-ordered pools). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>

#include "cuda_runtime.h"

struct fm_emu_stream {
    int device;
    std::atomic<unsigned long long> ops{0};
    explicit fm_emu_stream(int d) : device(d) {}
};
struct fm_emu_pool {
    int device;
    std::multimap<size_t, void *> free_blocks; /* by size */
};
struct fm_emu_event {
    int device;
    double ms;
};

namespace {

constexpr uintptr_t HIDE = (uintptr_t)1 << 62;

struct allocation {
    size_t bytes;
    int device; /* -1: pinned host memory */
};

std::mutex lock;
std::map<uintptr_t, allocation> registry; /* address + HIDE -> allocation */
std::set<void *> streams, events;
std::map<uintptr_t, cudaMemPool_t> pool_of; /* address + HIDE of pool memory in use -> its pool */
size_t used[64];
thread_local int current_device = 0;

/* fm_emu_counts, kept with atomics (shards run on several host threads). */
std::atomic<unsigned long long> n_launches{0}, n_memsets{0}, n_memset_bytes{0}, n_copies{0}, n_copy_bytes{0},
    n_mallocs{0}, n_frees{0}, n_host_waits{0}, legacy_ops{0}, n_pool_grows{0};

void count_op(cudaStream_t s)
{
    if (s) s->ops++;
    else legacy_ops++;
}

void count_copy(cudaStream_t s, size_t bytes)
{
    count_op(s);
    n_copies++;
    n_copy_bytes += bytes;
}

void count_memset(cudaStream_t s, size_t bytes)
{
    count_op(s);
    n_memsets++;
    n_memset_bytes += bytes;
}
thread_local cudaError_t last_error = cudaSuccess;

int env_int(const char *name, int fallback, int most)
{
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end = nullptr;
    const long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > most) fm_emu_misuse("%s=%s: expected 0 to %d", name, v, most);
    return (int)x;
}

int device_count() { return env_int("FM_CUDA_EMU_DEVICES", 2, 64); }
size_t device_memory() { return (size_t)env_int("FM_CUDA_EMU_MEMORY_MIB", 2048, 1 << 20) << 20; }

cudaError_t fail(cudaError_t e)
{
    last_error = e;
    return e;
}

/* The allocation holding p (lock held), or null; with at_end, also the one
 * that p is just past (a pointer to zero bytes at its end). */
const std::pair<const uintptr_t, allocation> *find(const void *p, bool at_end = false)
{
    const uintptr_t key = (uintptr_t)p + HIDE;
    auto it = registry.upper_bound(key);
    if (it == registry.begin()) return nullptr;
    --it;
    const uintptr_t end = it->first + it->second.bytes;
    return key < end || (at_end && key == end) ? &*it : nullptr;
}

const char *space_name(int device)
{
    static thread_local char buf[48];
    if (device < 0) return "pinned host memory";
    snprintf(buf, sizeof buf, "memory of device %d", device);
    return buf;
}

/* Where [p, p + bytes) lives: a device, -1 for pinned host memory, -2 for
 * memory the runtime does not know (pageable). A range that starts in an
 * allocation and runs past its end aborts. */
int space_of(const void *p, size_t bytes, const char *what)
{
    std::lock_guard<std::mutex> g(lock);
    const auto *a = find(p);
    if (!a) return -2;
    const uintptr_t off = (uintptr_t)p + HIDE - a->first;
    if (off + bytes > a->second.bytes)
        fm_emu_misuse("%s: %zu bytes at offset %zu run past the end of %zu bytes of %s", what, bytes, (size_t)off,
                      a->second.bytes, space_name(a->second.device));
    return a->second.device;
}

cudaError_t copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what)
{
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src) return fail(cudaErrorInvalidValue);
    const int d = space_of(dst, bytes, what), s = space_of(src, bytes, what);
    const bool dst_dev = d >= 0, src_dev = s >= 0;
    bool ok = true;
    switch (kind) {
    case cudaMemcpyHostToHost: ok = !dst_dev && !src_dev; break;
    case cudaMemcpyHostToDevice: ok = dst_dev && !src_dev; break;
    case cudaMemcpyDeviceToHost: ok = !dst_dev && src_dev; break;
    case cudaMemcpyDeviceToDevice: ok = dst_dev && src_dev; break;
    case cudaMemcpyDefault: break;
    default: return fail(cudaErrorInvalidMemcpyDirection);
    }
    if (!ok)
        fm_emu_misuse("%s of %zu bytes, direction %d, from %s to %s", what, bytes, (int)kind,
                      s == -2 ? "pageable host memory" : space_name(s), d == -2 ? "pageable host memory" : space_name(d));
    memmove(dst, src, bytes);
    return cudaSuccess;
}

/* Streams and events: created on the current device, checked for use
 * after destruction. */
void check_live(const std::set<void *> &live, void *h, const char *kind, const char *what)
{
    std::lock_guard<std::mutex> g(lock);
    if (!h || !live.count(h)) fm_emu_misuse("%s on a %s that does not exist (destroyed?)", what, kind);
}

void check_stream(cudaStream_t s, const char *what)
{
    if (s) check_live(streams, s, "stream", what); /* null: the legacy default stream */
}

void check_event(cudaEvent_t e, const char *what) { check_live(events, e, "event", what); }

template <typename H, typename V> cudaError_t create_handle(H **out, std::set<void *> &live, const V &value)
{
    if (!out) return fail(cudaErrorInvalidValue);
    if (!device_count()) return fail(cudaErrorNoDevice);
    *out = new H(value);
    std::lock_guard<std::mutex> g(lock);
    live.insert(*out);
    return cudaSuccess;
}

template <typename H> cudaError_t destroy_handle(H *h, std::set<void *> &live)
{
    {
        std::lock_guard<std::mutex> g(lock);
        live.erase(h);
    }
    delete h;
    return cudaSuccess;
}

cudaError_t host_alloc(void **p, size_t bytes)
{
    if (!p) return fail(cudaErrorInvalidValue);
    *p = nullptr;
    void *m = nullptr;
    if (posix_memalign(&m, 4096, bytes ? bytes : 1) != 0) return fail(cudaErrorMemoryAllocation);
    std::lock_guard<std::mutex> g(lock);
    registry[(uintptr_t)m + HIDE] = allocation{bytes ? bytes : 1, -1};
    *p = m;
    return cudaSuccess;
}

} // namespace

extern "C" {

void fm_emu_misuse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda-emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fm_emu_set_last_error(cudaError_t e) { last_error = e; }

void fm_emu_counts_get(fm_emu_counts *out)
{
    out->launches = n_launches;
    out->memsets = n_memsets;
    out->memset_bytes = n_memset_bytes;
    out->copies = n_copies;
    out->copy_bytes = n_copy_bytes;
    out->mallocs = n_mallocs;
    out->frees = n_frees;
    out->host_waits = n_host_waits;
    out->pool_grows = n_pool_grows;
}

unsigned long long fm_emu_stream_ops(cudaStream_t s)
{
    if (s) check_stream(s, "fm_emu_stream_ops");
    return s ? s->ops.load() : legacy_ops.load();
}

void fm_emu_count_launch(cudaStream_t s)
{
    count_op(s);
    n_launches++;
}
int fm_emu_current_device(void) { return current_device; }
int fm_emu_stream_device(cudaStream_t s) { return s ? s->device : -1; }

int fm_emu_accessible(const void *p, size_t bytes, int device, int host_ok)
{
    std::lock_guard<std::mutex> g(lock);
    const auto *a = find(p, bytes == 0);
    if (!a) return 0;
    if ((uintptr_t)p + HIDE - a->first + bytes > a->second.bytes) return 0;
    if (a->second.device < 0) return host_ok;
    return device < 0 || a->second.device == device;
}

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count) return fail(cudaErrorInvalidValue);
    *count = device_count();
    return *count ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    if (!device) return fail(cudaErrorInvalidValue);
    if (!device_count()) return fail(cudaErrorNoDevice);
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (!prop) return fail(cudaErrorInvalidValue);
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "flashmap CUDA emulation");
    prop->totalGlobalMem = device_memory();
    prop->sharedMemPerBlock = 48 << 10;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->multiProcessorCount = 2;
    prop->major = 9;
    prop->clockRate = 1000000;
    prop->memoryClockRate = 1000000;
    prop->memoryBusWidth = 64;
    prop->l2CacheSize = 1 << 20;
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    n_host_waits++;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version)
{
    if (!version) return fail(cudaErrorInvalidValue);
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version) { return cudaRuntimeGetVersion(version); }

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    default: return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unknown error";
    }
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    if (!p) return fail(cudaErrorInvalidValue);
    *p = nullptr;
    if (!device_count()) return fail(cudaErrorNoDevice);
    const int d = current_device;
    {
        std::lock_guard<std::mutex> g(lock);
        if (bytes > device_memory() - used[d]) return fail(cudaErrorMemoryAllocation);
        used[d] += bytes;
    }
    void *m = nullptr;
    if (posix_memalign(&m, 256, bytes ? bytes : 1) != 0) {
        std::lock_guard<std::mutex> g(lock);
        used[d] -= bytes;
        return fail(cudaErrorMemoryAllocation);
    }
    memset(m, 0xcd, bytes); /* what was there before */
    n_mallocs++;
    std::lock_guard<std::mutex> g(lock);
    registry[(uintptr_t)m + HIDE] = allocation{bytes, d};
    *p = m;
    return cudaSuccess;
}

static cudaError_t free_block(void *p, int pinned, const char *what)
{
    if (!p) return cudaSuccess;
    {
        std::lock_guard<std::mutex> g(lock);
        auto it = registry.find((uintptr_t)p + HIDE);
        if (it == registry.end() || (it->second.device < 0) != (pinned != 0))
            fm_emu_misuse("%s(%p): not the start of %s (freed twice?)", what, p,
                          pinned ? "pinned host memory" : "device memory");
        if (!pinned) used[it->second.device] -= it->second.bytes;
        registry.erase(it);
    }
    free(p);
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (p) n_frees++;
    return free_block(p, 0, "cudaFree");
}
cudaError_t cudaMallocHost(void **p, size_t bytes) { return host_alloc(p, bytes); }
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags)
{
    (void)flags;
    return host_alloc(p, bytes);
}
cudaError_t cudaFreeHost(void *p) { return free_block(p, 1, "cudaFreeHost"); }

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (!free_bytes || !total_bytes) return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> g(lock);
    *total_bytes = device_memory();
    *free_bytes = device_memory() - used[current_device];
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attr, const void *p)
{
    if (!attr) return fail(cudaErrorInvalidValue);
    memset(attr, 0, sizeof *attr);
    attr->device = -2;
    std::lock_guard<std::mutex> g(lock);
    const auto *a = find(p);
    if (!a) {
        attr->type = cudaMemoryTypeUnregistered;
        return cudaSuccess;
    }
    attr->type = a->second.device < 0 ? cudaMemoryTypeHost : cudaMemoryTypeDevice;
    attr->device = a->second.device < 0 ? current_device : a->second.device;
    attr->devicePointer = (void *)p;
    attr->hostPointer = a->second.device < 0 ? (void *)p : nullptr;
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    count_copy(nullptr, bytes);
    n_host_waits++;
    return copy(dst, src, bytes, kind, "cudaMemcpy");
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream)
{
    check_stream(stream, "cudaMemcpyAsync");
    count_copy(stream, bytes);
    return copy(dst, src, bytes, kind, "cudaMemcpyAsync");
}

cudaError_t cudaMemcpyPeer(void *dst, int dst_device, const void *src, int src_device, size_t bytes)
{
    if (bytes == 0) return cudaSuccess;
    if (dst_device < 0 || dst_device >= device_count() || src_device < 0 || src_device >= device_count())
        return fail(cudaErrorInvalidDevice);
    const int d = space_of(dst, bytes, "cudaMemcpyPeer"), s = space_of(src, bytes, "cudaMemcpyPeer");
    if (d != dst_device || s != src_device)
        fm_emu_misuse("cudaMemcpyPeer of %zu bytes from device %d to device %d: the source is %s, the target %s",
                      bytes, src_device, dst_device, s == -2 ? "pageable host memory" : space_name(s),
                      d == -2 ? "pageable host memory" : space_name(d));
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_device, const void *src, int src_device, size_t bytes,
                                cudaStream_t stream)
{
    check_stream(stream, "cudaMemcpyPeerAsync");
    count_copy(stream, bytes);
    return cudaMemcpyPeer(dst, dst_device, src, src_device, bytes);
}

static cudaError_t memset_device(void *p, int value, size_t bytes)
{
    if (bytes == 0) return cudaSuccess;
    if (space_of(p, bytes, "cudaMemset") < 0) fm_emu_misuse("cudaMemset of %zu bytes outside device memory", bytes);
    memset(p, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int value, size_t bytes)
{
    count_memset(nullptr, bytes);
    n_host_waits++;
    return memset_device(p, value, bytes);
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream)
{
    check_stream(stream, "cudaMemsetAsync");
    count_memset(stream, bytes);
    return memset_device(p, value, bytes);
}

cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const cudaMemPoolProps *props)
{
    if (env_int("FM_CUDA_EMU_NO_POOLS", 0, 1)) return fail(cudaErrorNotSupported); /* a device without pools */
    if (!pool || !props || props->allocType != cudaMemAllocationTypePinned ||
        props->location.type != cudaMemLocationTypeDevice || props->location.id < 0 ||
        props->location.id >= device_count())
        return fail(cudaErrorInvalidValue);
    *pool = new fm_emu_pool{props->location.id, {}};
    return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value)
{
    if (!pool || !value || attr != cudaMemPoolAttrReleaseThreshold) return fail(cudaErrorInvalidValue);
    return cudaSuccess; /* the emulated pool keeps everything */
}

cudaError_t cudaMallocFromPoolAsync(void **p, size_t bytes, cudaMemPool_t pool, cudaStream_t stream)
{
    if (!p || !pool) return fail(cudaErrorInvalidValue);
    check_stream(stream, "cudaMallocFromPoolAsync");
    if (stream && stream->device != pool->device) return fail(cudaErrorInvalidValue);
    {
        std::lock_guard<std::mutex> g(lock);
        auto it = pool->free_blocks.find(bytes ? bytes : 1);
        if (it != pool->free_blocks.end()) {
            *p = it->second;
            pool->free_blocks.erase(it);
            pool_of[(uintptr_t)*p + HIDE] = pool;
            return cudaSuccess;
        }
    }
    const int keep = current_device;
    current_device = pool->device;
    const cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    current_device = keep;
    if (e != cudaSuccess) return e;
    n_mallocs--; /* counted as the pool's, not as a cudaMalloc */
    n_pool_grows++;
    std::lock_guard<std::mutex> g(lock);
    pool_of[(uintptr_t)*p + HIDE] = pool;
    return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *p, cudaStream_t stream)
{
    if (!p) return cudaSuccess;
    check_stream(stream, "cudaFreeAsync");
    std::lock_guard<std::mutex> g(lock);
    auto it = pool_of.find((uintptr_t)p + HIDE);
    if (it == pool_of.end()) fm_emu_misuse("cudaFreeAsync(%p): not memory from a pool (freed twice?)", p);
    const auto *a = find(p);
    it->second->free_blocks.emplace(a->second.bytes, p);
    pool_of.erase(it);
    memset(p, 0xcd, a->second.bytes); /* what a later user finds */
    return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep_bytes)
{
    if (!pool) return fail(cudaErrorInvalidValue);
    std::multimap<size_t, void *> blocks;
    {
        std::lock_guard<std::mutex> g(lock);
        size_t kept = 0;
        for (auto it = pool->free_blocks.begin(); it != pool->free_blocks.end();) {
            if (kept + it->first <= keep_bytes) {
                kept += it->first;
                ++it;
            } else {
                blocks.insert(*it);
                it = pool->free_blocks.erase(it);
            }
        }
    }
    for (auto &b : blocks) {
        n_frees--; /* the pool's, not the program's */
        (void)cudaFree(b.second);
    }
    return cudaSuccess;
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool)
{
    if (!pool) return fail(cudaErrorInvalidValue);
    {
        std::lock_guard<std::mutex> g(lock);
        for (const auto &in_use : pool_of)
            if (in_use.second == pool) fm_emu_misuse("cudaMemPoolDestroy: the pool still has memory in use");
    }
    cudaMemPoolTrimTo(pool, 0);
    delete pool;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    return create_handle(s, streams, current_device);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    check_stream(s, "cudaStreamDestroy");
    return destroy_handle(s, streams);
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    check_stream(s, "cudaStreamSynchronize");
    n_host_waits++;
    return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags)
{
    (void)flags;
    check_stream(s, "cudaStreamWaitEvent");
    check_event(e, "cudaStreamWaitEvent");
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
    (void)flags;
    return create_handle(e, events, fm_emu_event{current_device, 0});
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    check_event(e, "cudaEventDestroy");
    return destroy_handle(e, events);
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    check_event(e, "cudaEventRecord");
    check_stream(s, "cudaEventRecord");
    const int stream_device = s ? s->device : current_device;
    if (stream_device != e->device) return fail(cudaErrorInvalidResourceHandle);
    e->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    check_event(e, "cudaEventSynchronize");
    n_host_waits++;
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    check_event(start, "cudaEventElapsedTime");
    check_event(end, "cudaEventElapsedTime");
    if (!ms) return fail(cudaErrorInvalidValue);
    *ms = (float)(end->ms - start->ms);
    return cudaSuccess;
}

} /* extern "C" */
