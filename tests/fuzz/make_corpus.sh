#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Regenerates the seed corpora under tests/fuzz/corpus/<target>/.
#   tests/fuzz/make_corpus.sh [build dir]     (default: build/fuzz)
# Checkpoint and API seeds come from make_corpus.c (built in the build dir,
# the "fuzz" preset's or any other with FLASHMAP_FUZZ); the FASTA/FASTQ
# seeds are written here, gzip ones with gzip -n (no name, no time: the
# same bytes on every run). Files named regress-* are inputs that once
# found a bug: they are kept as they are.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/fuzz}
corpus=$here/corpus
cmake --build "$build" --target fuzz_make_corpus -j2 >/dev/null
for t in fuzz_checkpoint_load fuzz_api_sequence fuzz_kmer_reader; do
  mkdir -p "$corpus/$t"
  find "$corpus/$t" -type f ! -name 'regress-*' -delete
done
"$build/tests/fuzz/fuzz_make_corpus" "$corpus"

# k-mer reader seeds: three control bytes, then the file.
#   byte 0: k = 1 + (b % 64), canonical when b >= 128
#   byte 1: read size index (b & 7: 1, 2, 3, 5, 7, 16, 64, 65536 bytes)
#   byte 2: where the two-rank split cuts (b / 256 of the file)
kmer=$corpus/fuzz_kmer_reader
seed() { # seed <name> <k byte> <read byte> <cut byte>, file on stdin
  { printf "\\$(printf '%03o' "$2")\\$(printf '%03o' "$3")\\$(printf '%03o' "$4")"; cat; } > "$kmer/$1"
}
fasta=$'>seq1 first record\nACGTACGTNNacgtgGATTACA\nCCGGTTAAcgtagcta\n\n>seq2\nTTTTTTTTTTTTGGGGGG\n>empty\n>seq3 IUPAC\nACGRYKMACGTTGCA\n'
fastq=$'@r1\nACGTACGGTCAGTTAGC\n+\nIIIIIIIIIIIIIIIII\n@r2 multi-line\nACGTAC\nGGTTAA\n+r2\nIIIII\nIIIIIII\n\n@r3 empty\n\n+\n\n@r4\nNNACGTNN\n+\n@@@@@@@@\n'
printf '%s' "$fasta" | seed fasta-k5 4 3 128
printf '%s' "$fasta" | seed fasta-k21-canonical $((128 + 20)) 7 90
printf '%s' "$fastq" | seed fastq-k3-canonical $((128 + 2)) 2 100
printf '%s' "$fastq" | seed fastq-k33 32 5 60
printf '%s' "$fastq" | sed 's/$/\r/' | seed fastq-crlf-k4 3 4 128
printf '@long\n%s\n+\n%s\n' "$(printf 'ACGT%.0s' {1..20})" "$(printf 'IIII%.0s' {1..20})" | seed fastq-k64 63 6 128
printf '@bad\nACGT\n+\nIII\n' | seed fastq-short-quality 1 0 128
printf '%s' "$fastq" | gzip -n | seed fastq-gz-k7 6 6 0
{ printf '%s' "$fasta" | gzip -n; printf '>more\nACGTTGCA\n' | gzip -n; } | seed fasta-gz-two-members-k3 2 7 0
echo "make_corpus: $(find "$corpus" -type f | wc -l) seeds in $corpus"
