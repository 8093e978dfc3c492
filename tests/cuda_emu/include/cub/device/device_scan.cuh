/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* cub::DeviceScan::ExclusiveSum on device arrays, emulated on the host. */
#ifndef FM_EMU_CUB_DEVICE_SCAN_CUH
#define FM_EMU_CUB_DEVICE_SCAN_CUH

#include <type_traits>

#include "../util_emu.cuh"

namespace cub {

struct DeviceScan {
    template <typename In, typename Out, typename N>
    static cudaError_t ExclusiveSum(void *tmp, size_t &tmp_bytes, In *in, Out *out, N num_items,
                                    cudaStream_t stream = 0)
    {
        const char *what = "cub::DeviceScan::ExclusiveSum";
        static_assert(std::is_integral<N>::value, "item count");
        if (num_items < 0) return cudaErrorInvalidValue;
        const size_t n = (size_t)num_items;
        if (!emu::temp_storage(what, tmp, tmp_bytes, 256)) return cudaSuccess;
        emu::stream(what, stream);
        emu::device_array(what, in, n * sizeof(In));
        emu::device_array(what, out, n * sizeof(Out));
        Out sum = 0;
        for (size_t i = 0; i < n; i++) {
            const Out x = (Out)in[i];
            out[i] = sum;
            sum += x;
        }
        return cudaSuccess;
    }
};

} // namespace cub

#endif
