#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# flashmap-kmer count on the ranks of one node asks Open MPI for its ob1
# point-to-point layer (shared memory) instead of letting MPI_Init probe
# the network layers, and keeps a layer the user chose. (Alone, count
# starts no MPI at all: alone.sh.)
#   transport.sh WORK KMER [LAUNCHER...]
# Skipped (77) where the MPI is not Open MPI.
set -euo pipefail
work=$1 kmer=$2
shift 2
launcher=("$@")
"$kmer" version > /dev/null
if ! { mpiexec --version 2>&1 || true; } | grep -q "Open MPI\|OpenRTE"; then
  echo "transport: not Open MPI: skipped"
  exit 77
fi
mkdir -p "$work"
cd "$work"
trap 'rm -rf "$work"' EXIT
printf '>r\nACGTACGTTGCAACGT\n' > r.fa
fail=0

# The choice: only ob1 is opened (the default list holds cm, ob1 and more).
unset OMPI_MCA_pml
OMPI_MCA_pml_base_verbose=10 "${launcher[@]}" "$kmer" count -m 5 -o r.fm r.fa > verbose.txt 2>&1 ||
  { cat verbose.txt; echo "MISMATCH: count failed"; fail=1; }
if ! grep -q "select: component ob1 selected" verbose.txt; then
  echo "MISMATCH: ob1 not selected"; fail=1
fi
if grep -q "found loaded component cm" verbose.txt; then
  echo "MISMATCH: the pml components were probed, not ob1 alone"; fail=1
fi
[ "$("$kmer" stats r.fm | awk '/^Total:/ { print $2 }')" = 12 ] || { echo "MISMATCH: wrong total"; fail=1; }

# The user's choice is kept: a layer that does not exist stops MPI_Init.
if OMPI_MCA_pml=no_such_layer "${launcher[@]}" "$kmer" count -m 5 -o bad.fm r.fa > bad.txt 2>&1; then
  echo "MISMATCH: OMPI_MCA_pml set by the user was replaced"; fail=1
fi
[ ! -e bad.fm ] || { echo "MISMATCH: a database was written"; fail=1; }

[ $fail = 0 ] && echo "transport: passed"
exit $fail
