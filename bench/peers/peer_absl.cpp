/* SPDX-License-Identifier: MIT OR Apache-2.0 */
// Abseil peer: absl::flat_hash_map (Debian libabsl-dev), the Swiss table.
// It is not a concurrent map, so it always runs on one thread.
#include "shapes.hpp"

#ifdef FM_BENCH_HAVE_ABSL

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>

#include <type_traits>

namespace {
using namespace fmbench;

template <class K, class V> struct Absl final : PeerMap {
    absl::flat_hash_map<K, V> map; // absl::Hash<K> (hashes all bytes of Key32)

    Absl(std::uint64_t capacity, double, int) { map.reserve(static_cast<std::size_t>(capacity)); }

    void insert(const void *keys, const void *values, std::size_t n, int) override {
        for (std::size_t i = 0; i < n; i++) map.insert_or_assign(load<K>(keys, i), load<V>(values, i));
    }
    void get(const void *keys, std::size_t n, void *values_out, std::uint8_t *found, int) override {
        for (std::size_t i = 0; i < n; i++) {
            auto it = map.find(load<K>(keys, i));
            if (it != map.end()) {
                store<V>(values_out, i, it->second);
                found[i] = 1;
            } else {
                store<V>(values_out, i, V{});
                found[i] = 0;
            }
        }
    }
    void remove(const void *keys, std::size_t n, std::uint8_t *removed, int) override {
        for (std::size_t i = 0; i < n; i++) removed[i] = map.erase(load<K>(keys, i)) != 0;
    }
    void add_u64(const void *keys, const std::uint64_t *deltas, std::size_t n, int) override {
        if constexpr (std::is_same_v<V, std::uint64_t>) {
            for (std::size_t i = 0; i < n; i++) map[load<K>(keys, i)] += deltas[i];
        } else {
            (void)keys, (void)deltas, (void)n;
        }
    }
    std::uint64_t size() override { return map.size(); }
};

void *create(std::uint32_t ks, std::uint32_t vs, std::uint64_t cap, double ml, int t) {
    return make_for_shape<Absl>(ks, vs, cap, ml, t);
}

const bench_peer peer = {
    "absl",
    "absl::flat_hash_map, reserve(keys); insert_or_assign / find / erase / operator[] on one "
    "thread",
    0,
    shape_supported,
    create,
    peer_destroy,
    peer_insert,
    peer_get,
    peer_remove,
    peer_add_u64,
    peer_size,
};
} // namespace

extern "C" const bench_peer *bench_peer_absl(void) { return &peer; }

#else
extern "C" const bench_peer *bench_peer_absl(void) { return nullptr; }
#endif
