#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The output side of flashmap-kmer count:
# - an -o that cannot be written (no such directory, a directory) fails
#   before any input is read, with one message and nothing left behind;
# - recounting onto a database saved by another rank count (or alone)
#   leaves only the new save's parts;
# - -L above -U and -s with a fraction are refused with the rule;
# - -t above the cores the process may run on warns, once;
# - library errors come without source locations, which -v keeps.
#   output.sh WORK KMER LAUNCHER...   (LAUNCHER: mpiexec -n P ..., P > 1)
set -euo pipefail
work=$1 kmer=$2
shift 2
launcher=("$@")
rm -rf "$work" && mkdir -p "$work"
cd "$work"
trap 'rm -rf "$work"' EXIT
fail=0
ok() { echo "output: $1: ok"; }
bad() { echo "output: $1: MISMATCH: $2"; [ -f err.txt ] && cat err.txt; fail=1; }

printf '>r1\nACGTACGTTTGACCAGTACGGATTACA\n>r2\nTTGACCAGTACGGATTACAGGG\n' > in.fa
# A missing input file too: had counting started, it would be the error.
refused() { # name, regex of the one message, count arguments...
  local name=$1 pattern=$2
  shift 2
  local status=0
  "${launcher[@]}" "$kmer" count -m 5 "$@" in.fa missing.fa 2> err.txt > /dev/null || status=$?
  local lines
  lines=$(grep -c '^flashmap-kmer' err.txt || true)
  if [ "$status" -eq 0 ]; then bad "$name" "exit status 0"
  elif ! grep -Eq "^flashmap-kmer: $pattern" err.txt; then bad "$name" "message does not match '$pattern'"
  elif [ "$lines" -ne 1 ]; then bad "$name" "$lines messages, not one"
  else ok "$name: $(head -1 err.txt)"
  fi
}
refused "no such directory" "cannot write the database nodir/x.fm: cannot create files there: No such file or directory" -o nodir/x.fm
mkdir outdir
refused "-o names a directory" "cannot write the database outdir: it is a directory" -o outdir
[ -z "$(ls -A outdir)" ] && [ -z "$(ls outdir.* 2> /dev/null || true)" ] && ok "nothing left beside or in the directory" ||
  bad "-o names a directory" "files left: $(ls -A outdir outdir.* 2> /dev/null | tr '\n' ' ')"

# Options, refused with their rule (one process).
status=0; "$kmer" count -m 5 -L 10 -U 5 -o x.fm in.fa 2> err.txt || status=$?
[ "$status" -eq 2 ] && grep -q -- "-L (lower count) 10 is above -U (upper count) 5" err.txt && ok "-L above -U" ||
  bad "-L above -U" "status $status"
status=0; "$kmer" count -m 5 -s 1.5G -o x.fm in.fa 2> err.txt || status=$?
[ "$status" -eq 2 ] && grep -q "suffix k, M, G or T" err.txt && ok "-s 1.5G names the suffixes" ||
  bad "-s 1.5G" "status $status"

# Recount onto a database of another rank count: only the new parts remain
# (a count alone writes one file and no parts), and the verbs read it.
"${launcher[@]}" "$kmer" count -m 5 -o db.fm in.fa
old=$(ls db.fm.rank* | wc -l)
"$kmer" count -m 5 -o db.fm in.fa
parts=$(find . -name 'db.fm.rank*' | tr '\n' ' ')
if [ "$old" -gt 1 ] && [ -z "$parts" ] && "$kmer" stats db.fm > /dev/null; then
  ok "recount alone over $old ranks' save leaves no parts"
else
  bad "recount alone" "parts after the recount: $parts (before: $old)"
fi
"${launcher[@]}" "$kmer" count -m 5 -o db.fm in.fa
parts=$(find . -name 'db.fm.rank*' | wc -l)
if [ "$parts" = "$old" ] && "$kmer" stats db.fm > /dev/null; then
  ok "recount on $old ranks over a save alone leaves $parts parts"
else
  bad "recount on ranks" "$parts parts after the recount, not $old"
fi

# -t above the cores the process may run on: one warning, and the count
# goes on; none when it has the cores.
if command -v taskset > /dev/null; then
  status=0; taskset -c 0 "$kmer" count -m 5 -t 2 -o w.fm in.fa 2> err.txt || status=$?
  if [ "$status" -eq 0 ] && [ "$(grep -c 'warning: -t 2, but this process may run on only 1 core' err.txt)" = 1 ] &&
    "$kmer" stats w.fm > /dev/null; then ok "-t 2 on 1 core warns once: $(head -1 err.txt)"
  else bad "-t 2 on 1 core" "status $status"; fi
fi
if [ "$(nproc)" -ge 2 ]; then
  "$kmer" count -m 5 -t 2 -o w.fm in.fa 2> err.txt
  [ ! -s err.txt ] && ok "-t 2 on $(nproc) cores: no warning" || bad "-t 2 on $(nproc) cores" "a warning"
fi

# A library error as the user sees it, and with -v as the developer does.
status=0; FLASHMAP_BACKEND=bogus "$kmer" count -m 5 -o y.fm in.fa 2> err.txt || status=$?
if [ "$status" -ne 0 ] && grep -q 'FLASHMAP_BACKEND is "bogus"' err.txt && ! grep -Eq '\.(c|cu):[0-9]+\)|invalid argument:' err.txt; then
  ok "library message without source locations: $(head -1 err.txt)"
else
  bad "library message" "status $status"
fi
status=0; FLASHMAP_BACKEND=bogus "$kmer" count -v -m 5 -o y.fm in.fa 2> err.txt || status=$?
grep -Eq '\.(c|cu):[0-9]+\)' err.txt && ok "-v keeps them" || bad "-v" "no source location"

[ "$fail" = 0 ] || { echo "output: FAILED"; exit 1; }
echo "output: all cases passed"
