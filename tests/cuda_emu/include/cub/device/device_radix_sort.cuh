/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* cub::DeviceRadixSort::SortPairs on DoubleBuffers, emulated on the host: a
 * stable sort by the key bits [begin_bit, end_bit). Like CUB, it leaves the
 * result in the buffers' alternate halves and flips their selectors, so a
 * caller that does not look at Current() reads the wrong buffer. */
#ifndef FM_EMU_CUB_DEVICE_RADIX_SORT_CUH
#define FM_EMU_CUB_DEVICE_RADIX_SORT_CUH

#include <algorithm>
#include <vector>

#include "../util_emu.cuh"

namespace cub {

struct DeviceRadixSort {
    template <typename K, typename V, typename N>
    static cudaError_t SortPairs(void *tmp, size_t &tmp_bytes, DoubleBuffer<K> &keys, DoubleBuffer<V> &values,
                                 N num_items, int begin_bit = 0, int end_bit = (int)sizeof(K) * 8,
                                 cudaStream_t stream = 0)
    {
        const char *what = "cub::DeviceRadixSort::SortPairs";
        const size_t n = (size_t)num_items;
        if (!emu::temp_storage(what, tmp, tmp_bytes, 256 + n / 64)) return cudaSuccess;
        emu::stream(what, stream);
        if (begin_bit < 0 || end_bit > (int)sizeof(K) * 8 || begin_bit >= end_bit) return cudaErrorInvalidValue;
        for (int b = 0; b < 2; b++) {
            emu::device_array(what, keys.d_buffers[b], n * sizeof(K));
            emu::device_array(what, values.d_buffers[b], n * sizeof(V));
        }
        const K *k = keys.Current();
        const V *v = values.Current();
        std::vector<size_t> order(n);
        for (size_t i = 0; i < n; i++) order[i] = i;
        const int width = end_bit - begin_bit;
        const unsigned long long mask = width >= 64 ? ~0ull : (1ull << width) - 1;
        auto digit = [&](size_t i) { return ((unsigned long long)k[i] >> begin_bit) & mask; };
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return digit(a) < digit(b); });
        K *ko = keys.Alternate();
        V *vo = values.Alternate();
        for (size_t i = 0; i < n; i++) {
            ko[i] = k[order[i]];
            vo[i] = v[order[i]];
        }
        keys.selector ^= 1;
        values.selector ^= 1;
        return cudaSuccess;
    }
};

} // namespace cub

#endif
