/* SPDX-License-Identifier: MIT OR Apache-2.0 */
// libcuckoo peer: libcuckoo::cuckoohash_map (Debian libcuckoo-dev 0.3.x),
// the concurrent cuckoo hash table. Each batch is split statically over the
// OpenMP threads, every thread calling the map's concurrent API.
#include "shapes.hpp"

#ifdef FM_BENCH_HAVE_LIBCUCKOO

#include <libcuckoo/cuckoohash_map.hh>

#include <cmath>
#include <functional>
#include <type_traits>

namespace {
using namespace fmbench;

template <class K> struct HashFor {
    using type = std::hash<K>; // u64: libstdc++'s identity; keys are random
};
template <> struct HashFor<Key32> {
    using type = Key32Hash;
};

template <class K, class V> struct Cuckoo final : PeerMap {
    libcuckoo::cuckoohash_map<K, V, typename HashFor<K>::type> map;

    Cuckoo(std::uint64_t capacity, double max_load, int) {
        // Same load bound as flashmap's table: room for capacity / max_load
        // entries, so a full batch of `capacity` keys never triggers the
        // table's expansion (a cuckoo table cannot be filled to 100%).
        map.reserve(static_cast<std::size_t>(std::ceil(double(capacity) / max_load)));
    }
    void insert(const void *keys, const void *values, std::size_t n, int threads) override {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++)
            map.insert_or_assign(load<K>(keys, i), load<V>(values, i));
    }
    void get(const void *keys, std::size_t n, void *values_out, std::uint8_t *found,
             int threads) override {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++) {
            V v{};
            found[i] = map.find(load<K>(keys, i), v);
            store<V>(values_out, i, v);
        }
    }
    void remove(const void *keys, std::size_t n, std::uint8_t *removed, int threads) override {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++) removed[i] = map.erase(load<K>(keys, i));
    }
    void add_u64(const void *keys, const std::uint64_t *deltas, std::size_t n,
                 int threads) override {
        if constexpr (std::is_same_v<V, std::uint64_t>) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++) {
                const std::uint64_t d = deltas[i];
                map.upsert(load<K>(keys, i), [d](V &v) { v += d; }, d);
            }
        } else {
            (void)keys, (void)deltas, (void)n, (void)threads;
        }
    }
    std::uint64_t size() override { return map.size(); }
};

void *create(std::uint32_t ks, std::uint32_t vs, std::uint64_t cap, double ml, int t) {
    return make_for_shape<Cuckoo>(ks, vs, cap, ml, t);
}

const bench_peer peer = {
    "libcuckoo",
    "libcuckoo::cuckoohash_map, reserve(keys/max_load); insert_or_assign / find / erase / "
    "upsert from OpenMP threads",
    1,
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

extern "C" const bench_peer *bench_peer_libcuckoo(void) { return &peer; }

#else
extern "C" const bench_peer *bench_peer_libcuckoo(void) { return nullptr; }
#endif
