/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What the emulated CUB algorithms share (host emulation of the CUDA
 * runtime, ../cuda_runtime.h): device arrays are checked before use, and the
 * temporary storage must be the size the sizing call asked for. */
#ifndef FM_EMU_CUB_UTIL_CUH
#define FM_EMU_CUB_UTIL_CUH

#include <stddef.h>

#include "../cuda_runtime.h"

namespace cub {

template <typename T> struct DoubleBuffer {
    T *d_buffers[2];
    int selector;
    DoubleBuffer() : d_buffers{nullptr, nullptr}, selector(0) {}
    DoubleBuffer(T *current, T *alternate) : d_buffers{current, alternate}, selector(0) {}
    T *Current() const { return d_buffers[selector]; }
    T *Alternate() const { return d_buffers[selector ^ 1]; }
};

namespace emu {

inline void device_array(const char *what, const void *p, size_t bytes)
{
    if (bytes && !fm_emu_accessible(p, bytes, fm_emu_current_device(), 0))
        fm_emu_misuse("%s: %zu bytes at %p are not memory of the current device %d", what, bytes, p,
                      fm_emu_current_device());
}

/* Sizing call (tmp NULL): sets bytes. Else checks the storage. */
inline bool temp_storage(const char *what, void *tmp, size_t &bytes, size_t want)
{
    if (!tmp) {
        bytes = want;
        return false;
    }
    if (bytes < want) fm_emu_misuse("%s: %zu bytes of temporary storage, the sizing call asked for %zu", what, bytes, want);
    device_array(what, tmp, bytes);
    return true;
}

inline void stream(const char *what, cudaStream_t s)
{
    if (s && fm_emu_stream_device(s) != fm_emu_current_device())
        fm_emu_misuse("%s: the stream belongs to device %d, the current device is %d", what, fm_emu_stream_device(s),
                      fm_emu_current_device());
}

} // namespace emu
} // namespace cub

#endif
