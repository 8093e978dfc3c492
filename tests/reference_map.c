/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Reference map: separate chaining over an entry array. See reference_map.h. */
#include "reference_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ref_map {
    size_t key_size, value_size;
    /* Entries: id i has its key at keys + i * key_size, its value at
     * values + i * value_size, and next[i] is the next id in its bucket's
     * chain (or, for a removed entry, in the free list). */
    uint8_t *keys;
    uint8_t *values;
    size_t *next;
    uint8_t *live;
    size_t n_ids;    /* ids handed out so far (live or free) */
    size_t cap_ids;  /* allocated entries */
    size_t free_ids; /* head of the free list */
    size_t size;     /* live entries */
    size_t *buckets; /* head id of each chain */
    size_t n_buckets; /* power of two */
};

static void *xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) {
        fprintf(stderr, "reference_map: out of memory (%zu bytes)\n", bytes);
        abort();
    }
    return q;
}

/* FNV-1a: simple and good enough to spread keys over the buckets. */
static uint64_t ref_hash(const ref_map *m, const void *key)
{
    const uint8_t *p = key;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < m->key_size; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static size_t bucket_of(const ref_map *m, const void *key)
{
    return (size_t)(ref_hash(m, key) & (m->n_buckets - 1));
}

static void set_buckets(ref_map *m, size_t n_buckets)
{
    m->buckets = xrealloc(m->buckets, n_buckets * sizeof *m->buckets);
    m->n_buckets = n_buckets;
    for (size_t b = 0; b < n_buckets; b++)
        m->buckets[b] = REF_NONE;
    /* Re-link every live entry into its new chain. */
    for (size_t id = 0; id < m->n_ids; id++) {
        if (!m->live[id])
            continue;
        size_t b = bucket_of(m, m->keys + id * m->key_size);
        m->next[id] = m->buckets[b];
        m->buckets[b] = id;
    }
}

ref_map *ref_create(size_t key_size, size_t value_size)
{
    ref_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->key_size = key_size;
    m->value_size = value_size;
    m->free_ids = REF_NONE;
    set_buckets(m, 64);
    return m;
}

void ref_destroy(ref_map *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->values);
    free(m->next);
    free(m->live);
    free(m->buckets);
    free(m);
}

void ref_clear(ref_map *m)
{
    m->n_ids = 0;
    m->size = 0;
    m->free_ids = REF_NONE;
    for (size_t b = 0; b < m->n_buckets; b++)
        m->buckets[b] = REF_NONE;
}

size_t ref_size(const ref_map *m) { return m->size; }
size_t ref_id_limit(const ref_map *m) { return m->n_ids; }
const uint8_t *ref_key(const ref_map *m, size_t id) { return m->keys + id * m->key_size; }
uint8_t *ref_value(const ref_map *m, size_t id) { return m->values + id * m->value_size; }

size_t ref_find(const ref_map *m, const void *key)
{
    for (size_t id = m->buckets[bucket_of(m, key)]; id != REF_NONE; id = m->next[id])
        if (memcmp(m->keys + id * m->key_size, key, m->key_size) == 0)
            return id;
    return REF_NONE;
}

static size_t new_id(ref_map *m)
{
    if (m->free_ids != REF_NONE) {
        size_t id = m->free_ids;
        m->free_ids = m->next[id];
        return id;
    }
    if (m->n_ids == m->cap_ids) {
        size_t cap = m->cap_ids ? 2 * m->cap_ids : 256;
        m->keys = xrealloc(m->keys, cap * m->key_size);
        m->values = xrealloc(m->values, cap * m->value_size);
        m->next = xrealloc(m->next, cap * sizeof *m->next);
        m->live = xrealloc(m->live, cap);
        m->cap_ids = cap;
    }
    return m->n_ids++;
}

int ref_put(ref_map *m, const void *key, const void *value)
{
    size_t id = ref_find(m, key);
    int is_new = id == REF_NONE;
    if (is_new) {
        if (m->size + 1 > m->n_buckets)
            set_buckets(m, 2 * m->n_buckets);
        id = new_id(m);
        memcpy(m->keys + id * m->key_size, key, m->key_size);
        m->live[id] = 1;
        size_t b = bucket_of(m, key);
        m->next[id] = m->buckets[b];
        m->buckets[b] = id;
        m->size++;
    }
    if (m->value_size) {
        if (value)
            memcpy(ref_value(m, id), value, m->value_size);
        else
            memset(ref_value(m, id), 0, m->value_size);
    }
    return is_new;
}

int ref_remove(ref_map *m, const void *key)
{
    size_t *link = &m->buckets[bucket_of(m, key)];
    while (*link != REF_NONE) {
        size_t id = *link;
        if (memcmp(m->keys + id * m->key_size, key, m->key_size) == 0) {
            *link = m->next[id];
            m->live[id] = 0;
            m->next[id] = m->free_ids;
            m->free_ids = id;
            m->size--;
            return 1;
        }
        link = &m->next[id];
    }
    return 0;
}

uint64_t ref_add_u64(ref_map *m, const void *key, uint64_t delta)
{
    size_t id = ref_find(m, key);
    uint64_t v = 0;
    if (id != REF_NONE)
        memcpy(&v, ref_value(m, id), 8);
    v += delta; /* unsigned: wraps mod 2^64 */
    ref_put(m, key, &v);
    return v;
}
