#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# flashmap-kmer count started without a launcher runs alone, without MPI:
# - MPI is never started (a point-to-point layer that does not exist would
#   stop MPI_Init; asked to, Open MPI would print the layers it opens);
# - the database is one data file (checkpoint kind 1) and no parts;
# - every verb reads it alone and over ranks (fm_load_mpi) with the same
#   answers as a count over ranks gives, -L/-U included.
#   alone.sh WORK KMER LAUNCHER...   (LAUNCHER: mpiexec -n P ..., P > 1)
set -euo pipefail
work=$1 kmer=$2
shift 2
launcher=("$@")
rm -rf "$work" && mkdir -p "$work"
cd "$work"
trap 'rm -rf "$work"' EXIT
fail=0
ok() { echo "alone: $1: ok"; }
bad() { echo "alone: $1: MISMATCH: $2"; fail=1; }

# 400 reads of 60 bases from a fixed seed, with repeats (counts above 1).
awk 'BEGIN { srand(7); for (r = 0; r < 400; r++) { s = ""; for (i = 0; i < 60; i++) s = s substr("ACGT", int(rand() * 4) + 1, 1);
             print ">r" r; print s; if (r % 3 == 0) { print ">d" r; print s } } }' > in.fa

status=0
OMPI_MCA_pml=no_such_layer OMPI_MCA_pml_base_verbose=10 "$kmer" count -m 11 -C -t 2 -o a.fm in.fa > a.out 2>&1 ||
  status=$?
if [ "$status" = 0 ] && ! grep -qi "pml\|mca" a.out; then ok "count alone starts no MPI"
else bad "count alone" "status $status, output: $(head -3 a.out)"; fi
kind=$(od -An -tu4 -j16 -N4 a.fm | tr -d ' ')
parts=$(find . -name 'a.fm.rank*' | wc -l)
[ "$kind" = 1 ] && [ "$parts" = 0 ] && ok "one data file, no parts" || bad "database" "kind $kind, $parts parts"

"${launcher[@]}" "$kmer" count -m 11 -C -o m.fm in.fa
# Runs "$@ DB" for DB = the count over ranks and the count alone: the
# outputs must be the same (and not empty).
same() { # name, command...
  local name=$1
  shift
  "$@" m.fm > want.txt
  "$@" a.fm > got.txt
  if [ -s want.txt ] && cmp -s want.txt got.txt; then ok "$name ($(wc -l < want.txt) lines)"
  else bad "$name" "differs from the count over ranks: $(diff want.txt got.txt | head -3)"; fi
}
dump_sorted() { "$@" | LC_ALL=C sort; }
same "dump -c alone" dump_sorted "$kmer" dump -c
same "histo alone" "$kmer" histo
same "stats alone" "$kmer" stats
same "dump -c over ranks" dump_sorted "${launcher[@]}" "$kmer" dump -c
same "histo over ranks" "${launcher[@]}" "$kmer" histo
query() { "$kmer" query "$1" "$mer"; }
mer=$("$kmer" dump -c m.fm | awk '$2 > 1 && m == "" { m = $1 } END { print m }')
same "query alone" query

# -L/-U: the filter alone removes what it removes over ranks.
"$kmer" count -m 11 -C -L 2 -U 3 -o a.fm in.fa
"${launcher[@]}" "$kmer" count -m 11 -C -L 2 -U 3 -o m.fm in.fa
same "-L 2 -U 3 dump -c" dump_sorted "$kmer" dump -c

[ "$fail" = 0 ] || { echo "alone: FAILED"; exit 1; }
echo "alone: all cases passed"
