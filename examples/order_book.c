/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Order book: u64 order ids -> 32-byte resting orders, fixed memory all day.
 *
 * An exchange's book sees a stream of ticks; each tick brings new orders and
 * amendments (one fm_bulk_insert) and cancellations (one fm_bulk_remove),
 * some of them for orders already gone. FM_FIXED_CAPACITY keeps the table's
 * memory constant however many orders come and go: removals leave
 * tombstones that the map clears by rehashing in place, never by growing.
 * A batch that would exceed the capacity fails with FM_ERR_FULL and changes
 * nothing.
 *
 * A plain array indexed by order id replays the same ticks; the program
 * checks every cancel result and the book's size after every tick, the
 * whole book at the end, the FM_ERR_FULL behaviour and that the table never
 * grew, and exits non-zero on any difference.
 *
 *   ./example_order_book [ticks]        (default 300) */
#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct order {
    int64_t price;      /* in ticks */
    uint64_t quantity;
    uint64_t timestamp; /* tick of the last change */
    uint32_t trader;
    uint8_t side;       /* 0 bid, 1 ask */
    uint8_t pad[3];
} order;
_Static_assert(sizeof(order) == 32, "an order is 32 bytes");

enum {
    CAPACITY = 20000,   /* live orders the book can hold */
    TARGET_LIVE = 15000,
    NEW_PER_TICK = 800,
    AMEND_PER_TICK = 200,
    MAX_TICKS = 1000
};
#define MAX_IDS ((size_t)MAX_TICKS * NEW_PER_TICK + CAPACITY)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void check(fm_status st, const fm_map *map, const char *what)
{
    if (st != FM_OK) {
        fprintf(stderr, "order_book: %s failed: %s: %s\n", what, fm_status_str(st), fm_last_error(map));
        exit(1);
    }
}

/* The reference book: by id, and a list of live ids to pick from. */
static order *ref;
static uint8_t *live;
static uint64_t *live_ids;
static size_t *live_pos, n_live;

static void ref_add(uint64_t id, const order *o)
{
    if (!live[id]) {
        live[id] = 1;
        live_pos[id] = n_live;
        live_ids[n_live++] = id;
    }
    ref[id] = *o;
}

static int ref_cancel(uint64_t id)
{
    if (!live[id]) return 0;
    live[id] = 0;
    uint64_t last = live_ids[--n_live];
    live_ids[live_pos[id]] = last;
    live_pos[last] = live_pos[id];
    return 1;
}

int main(int argc, char **argv)
{
    int ticks = argc > 1 ? atoi(argv[1]) : 300;
    if (ticks < 1 || ticks > MAX_TICKS) {
        fprintf(stderr, "usage: %s [ticks 1..%d]\n", argv[0], MAX_TICKS);
        return 2;
    }
    fm_config cfg = fm_config_default(8, sizeof(order), CAPACITY);
    cfg.flags = FM_FIXED_CAPACITY;
    cfg.hash = FM_HASH_IDENTITY; /* sequential ids: the identity hash spreads them well */
    fm_map *book = NULL;
    check(fm_create(&cfg, &book), NULL, "fm_create");
    fm_stats before;
    check(fm_get_stats(book, &before), book, "fm_get_stats");

    ref = calloc(MAX_IDS, sizeof *ref);
    live = calloc(MAX_IDS, 1);
    live_ids = malloc(MAX_IDS * sizeof *live_ids);
    live_pos = malloc(MAX_IDS * sizeof *live_pos);
    uint64_t *ids = malloc(MAX_IDS * sizeof *ids);
    order *orders = malloc(MAX_IDS * sizeof *orders);
    uint8_t *flags = malloc(MAX_IDS);
    if (!ref || !live || !live_ids || !live_pos || !ids || !orders || !flags) {
        fprintf(stderr, "order_book: out of memory\n");
        return 1;
    }

    uint64_t rng = 7, next_id = 0, errors = 0;
    uint64_t n_new = 0, n_amend = 0, n_cancel = 0, n_cancel_hit = 0;
    for (int t = 0; t < ticks; t++) {
        /* Updates: new orders, then amendments of resting ones (a key may
         * appear twice; the last occurrence wins, as in the reference). */
        size_t nu = 0;
        for (int i = 0; i < NEW_PER_TICK; i++, nu++) {
            uint64_t r = splitmix64(&rng);
            ids[nu] = next_id++;
            orders[nu] = (order){.price = 10000 + (int64_t)(r % 200) - 100,
                                 .quantity = 1 + (r >> 16) % 1000,
                                 .timestamp = (uint64_t)t,
                                 .trader = (uint32_t)(r >> 32) % 500,
                                 .side = (uint8_t)((r >> 60) & 1)};
        }
        for (int i = 0; i < AMEND_PER_TICK && n_live > 0; i++, nu++) {
            uint64_t r = splitmix64(&rng);
            ids[nu] = live_ids[r % n_live];
            orders[nu] = ref[ids[nu]];
            orders[nu].quantity = 1 + (r >> 20) % 1000;
            orders[nu].timestamp = (uint64_t)t;
        }
        check(fm_bulk_insert(book, ids, orders, nu), book, "updates");
        for (size_t i = 0; i < nu; i++) ref_add(ids[i], &orders[i]);
        n_new += NEW_PER_TICK;
        n_amend += nu - NEW_PER_TICK;

        /* Cancels: enough to come back to TARGET_LIVE, some random ones,
         * a few for orders already gone and a few sent twice. */
        size_t nc = 0, want = n_live > TARGET_LIVE ? n_live - TARGET_LIVE : 0;
        want += splitmix64(&rng) % 300;
        for (size_t i = 0; i < want && i < n_live; i++)
            ids[nc++] = live_ids[splitmix64(&rng) % n_live];
        for (int i = 0; i < 20; i++) ids[nc++] = splitmix64(&rng) % next_id;
        for (size_t i = 0, base = nc; i < 5 && i < base; i++) ids[nc++] = ids[base - 1 - i];
        check(fm_bulk_remove(book, ids, nc, flags), book, "cancels");
        for (size_t i = 0; i < nc; i++) {
            int hit = ref_cancel(ids[i]);
            if (flags[i] != hit && errors++ < 5)
                fprintf(stderr, "tick %d: cancel of order %llu reported %d, want %d\n", t,
                        (unsigned long long)ids[i], flags[i], hit);
            n_cancel_hit += (uint64_t)hit;
        }
        n_cancel += nc;
        if (fm_size(book) != n_live && errors++ < 5)
            fprintf(stderr, "tick %d: %llu resting orders, want %zu\n", t,
                    (unsigned long long)fm_size(book), n_live);
    }

    /* The whole book, every id ever used, in one bulk get. */
    for (uint64_t i = 0; i < next_id; i++) ids[i] = i;
    check(fm_bulk_get(book, ids, next_id, orders, flags), book, "final get");
    for (uint64_t i = 0; i < next_id; i++) {
        if (flags[i] != live[i] || (live[i] && memcmp(&orders[i], &ref[i], sizeof(order)) != 0)) {
            if (errors++ < 5) fprintf(stderr, "final: order %llu differs\n", (unsigned long long)i);
        }
    }

    /* A burst bigger than the free room: FM_ERR_FULL, the book unchanged;
     * exactly the free room: fits. */
    size_t room = CAPACITY - n_live;
    for (size_t i = 0; i <= room; i++) {
        ids[i] = next_id + i;
        orders[i] = (order){.price = 1, .quantity = 1, .timestamp = (uint64_t)ticks};
    }
    fm_status st = fm_bulk_insert(book, ids, orders, room + 1);
    if ((st != FM_ERR_FULL || fm_size(book) != n_live) && errors++ < 5)
        fprintf(stderr, "burst of %zu: %s, size %llu; want FM_ERR_FULL and %zu\n", room + 1,
                fm_status_str(st), (unsigned long long)fm_size(book), n_live);
    check(fm_bulk_insert(book, ids, orders, room), book, "burst that fits");
    if (fm_size(book) != CAPACITY && errors++ < 5)
        fprintf(stderr, "full book holds %llu, want %d\n", (unsigned long long)fm_size(book), CAPACITY);

    fm_stats after;
    check(fm_get_stats(book, &after), book, "fm_get_stats");
    if (after.slots != before.slots && errors++ < 5)
        fprintf(stderr, "the table grew from %llu to %llu slots\n", (unsigned long long)before.slots,
                (unsigned long long)after.slots);

    printf("order_book: %d ticks: %llu new, %llu amended, %llu cancels (%llu hit); %zu resting, "
           "burst past capacity refused; %llu slots throughout (capacity %d): %s\n",
           ticks, (unsigned long long)n_new, (unsigned long long)n_amend, (unsigned long long)n_cancel,
           (unsigned long long)n_cancel_hit, n_live, (unsigned long long)after.slots, CAPACITY,
           errors ? "FAILED" : "ok");

    fm_destroy(book);
    free(ref);
    free(live);
    free(live_ids);
    free(live_pos);
    free(ids);
    free(orders);
    free(flags);
    return errors ? 1 : 0;
}
