#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Hand-checked edge rules of flashmap-kmer count (and the reading verbs):
# N and IUPAC codes break k-mers, lower case counts as upper case, no k-mer
# spans two records or skips a line break, reads shorter than k give
# nothing, empty files and empty reads are fine, 16-byte keys at k 33 and
# 64, histo's last bucket, query on a canonical database, -L/-U.
#   edge_cases.sh WORK KMER [LAUNCHER...]
# LAUNCHER (e.g. mpiexec -n 3 --oversubscribe) runs every count over MPI
# ranks; the reading verbs run in one process (they are checked over MPI
# by compare.sh), which keeps the test quick.
# Where jellyfish is installed, each case is also checked against it.
set -euo pipefail
work=$1 kmer=$2
shift 2
launcher=("$@")
mkdir -p "$work"
cd "$work"
trap 'rm -rf "$work"' EXIT
fail=0

# r1: lower case, N; r2: shorter than k; r3: IUPAC codes; r4: one sequence
# over two lines. k = 3, forward: ACG x5, CGT x4, GTA x1 (nothing across
# records: no AAC, CAC, TAC, GTC...).
printf '>r1 lower case and N\nacgtNACGTa\n>r2 shorter than k\nAC\n>r3 IUPAC\nACGRYACGT\n>r4 two lines\nAC\nGT\n' > edge.fa
# q1: N and lower case (ACG x2, CGT x1); q2: shorter than k; q3: an empty read.
printf '@q1\nACGTnacg\n+\nIIIIIIII\n@q2\nAC\n+\nII\n@q3\n\n+\n\n' > edge.fq
: > empty.fq
# 66 bases: at k = 64 three k-mers, at k = 33 thirty-four.
long=ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTACGTAC
printf '>long\n%s\n' "$long" > long.fa
{ printf '>a\n'; head -c 10010 /dev/zero | tr '\0' A; printf '\n>c\n'; head -c 30 /dev/zero | tr '\0' C; printf '\n'; } > high.fa

count() { "${launcher[@]}" "$kmer" count "$@"; }
run() { "$kmer" "$@"; }
expect() { # name, expected text, command...
  local name=$1 want=$2
  shift 2
  local got
  got=$("$@")
  if [ "$got" == "$want" ]; then
    echo "edge: $name: ok"
  else
    echo "edge: MISMATCH in $name"
    echo "--- expected"; echo "$want"; echo "--- got"; echo "$got"
    fail=1
  fi
}
sorted_dump() { run dump -c "$@" | LC_ALL=C sort; }
jf_same() { # name, jellyfish count flags..., -- files: the histo and sorted dump agree with Jellyfish
  command -v jellyfish > /dev/null || return 0
  local name=$1 db=$2
  shift 2
  jellyfish count -s 1M -o jf.jf "$@"
  expect "$name = jellyfish (histo)" "$(jellyfish histo jf.jf)" run histo "$db"
  expect "$name = jellyfish (dump -c)" "$(jellyfish dump -c jf.jf | LC_ALL=C sort)" sorted_dump "$db"
  expect "$name = jellyfish (stats)" "$(jellyfish stats jf.jf)" run stats "$db"
  rm -f jf.jf
}

count -m 3 -o fwd.fm edge.fa
expect "forward dump" $'ACG 5\nCGT 4\nGTA 1' sorted_dump fwd.fm
expect "forward fasta dump" $'>1\nGTA' run dump -U 1 fwd.fm
expect "forward histo" $'1 1\n4 1\n5 1' run histo fwd.fm
expect "forward stats" $'Unique:    1\nDistinct:  3\nTotal:     10\nMax_count: 5' run stats fwd.fm
expect "forward query" $'CGT 4\nTAC 0\nACG 5' run query fwd.fm CGT tac ACG
jf_same "forward" fwd.fm -m 3 edge.fa

count -m 3 -C -o can.fm edge.fa
expect "canonical dump" $'ACG 9\nGTA 1' sorted_dump can.fm
expect "canonical query (printed canonical)" $'ACG 9\nGTA 1\nAAA 0' run query can.fm CGT TAC AAA
jf_same "canonical" can.fm -m 3 -C edge.fa

# The sidecar (k, canonical) must come from the same save as the checkpoint.
cp fwd.fm.kmer fwd.kmer.saved
cp can.fm.kmer fwd.fm.kmer
if "$kmer" stats fwd.fm > /dev/null 2> err.txt || ! grep -q "fwd.fm.kmer belongs to another save" err.txt; then
  echo "edge: MISMATCH: a sidecar from another save was not refused"; cat err.txt; fail=1
else
  echo "edge: sidecar from another save refused: ok"
fi
mv fwd.kmer.saved fwd.fm.kmer

# Several files, an empty one among them.
count -m 3 -o multi.fm empty.fq edge.fa edge.fq
expect "several files" $'ACG 7\nCGT 5\nGTA 1' sorted_dump multi.fm
jf_same "several files" multi.fm -m 3 empty.fq edge.fa edge.fq
# -L / -U applied before saving.
count -m 3 -L 2 -U 6 -o lu.fm empty.fq edge.fa edge.fq
expect "-L 2 -U 6" $'CGT 5' sorted_dump lu.fm
expect "-L 2 -U 6 query" $'GTA 0\nACG 0\nCGT 5' run query lu.fm GTA ACG CGT

# k larger than every read; an empty file alone.
zero=$'Unique:    0\nDistinct:  0\nTotal:     0\nMax_count: 0'
count -m 12 -o big.fm edge.fa edge.fq
expect "k > reads: stats" "$zero" run stats big.fm
expect "k > reads: histo" "" run histo big.fm
expect "k > reads: dump" "" run dump big.fm
expect "k > reads: query" "ACGTACGTACGT 0" run query big.fm ACGTACGTACGT
count -m 5 -o empty.fm empty.fq
expect "empty file: stats" "$zero" run stats empty.fm

# 16-byte keys: k = 64 and 33 on a 66-base read.
count -m 64 -o k64.fm long.fa
expect "k 64" "$(printf '%s 1\n' "${long:0:64}" "${long:1:64}" "${long:2:64}" | LC_ALL=C sort)" sorted_dump k64.fm
count -m 33 -C -o k33.fm long.fa
jf_same "k 33 canonical" k33.fm -m 33 -C long.fa
expect "k 33 canonical total" "Total:     34" bash -c "\"\$@\" | grep Total" _ "$kmer" stats k33.fm

# histo: counts above high + increment go to the last bucket (10001).
count -m 5 -o high.fm high.fa
expect "histo last bucket" $'26 1\n10001 1' run histo high.fm
expect "histo -l 5 -h 12 -i 2 -f" $'3 0\n5 0\n7 0\n9 0\n11 0\n13 2' run histo -l 5 -h 12 -i 2 -f high.fm

[ "$fail" = 0 ] || { echo "edge: FAILED"; exit 1; }
echo "edge: all cases passed"
