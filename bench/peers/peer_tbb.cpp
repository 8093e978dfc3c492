/* SPDX-License-Identifier: MIT OR Apache-2.0 */
// TBB peer: oneTBB's tbb::concurrent_hash_map (Debian libtbb-dev 2021.x).
// Each batch is split statically over OpenMP threads; inserts and counter
// adds take a write accessor, gets a const (read) accessor.
#include "shapes.hpp"

#ifdef FM_BENCH_HAVE_TBB

#include <oneapi/tbb/concurrent_hash_map.h>

#include <cmath>
#include <type_traits>

namespace {
using namespace fmbench;

template <class K> struct HashCompareFor {
    using type = tbb::tbb_hash_compare<K>;
};
template <> struct HashCompareFor<Key32> {
    struct type {
        std::size_t hash(const Key32 &k) const { return Key32Hash()(k); }
        bool equal(const Key32 &a, const Key32 &b) const { return a == b; }
    };
};

template <class K, class V> struct Tbb final : PeerMap {
    using Map = tbb::concurrent_hash_map<K, V, typename HashCompareFor<K>::type>;
    Map map;

    // Pre-sized: at least `capacity` buckets, so no rehash while inserting.
    Tbb(std::uint64_t capacity, double, int) : map(static_cast<std::size_t>(capacity)) {}

    void insert(const void *keys, const void *values, std::size_t n, int threads) override {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++) {
            typename Map::accessor a;
            map.insert(a, load<K>(keys, i));
            a->second = load<V>(values, i);
        }
    }
    void get(const void *keys, std::size_t n, void *values_out, std::uint8_t *found,
             int threads) override {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(n); i++) {
            typename Map::const_accessor a;
            if (map.find(a, load<K>(keys, i))) {
                store<V>(values_out, i, a->second);
                found[i] = 1;
            } else {
                store<V>(values_out, i, V{});
                found[i] = 0;
            }
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
                typename Map::accessor a;
                map.insert(a, load<K>(keys, i)); // value-initialised (0) when new
                a->second += deltas[i];
            }
        } else {
            (void)keys, (void)deltas, (void)n, (void)threads;
        }
    }
    std::uint64_t size() override { return map.size(); }
};

void *create(std::uint32_t ks, std::uint32_t vs, std::uint64_t cap, double ml, int t) {
    return make_for_shape<Tbb>(ks, vs, cap, ml, t);
}

const bench_peer peer = {
    "tbb",
    "tbb::concurrent_hash_map(keys buckets); insert(accessor) / find(const_accessor) / erase "
    "from OpenMP threads",
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

extern "C" const bench_peer *bench_peer_tbb(void) { return &peer; }

#else
extern "C" const bench_peer *bench_peer_tbb(void) { return nullptr; }
#endif
