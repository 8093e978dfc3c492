/* SPDX-License-Identifier: MIT OR Apache-2.0 */
// Key/value shapes the peers are instantiated for, and the glue that turns
// packed key/value bytes into those types. C++17, bench only.
#ifndef FM_BENCH_SHAPES_HPP
#define FM_BENCH_SHAPES_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "peer.h"

namespace fmbench {

using Key32 = std::array<std::uint8_t, 32>;
using Val128 = std::array<std::uint8_t, 128>;

template <class T> inline T load(const void *base, std::size_t i) {
    T t;
    std::memcpy(&t, static_cast<const unsigned char *>(base) + i * sizeof(T), sizeof(T));
    return t;
}
template <class T> inline void store(void *base, std::size_t i, const T &t) {
    std::memcpy(static_cast<unsigned char *>(base) + i * sizeof(T), &t, sizeof(T));
}

inline std::uint64_t rotl64(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline std::uint64_t fmix64(std::uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

// A fast full-key hash for 32-byte keys (all 32 bytes take part), for the
// peers whose default hash cannot take std::array (libcuckoo, TBB).
struct Key32Hash {
    std::size_t operator()(const Key32 &k) const noexcept {
        std::uint64_t w[4];
        std::memcpy(w, k.data(), sizeof w);
        std::uint64_t h = w[0] * 0x9E3779B97F4A7C15ULL;
        h ^= rotl64(w[1] * 0xC2B2AE3D27D4EB4FULL, 31);
        h ^= rotl64(w[2] * 0x165667B19E3779F9ULL, 17);
        h ^= rotl64(w[3] * 0xD6E8FEB86659FD93ULL, 47);
        return static_cast<std::size_t>(fmix64(h));
    }
};

// One map of one shape behind a virtual interface: the bench calls it once
// per batch, so the indirection costs nothing measurable.
struct PeerMap {
    virtual ~PeerMap() = default;
    virtual void insert(const void *keys, const void *values, std::size_t n, int threads) = 0;
    virtual void get(const void *keys, std::size_t n, void *values_out, std::uint8_t *found,
                     int threads) = 0;
    virtual void remove(const void *keys, std::size_t n, std::uint8_t *removed, int threads) = 0;
    virtual void add_u64(const void *keys, const std::uint64_t *deltas, std::size_t n,
                         int threads) = 0;
    virtual std::uint64_t size() = 0;
};

inline int shape_supported(std::uint32_t ks, std::uint32_t vs) {
    return (ks == 8 && vs == 8) || (ks == 32 && vs == 128);
}

// Make Impl<K, V> for the shape, or nullptr. Impl's constructor takes
// (capacity, max_load, threads).
template <template <class, class> class Impl>
PeerMap *make_for_shape(std::uint32_t ks, std::uint32_t vs, std::uint64_t capacity,
                        double max_load, int threads) {
    try {
        if (ks == 8 && vs == 8)
            return new Impl<std::uint64_t, std::uint64_t>(capacity, max_load, threads);
        if (ks == 32 && vs == 128) return new Impl<Key32, Val128>(capacity, max_load, threads);
    } catch (...) {
    }
    return nullptr;
}

// C entry points shared by every peer.
inline void peer_destroy(void *m) { delete static_cast<PeerMap *>(m); }
inline void peer_insert(void *m, const void *k, const void *v, std::size_t n, int t) {
    static_cast<PeerMap *>(m)->insert(k, v, n, t);
}
inline void peer_get(void *m, const void *k, std::size_t n, void *vo, std::uint8_t *f, int t) {
    static_cast<PeerMap *>(m)->get(k, n, vo, f, t);
}
inline void peer_remove(void *m, const void *k, std::size_t n, std::uint8_t *r, int t) {
    static_cast<PeerMap *>(m)->remove(k, n, r, t);
}
inline void peer_add_u64(void *m, const void *k, const std::uint64_t *d, std::size_t n, int t) {
    static_cast<PeerMap *>(m)->add_u64(k, d, n, t);
}
inline std::uint64_t peer_size(void *m) { return static_cast<PeerMap *>(m)->size(); }

} // namespace fmbench

#endif
