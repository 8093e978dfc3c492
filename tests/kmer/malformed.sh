#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Malformed input: flashmap-kmer count must fail with a clear message (the
# file, the line, what is wrong), a non-zero exit status, and nothing
# written under the database name (an existing database stays as it was).
#   malformed.sh WORK KMER [LAUNCHER...]
# Without a launcher every case runs (one process). With one (mpiexec -n 3
# ...), the cases that exercise the ranks' agreement run: an error in
# another rank's byte range, a file only one rank reads, a missing file.
set -euo pipefail
work=$1 kmer=$2
shift 2
launcher=("$@")
mkdir -p "$work"
cd "$work"
trap 'rm -rf "$work"' EXIT
fail=0

# A valid database first: failing counts to the same name must not touch it.
printf '>ok\nACGTACGT\n' > ok.fa
"${launcher[@]}" "$kmer" count -m 3 -o keep.fm ok.fa
before=$(cat keep.fm keep.fm.* | md5sum)

all=$((${#launcher[@]} == 0))
case_() { # name, db, file, expected message (extended regex), content (printf format; - for none)
  local name=$1 db=$2 file=$3 pattern=$4 content=$5
  [ "$content" = - ] || printf "$content" > "$file"
  local status=0
  "${launcher[@]}" "$kmer" count -m 3 -o "$db" "$file" 2> err.txt > /dev/null || status=$?
  local left
  left=$(ls bad.fm* 2> /dev/null || true)  # keep.fm is checked below
  if [ "$status" -eq 0 ]; then
    echo "malformed: $name: MISMATCH: exit status 0"; fail=1
  elif [ -n "$left" ]; then
    echo "malformed: $name: MISMATCH: files left: $left"; fail=1
  elif ! grep -Eq "^flashmap-kmer: $pattern" err.txt; then
    echo "malformed: $name: MISMATCH: message does not match '$pattern':"; cat err.txt; fail=1
  elif [ "$(cat keep.fm keep.fm.* | md5sum)" != "$before" ]; then
    echo "malformed: $name: MISMATCH: the existing database $db was changed"; fail=1
  else
    echo "malformed: $name: ok: $(grep '^flashmap-kmer' err.txt | head -1)"
  fi
}

[ "$all" = 1 ] && case_ "truncated record (quality cut)" bad.fm cut.fq "cut.fq: line 8: the quality has 2 characters but the sequence has 4" \
  '@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nII'
[ "$all" = 1 ] && case_ "truncated record (no quality)" bad.fm cut2.fq "cut2.fq: line 8: the file ends inside the record starting at line 5: no quality" \
  '@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\n'
[ "$all" = 1 ] && case_ "truncated record (no '+' line)" bad.fm cut3.fq "cut3.fq: line 3: the file ends inside the record starting at line 1: no '\+' line" \
  '@r1\nACGT\n'
case_ "missing '+' line" keep.fm noplus.fq "noplus.fq: line 4: a new record starts here but the record starting at line 1 has no '\+' line" \
  '@r1\nACGT\nIIII\n@r2\nACGT\n+\nIIII\n'
[ "$all" = 1 ] && case_ "sequence/quality length mismatch" bad.fm len.fq "len.fq: line 4: the quality has 3 characters but the sequence has 4" \
  '@r1\nACGT\n+\nIII\n@r2\nACGT\n+\nIIII\n'
[ "$all" = 1 ] && case_ "quality longer than sequence" bad.fm len2.fq "len2.fq: line 8: the quality has 5 characters but the sequence has 4" \
  '@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIIIII\n'
case_ "binary junk file" bad.fm junk.bin "junk.bin: line 1: not a FASTA or FASTQ file: it starts with byte 0x00" \
  '\000\001\002\003\377binary junk\n'
[ "$all" = 1 ] && case_ "binary junk in a FASTA sequence" bad.fm junk.fa "junk.fa: line 3: byte 0x01 cannot be in a sequence" \
  '>r\nACGT\nAC\001\002GG\n'
[ "$all" = 1 ] && case_ "binary junk after FASTQ records" bad.fm junk.fq "junk.fq: line 5: expected a FASTQ record header \('@'\), found byte 0x7f" \
  '@r1\nACGT\n+\nIIII\n\177ELF\002\001\001\n'
[ "$all" = 1 ] && case_ "binary junk in a quality line" bad.fm junkq.fq "junkq.fq: line 4: byte 0x01 cannot be in a quality line" \
  '@r1\nACGT\n+\nII\001I\n'
case_ "corrupt gzip (one rank reads it)" bad.fm bad.gz "bad.gz: (not valid gzip data|the gzip stream is cut short)" \
  '\037\213\010\000\000\000\000\000\000\003\377\377\377\377\377\377\377\377'
case_ "missing file" bad.fm no-such-file.fq "no-such-file.fq: cannot open" -

# An error far into a file: with several ranks it is in another rank's byte
# range, and the line number still counts from the start of the file.
awk 'BEGIN { for (i = 1; i <= 1000; i++) { s = ""; for (j = 0; j < 60; j++) s = s substr("ACGT", (i * 7 + j * j) % 4 + 1, 1);
             q = s; gsub(/./, "I", q); if (i == 501) q = substr(q, 2); printf "@r%d\n%s\n+\n%s\n", i, s, q } }' > mid.fq
status=0
"${launcher[@]}" "$kmer" count -m 21 -o bad.fm mid.fq 2> err.txt > /dev/null || status=$?
if [ "$status" -ne 0 ] && grep -q "^flashmap-kmer: mid.fq: line 2004: the quality has 59 characters but the sequence has 60 (record starting at line 2001)" err.txt &&
   [ -z "$(ls bad.fm* 2> /dev/null || true)" ]; then
  echo "malformed: error in the middle of a file: ok: $(grep '^flashmap-kmer' err.txt | head -1)"
else
  echo "malformed: error in the middle of a file: MISMATCH (status $status):"; cat err.txt; fail=1
fi

# The same error in a gzip file, which several ranks read in stripes
# (kmer_split.h): each checks every record, so each reports it, with the
# line counted from the start of the file.
gzip -1 -c mid.fq > mid.fq.gz
status=0
"${launcher[@]}" "$kmer" count -m 21 -o bad.fm mid.fq.gz 2> err.txt > /dev/null || status=$?
if [ "$status" -ne 0 ] && grep -q "^flashmap-kmer: mid.fq.gz: line 2004: the quality has 59 characters but the sequence has 60 (record starting at line 2001)" err.txt &&
   [ -z "$(ls bad.fm* 2> /dev/null || true)" ]; then
  echo "malformed: error in the middle of a gzip file: ok: $(grep '^flashmap-kmer' err.txt | head -1)"
else
  echo "malformed: error in the middle of a gzip file: MISMATCH (status $status):"; cat err.txt; fail=1
fi

[ "$fail" = 0 ] || { echo "malformed: FAILED"; exit 1; }
echo "malformed: all cases passed"
