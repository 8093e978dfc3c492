#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Fixture of the kmer tests: the inputs, made once per build from the real
# reads of the Debian package gasic-examples (SRR059298_subset.fastq.gz:
# 100,000 Illumina reads of 72 bases, with Ns).
#   prepare.sh WORK READS_GZ NREADS     (NREADS 0: all of them)
# Writes into WORK:
#   reads.fq        the reads, plain FASTQ (split among ranks by byte ranges)
#   reads.fq.gz     the same, gzip in two members (as `cat a.gz b.gz` makes)
#   half1.fq.gz     the first half, gzip; half2.fq the second half, plain
#   reads.fa        the reads as FASTA, sequences wrapped at 50 columns
#   reads.fa.gz     the same, gzip
# Exits 77 (skipped) when the reads are not installed.
set -euo pipefail
work=$1 reads=$2 nreads=$3
if [ ! -r "$reads" ]; then
  echo "kmer prepare: $reads not found (apt-get install gasic-examples); skipping"
  exit 77
fi
mkdir -p "$work"
cd "$work"
if [ "$nreads" -gt 0 ]; then
  gzip -dc "$reads" | awk -v n=$((4 * nreads)) 'NR <= n' > reads.fq.tmp  # no SIGPIPE: read it all
else
  gzip -dc "$reads" > reads.fq.tmp
fi
lines=$(wc -l < reads.fq.tmp)
half=$(( (lines / 8) * 4 ))
head -n "$half" reads.fq.tmp > half1.fq
tail -n +"$((half + 1))" reads.fq.tmp > half2.fq
gzip -1 -c half1.fq > half1.fq.gz
gzip -1 -c half2.fq > half2.fq.gz
cat half1.fq.gz half2.fq.gz > reads.fq.gz
rm -f half1.fq half2.fq.gz
awk 'NR % 4 == 1 { print ">" substr($1, 2) }
     NR % 4 == 2 { s = $0; while (length(s) > 50) { print substr(s, 1, 50); s = substr(s, 51) } print s }' \
  reads.fq.tmp > reads.fa
gzip -1 -c reads.fa > reads.fa.gz
mv reads.fq.tmp reads.fq
echo "kmer prepare: $((lines / 4)) reads in $work"
