/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Blockchain state commit: 32-byte public keys -> 128-byte account records.
 *
 * A node keeps the world state in a flashmap. For every block it
 *   1. reads the accounts the block touches in one fm_bulk_get,
 *   2. executes the block's transfers on those copies,
 *   3. commits every changed account in one fm_bulk_insert and prunes the
 *      accounts the block emptied in one fm_bulk_remove.
 * A plain array indexed by account number replays the same blocks; the
 * program checks the map against it after every block and at the end
 * (balances, nonces, supply, an order-independent state digest over
 * fm_export) and exits non-zero on any difference.
 *
 * The map is sharded inside the process (cfg.shards = 2): routing is the
 * library's business, the calls are the same as for one table.
 *
 *   ./example_blockchain_state [blocks]        (default 20) */
#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct account {
    uint64_t balance;
    uint64_t nonce;          /* transfers sent */
    uint8_t code_hash[32];   /* zero for plain accounts */
    uint8_t storage_root[32];
    uint8_t reserved[48];
} account;
_Static_assert(sizeof(account) == 128, "an account record is 128 bytes");

enum { GENESIS = 50000, MAX_NEW = 25000, TX_PER_BLOCK = 5000 };
#define MAX_ACCOUNTS (GENESIS + MAX_NEW)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Account number -> its 32-byte public key (a stand-in for a real key). */
static void pubkey_of(uint64_t idx, uint8_t key[32])
{
    uint64_t s = idx * 0x2545F4914F6CDD1Dull + 1;
    for (int w = 0; w < 4; w++) {
        uint64_t v = splitmix64(&s);
        memcpy(key + 8 * w, &v, 8);
    }
}

static void account_init(account *a, uint64_t idx, uint64_t balance)
{
    memset(a, 0, sizeof *a);
    a->balance = balance;
    uint64_t s = idx ^ 0xC0DEull;
    for (int w = 0; w < 4; w++) {
        uint64_t v = splitmix64(&s);
        memcpy(a->storage_root + 8 * w, &v, 8);
    }
}

/* Order-independent digest of (key, value) pairs: a sum of per-entry hashes. */
static uint64_t entry_digest(const uint8_t key[32], const account *a)
{
    uint64_t h = 0x51ED270B27CE3D1Full, s;
    const uint8_t *bytes[2] = {key, (const uint8_t *)a};
    size_t lens[2] = {32, sizeof *a};
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < lens[p]; i += 8) {
            memcpy(&s, bytes[p] + i, 8);
            s ^= h;
            h = splitmix64(&s);
        }
    return h;
}

static void check(fm_status st, const fm_map *map, const char *what)
{
    if (st != FM_OK) {
        fprintf(stderr, "blockchain_state: %s failed: %s: %s\n", what, fm_status_str(st),
                fm_last_error(map));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int blocks = argc > 1 ? atoi(argv[1]) : 20;
    if (blocks < 1 || blocks > 30) { /* about 500 new accounts a block */
        fprintf(stderr, "usage: %s [blocks 1..30]\n", argv[0]);
        return 2;
    }
    fm_config cfg = fm_config_default(32, sizeof(account), MAX_ACCOUNTS);
    cfg.shards = 2;
    fm_map *state = NULL;
    check(fm_create(&cfg, &state), NULL, "fm_create");

    /* The reference: account number -> record, and whether it exists. */
    account *ref = calloc(MAX_ACCOUNTS, sizeof *ref);
    uint8_t *exists = calloc(MAX_ACCOUNTS, 1);
    /* Per block: the touched accounts, their keys and records. */
    uint8_t *keys = malloc((size_t)MAX_ACCOUNTS * 32);
    account *vals = malloc((size_t)MAX_ACCOUNTS * sizeof *vals);
    uint8_t *found = malloc(MAX_ACCOUNTS);
    uint64_t *touched = malloc(2 * TX_PER_BLOCK * sizeof *touched);
    int32_t *slot = malloc(MAX_ACCOUNTS * sizeof *slot);
    if (!ref || !exists || !keys || !vals || !found || !touched || !slot) {
        fprintf(stderr, "blockchain_state: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < MAX_ACCOUNTS; i++) slot[i] = -1;

    /* Genesis: one bulk insert. */
    uint64_t supply = 0;
    for (uint64_t i = 0; i < GENESIS; i++) {
        pubkey_of(i, keys + 32 * i);
        account_init(&vals[i], i, 1000000 + i % 1000);
        ref[i] = vals[i];
        exists[i] = 1;
        supply += vals[i].balance;
    }
    check(fm_bulk_insert(state, keys, vals, GENESIS), state, "genesis insert");
    uint64_t n_accounts = GENESIS, next_new = GENESIS, rng = 42;
    uint64_t committed = 0, pruned = 0, created = 0, errors = 0;
    int b = 0;

    for (; b < blocks && next_new + TX_PER_BLOCK <= MAX_ACCOUNTS; b++) {
        /* The block: transfers from existing accounts, some to new ones. */
        uint64_t from[TX_PER_BLOCK], to[TX_PER_BLOCK], amount[TX_PER_BLOCK];
        size_t nt = 0;
        for (int t = 0; t < TX_PER_BLOCK; t++) {
            do from[t] = splitmix64(&rng) % next_new; while (!exists[from[t]]);
            uint64_t r = splitmix64(&rng);
            to[t] = r % 10 == 0 ? next_new++ : (r >> 8) % next_new;
            /* 2% drain the sender completely; the rest move a little. */
            amount[t] = (r >> 40) % 50 == 0 ? UINT64_MAX : (r >> 20) % 5000;
            uint64_t ends[2] = {from[t], to[t]};
            for (int e = 0; e < 2; e++)
                if (slot[ends[e]] < 0) {
                    slot[ends[e]] = (int32_t)nt;
                    touched[nt++] = ends[e];
                }
        }

        /* 1. Read the touched accounts (new ones come back not found). */
        for (size_t i = 0; i < nt; i++) pubkey_of(touched[i], keys + 32 * i);
        check(fm_bulk_get(state, keys, nt, vals, found), state, "block read");
        for (size_t i = 0; i < nt; i++) {
            if (found[i] != exists[touched[i]] ||
                (found[i] && memcmp(&vals[i], &ref[touched[i]], sizeof(account)) != 0)) {
                if (errors++ < 5)
                    fprintf(stderr, "block %d: account %llu reads wrong (found %d)\n", b,
                            (unsigned long long)touched[i], found[i]);
            }
            if (!found[i]) account_init(&vals[i], touched[i], 0);
        }

        /* 2. Execute on the copies (and on the reference). */
        for (int t = 0; t < TX_PER_BLOCK; t++) {
            account *src = &vals[slot[from[t]]], *dst = &vals[slot[to[t]]];
            uint64_t amt = amount[t] > src->balance ? src->balance : amount[t];
            src->balance -= amt;
            src->nonce++;
            dst->balance += amt;
            account *rs = &ref[from[t]], *rd = &ref[to[t]];
            if (!exists[to[t]]) {
                account_init(rd, to[t], 0);
                exists[to[t]] = 1;
                n_accounts++;
                created++;
            }
            rs->balance -= amt;
            rs->nonce++;
            rd->balance += amt;
        }

        /* 3. Commit every touched account in one call, then prune the
         *    emptied ones (balance 0) in one call. */
        check(fm_bulk_insert(state, keys, vals, nt), state, "block commit");
        committed += nt;
        size_t ne = 0;
        for (size_t i = 0; i < nt; i++)
            if (vals[i].balance == 0) {
                memmove(keys + 32 * ne, keys + 32 * i, 32);
                exists[touched[i]] = 0;
                n_accounts--;
                ne++;
            }
        check(fm_bulk_remove(state, keys, ne, found), state, "prune");
        for (size_t i = 0; i < ne; i++)
            if (!found[i] && errors++ < 5) fprintf(stderr, "block %d: prune missed an account\n", b);
        pruned += ne;
        for (size_t i = 0; i < nt; i++) slot[touched[i]] = -1;

        if (fm_size(state) != n_accounts && errors++ < 5)
            fprintf(stderr, "block %d: fm_size %llu, want %llu\n", b,
                    (unsigned long long)fm_size(state), (unsigned long long)n_accounts);
    }

    /* Final check: every account number ever used, in one bulk get. */
    for (uint64_t i = 0; i < next_new; i++) pubkey_of(i, keys + 32 * i);
    check(fm_bulk_get(state, keys, next_new, vals, found), state, "final read");
    uint64_t map_supply = 0, ref_digest = 0;
    for (uint64_t i = 0; i < next_new; i++) {
        if (found[i] != exists[i] || (found[i] && memcmp(&vals[i], &ref[i], sizeof(account)) != 0)) {
            if (errors++ < 5) fprintf(stderr, "final: account %llu differs\n", (unsigned long long)i);
        }
        if (found[i]) map_supply += vals[i].balance;
        if (exists[i]) ref_digest += entry_digest(keys + 32 * i, &ref[i]);
    }
    if (map_supply != supply && errors++ < 5)
        fprintf(stderr, "final: supply %llu, want %llu\n", (unsigned long long)map_supply,
                (unsigned long long)supply);

    /* The state digest from the map's own contents (fm_export, any order). */
    uint64_t cursor = 0, map_digest = 0, exported = 0;
    size_t got = 0;
    do {
        check(fm_export(state, &cursor, keys, vals, 4096, &got), state, "fm_export");
        for (size_t i = 0; i < got; i++) map_digest += entry_digest(keys + 32 * i, &vals[i]);
        exported += got;
    } while (cursor != 0);
    if ((map_digest != ref_digest || exported != n_accounts) && errors++ < 5)
        fprintf(stderr, "final: state digest %016llx over %llu accounts, want %016llx over %llu\n",
                (unsigned long long)map_digest, (unsigned long long)exported,
                (unsigned long long)ref_digest, (unsigned long long)n_accounts);

    fm_stats stats;
    check(fm_get_stats(state, &stats), state, "fm_get_stats");
    printf("blockchain_state: %d blocks of %d transfers; %llu account writes committed, "
           "%llu accounts created, %llu pruned; %llu accounts, supply %llu, state digest %016llx "
           "(%d shards, load %.2f): %s\n",
           b, TX_PER_BLOCK, (unsigned long long)committed, (unsigned long long)created,
           (unsigned long long)pruned, (unsigned long long)n_accounts, (unsigned long long)supply,
           (unsigned long long)map_digest, stats.shards, stats.load_factor, errors ? "FAILED" : "ok");

    fm_destroy(state);
    free(ref);
    free(exists);
    free(keys);
    free(vals);
    free(found);
    free(touched);
    free(slot);
    return errors ? 1 : 0;
}
