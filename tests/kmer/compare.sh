#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# flashmap-kmer against Jellyfish on real reads.
#   compare.sh WORK REF K CANONICAL(0|1) INPUTS KMER NP [LAUNCHER...]
# INPUTS: comma-separated files in WORK. LAUNCHER (mpiexec -n NP ...) runs
# count; with NP > 1 it also runs histo and dump over the ranks (the
# database is then read with fm_load_mpi); stats and query read it in one
# process (fm_load). histo, sorted dump -c and stats must be byte-identical
# to Jellyfish's (jellyfish_ref.sh REF); query must agree with dump on a
# sample of k-mers. FM_KMER_COUNT_FLAGS (environment) adds count options.
set -euo pipefail
work=$1 ref=$2 k=$3 canonical=$4 inputs=$5 kmer=$6 np=$7
shift 7
launcher=("$@")
readers=()
[ "$np" -gt 1 ] && readers=("$@")
cd "$work"
for f in "$ref.histo" "$ref.dump" "$ref.stats"; do
  if [ ! -e "$f" ]; then
    echo "kmer compare: $work/$f missing (no jellyfish reference); skipping"
    exit 77
  fi
done
IFS=, read -r -a files <<< "$inputs"
tag="$ref-$(basename "$kmer")-$$"
db="$tag.fm"
trap 'rm -f "$db" "$db".* "$tag".*' EXIT
flags=(-m "$k")
[ "$canonical" = 1 ] && flags+=(-C)
read -r -a extra <<< "${FM_KMER_COUNT_FLAGS:-}"
flags+=("${extra[@]}")
"${launcher[@]}" "$kmer" count -v "${flags[@]}" -o "$db" "${files[@]}" 2> "$tag.verbose" ||
  { cat "$tag.verbose"; exit 1; }
fail=0
# count -v: one stage line per rank, and whether the map grew (a map
# started with -s 1000 must have).
ranks_seen=$(grep -c '^flashmap-kmer: rank [0-9]*: reading and parsing .* keys for [0-9]* k-mers' "$tag.verbose" || true)
if [ "$ranks_seen" != "$np" ]; then
  echo "kmer compare: MISMATCH in count -v: $ranks_seen stage lines for $np ranks"; cat "$tag.verbose"; fail=1
fi
# The bytes sent between ranks: none on one rank, some on more.
sent=$(sed -n 's/.*the ranks sent each other \([0-9]*\) bytes.*/\1/p' "$tag.verbose")
if [ -z "$sent" ] || { [ "$np" = 1 ] && [ "$sent" != 0 ]; } || { [ "$np" != 1 ] && [ "$sent" = 0 ]; }; then
  echo "kmer compare: MISMATCH in count -v: ${sent:-no} bytes sent between $np ranks"; cat "$tag.verbose"; fail=1
fi
case " ${extra[*]} " in
  *" -s 1000 "*) want='the map grew from' ;;
  *) want='the map (grew from|kept its)' ;;
esac
grep -Eq "^flashmap-kmer: $want" "$tag.verbose" ||
  { echo "kmer compare: MISMATCH in count -v: no line matching '$want'"; cat "$tag.verbose"; fail=1; }
check() { # name, expected file, got file
  if cmp -s "$2" "$3"; then
    echo "kmer compare: $1 identical ($(wc -l < "$2") lines)"
  else
    echo "kmer compare: MISMATCH in $1 (expected $2, got $3):"
    diff "$2" "$3" | head -10
    fail=1
  fi
}
"${readers[@]}" "$kmer" histo "$db" > "$tag.histo"
check "histo" "$ref.histo" "$tag.histo"
"${readers[@]}" "$kmer" dump -c "$db" | LC_ALL=C sort > "$tag.dump"
check "dump -c" "$ref.dump" "$tag.dump"
"$kmer" stats "$db" > "$tag.stats"
check "stats" "$ref.stats" "$tag.stats"
# query: a few k-mers from the dump (counts as listed) and one absent.
mapfile -t sample < <(awk 'NR % 997 == 1' "$ref.dump" | head -20)
mers=()
for line in "${sample[@]}"; do mers+=("${line%% *}"); done
printf '%s\n' "${sample[@]}" > "$tag.qexp"
"$kmer" query "$db" "${mers[@]}" > "$tag.qgot"
check "query" "$tag.qexp" "$tag.qgot"
[ "$fail" = 0 ] || { echo "kmer compare: FAILED"; exit 1; }
echo "kmer compare: all identical to Jellyfish"
