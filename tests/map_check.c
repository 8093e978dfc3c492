/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _POSIX_C_SOURCE 200809L
#include "map_check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

/* Every exported entry is in the reference with the same value, once, and
 * as many as the reference holds. Returns the number of problems. */
static int export_matches(fm_map *m, const ref_map *ref, uint32_t ks, uint32_t vs, const char *what)
{
    const size_t chunk = 997, want = ref_size(ref);
    uint8_t *keys = tu_xmalloc(chunk * ks), *values = tu_xmalloc(chunk * (vs ? vs : 1));
    uint8_t *seen = calloc(ref_id_limit(ref) + 1, 1);
    uint64_t cursor = 0, total = 0, calls = 0;
    int bad = 0;
    do {
        size_t n = 0;
        fm_status st = fm_export(m, &cursor, keys, vs ? values : NULL, chunk, &n);
        if (st != FM_OK || ++calls > 10000000) {
            fprintf(stderr, "%s: fm_export: %s\n", what, fm_last_error(m));
            bad++;
            break;
        }
        for (size_t i = 0; i < n && bad < 10; i++) {
            const size_t id = ref_find(ref, keys + i * ks);
            if (id == REF_NONE) {
                fprintf(stderr, "%s: exported key ", what);
                tu_print_hex(stderr, keys + i * ks, ks);
                fprintf(stderr, " is not in the reference\n");
                bad++;
            } else if (seen[id]++) {
                fprintf(stderr, "%s: key exported twice\n", what);
                bad++;
            } else if (vs && memcmp(ref_value(ref, id), values + i * vs, vs) != 0) {
                fprintf(stderr, "%s: key ", what);
                tu_print_hex(stderr, keys + i * ks, ks);
                fprintf(stderr, " has value ");
                tu_print_hex(stderr, values + i * vs, vs);
                fprintf(stderr, ", reference ");
                tu_print_hex(stderr, ref_value(ref, id), vs);
                fprintf(stderr, "\n");
                bad++;
            }
        }
        total += n;
    } while (cursor != 0);
    if (!bad && total != want) {
        fprintf(stderr, "%s: exported %llu entries, reference %zu\n", what, (unsigned long long)total, want);
        bad++;
    }
    free(keys);
    free(values);
    free(seen);
    return bad;
}

/* A bulk get of every reference key finds it with its value. */
static int gets_match(fm_map *m, const ref_map *ref, uint32_t ks, uint32_t vs, const char *what)
{
    const size_t chunk = 997, lim = ref_id_limit(ref);
    uint8_t *keys = tu_xmalloc(chunk * ks), *values = tu_xmalloc(chunk * (vs ? vs : 1));
    uint8_t found[997];
    size_t n = 0;
    int bad = 0;
    for (size_t id = 0; id <= lim && !bad; id++) {
        const int live = id < lim && ref_key(ref, id) && ref_find(ref, ref_key(ref, id)) == id;
        if (live) memcpy(keys + n++ * ks, ref_key(ref, id), ks);
        if (n == chunk || (id == lim && n > 0)) {
            if (fm_bulk_get(m, keys, n, vs ? values : NULL, found) != FM_OK) {
                fprintf(stderr, "%s: fm_bulk_get: %s\n", what, fm_last_error(m));
                bad++;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                const size_t rid = ref_find(ref, keys + i * ks);
                if (!found[i] || (vs && memcmp(values + i * vs, ref_value(ref, rid), vs) != 0)) {
                    fprintf(stderr, "%s: fm_bulk_get misses a key or returns a wrong value\n", what);
                    bad++;
                    break;
                }
            }
            n = 0;
        }
    }
    free(keys);
    free(values);
    return bad;
}

int mc_same_contents(fm_map *m, const ref_map *ref, uint32_t ks, uint32_t vs, const char *what)
{
    int bad = 0;
    if (fm_size(m) != ref_size(ref)) {
        fprintf(stderr, "%s: fm_size %llu, reference %zu\n", what, (unsigned long long)fm_size(m),
                ref_size(ref));
        bad++;
    }
    bad += export_matches(m, ref, ks, vs, what);
    if (!bad) bad += gets_match(m, ref, ks, vs, what);
    return bad == 0;
}

int mc_count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

void mc_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(p, 0755);
            mc_remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}
