#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# One gzip file on several ranks is read in stripes (kmer_split.h): every
# rank must take k-mers of it, and the ranks' k-mers must add up to the
# total. (That the counts are right is compare.sh's part.)
#   gzip_stripes.sh INPUTS KMER NP LAUNCHER...
set -euo pipefail
inputs=$1 kmer=$2 np=$3
shift 3
launcher=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${launcher[@]}" "$kmer" count -m 31 -C -v -o "$work/s.fm" "$inputs/reads.fq.gz" 2> "$work/v.txt" > /dev/null ||
  { cat "$work/v.txt"; echo "MISMATCH: count failed"; exit 1; }
# "rank R: ... N keys for M k-mers (...)" per rank; "..., T k-mers, ..." once.
awk -v np="$np" '
  /: rank [0-9]+: reading/ { for (i = 1; i < NF; i++) if ($(i + 1) == "k-mers" && $(i - 1) == "for") { n[$3 + 0] = $i; sum += $i } }
  / records, / { for (i = 1; i < NF; i++) if ($(i + 1) == "k-mers,") total = $i }
  END {
    bad = 0
    for (r = 0; r < np; r++) if (!(r in n) || n[r] + 0 == 0) { printf "MISMATCH: rank %d took no k-mers of the gzip file\n", r; bad = 1 }
    if (sum != total || total == 0) { printf "MISMATCH: the ranks took %d k-mers, the count has %d\n", sum, total; bad = 1 }
    if (!bad) printf "gzip_stripes: %d ranks, %d k-mers: ok\n", np, total
    exit bad
  }' "$work/v.txt" || { cat "$work/v.txt"; exit 1; }
