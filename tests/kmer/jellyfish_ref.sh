#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Fixture of the kmer tests: what Jellyfish 2.3 says about one input.
#   jellyfish_ref.sh WORK NAME K CANONICAL(0|1) INPUT
# Writes WORK/NAME.histo, NAME.dump (dump -c, sorted), NAME.stats.
# Exits 77 (skipped) when jellyfish is not installed.
set -euo pipefail
work=$1 name=$2 k=$3 canonical=$4 input=$5
if ! command -v jellyfish > /dev/null; then
  echo "kmer reference: jellyfish is not installed (apt-get install jellyfish); skipping"
  exit 77
fi
cd "$work"
flags=(-m "$k" -s 4M -t 1)
[ "$canonical" = 1 ] && flags+=(-C)
jellyfish count "${flags[@]}" -o "$name.jf" "$input"
jellyfish histo "$name.jf" > "$name.histo"
jellyfish dump -c "$name.jf" | LC_ALL=C sort > "$name.dump"
jellyfish stats "$name.jf" > "$name.stats"
rm -f "$name.jf"
echo "kmer reference: $name: $(grep Distinct "$name.stats")"
