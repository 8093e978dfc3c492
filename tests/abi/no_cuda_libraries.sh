#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# no_cuda_libraries: a CUDA-enabled build loads and runs CPU maps on a node
# without the CUDA runtime or NCCL. Two checks:
# 1. ldd: nothing the library and the programs load resolves to libcudart,
#    libnccl or libcuda (the runtime is linked statically, NCCL and the
#    driver are opened at run time);
# 2. the programs run in a private mount namespace where every libcudart*,
#    libnccl* and libcuda* file the loader could find (ldconfig's cache and
#    LIBDIR...) reads as empty (/dev/null bound over it): the unit tests, the
#    README's MPI program linked with libflashmap.so on 2 ranks, and a
#    flashmap-kmer count and stats on 2 ranks.
# Skipped (77) where no mount namespace can be made (unshare -m).
#   no_cuda_libraries.sh WORK "MPIEXEC -n 2 FLAGS" LIBFLASHMAP SEMANTICS BAD_ARGS README_SHARED KMER LIBDIR...
set -u
work=$1 mpiexec=$2 lib=$3 semantics=$4 bad_args=$5 readme=$6 kmer=$7
shift 7
fail() { echo "no_cuda_libraries: FAILED: $*"; exit 1; }

for f in "$lib" "$semantics" "$bad_args" "$readme" "$kmer"; do
    [ -x "$f" ] || [ -f "$f" ] || fail "no $f"
    linked=$(ldd "$f" | grep -E 'lib(cudart|nccl|cuda)[._]' || true)
    [ -z "$linked" ] || fail "$f loads CUDA libraries: $linked"
done
echo "no_cuda_libraries: ldd: no libcudart, libnccl or libcuda in $lib or the programs"

# Every file the loader could take for one of them.
hidden=$( { ldconfig -p 2>/dev/null | awk '{ print $NF }'
            for d in "$@" /usr/local/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
                [ -d "$d" ] && ls -d "$d"/* 2>/dev/null
            done; } | grep -E '/lib(cudart|nccl|cuda)[._][^/]*$' | while read -r f; do
              [ -e "$f" ] && readlink -f "$f"; done | sort -u)
[ -n "$hidden" ] || echo "no_cuda_libraries: no CUDA or NCCL libraries installed here; the run below proves less"

if [ "$(id -u)" = 0 ]; then ns="unshare -m"; else ns="unshare -r -m"; fi
$ns true 2>/dev/null || { echo "no_cuda_libraries: cannot make a mount namespace ($ns): skipped"; exit 77; }

rm -rf "$work" && mkdir -p "$work" || fail "mkdir $work"
printf '>r1\nACGTACGTTTGACCAGTACGGATTACA\n>r2\nTTGACCAGTACGGATTACAGGG\n' > "$work/in.fa"
export FM_NC_HIDDEN="$hidden" FM_NC_WORK="$work"
$ns sh -c '
    set -u
    for f in $FM_NC_HIDDEN; do mount --bind /dev/null "$f" || exit 3; done
    for f in $FM_NC_HIDDEN; do [ ! -s "$f" ] || { echo "still readable: $f"; exit 3; }; done
    echo "no_cuda_libraries: hidden: $(echo $FM_NC_HIDDEN | wc -w) files"
    unset FLASHMAP_BACKEND
    "$1" > "$FM_NC_WORK/semantics.txt" 2>&1 || { echo "semantics failed:"; tail -5 "$FM_NC_WORK/semantics.txt"; exit 4; }
    "$2" > "$FM_NC_WORK/bad_args.txt" 2>&1 || { echo "bad_args failed:"; tail -5 "$FM_NC_WORK/bad_args.txt"; exit 4; }
    $4 "$3" > "$FM_NC_WORK/readme.txt" 2>&1 && grep -q "300000 distinct, first count 8" "$FM_NC_WORK/readme.txt" ||
        { echo "the README program (libflashmap.so) failed:"; tail -5 "$FM_NC_WORK/readme.txt"; exit 4; }
    $4 "$5" count -m 5 -o "$FM_NC_WORK/db.fm" "$FM_NC_WORK/in.fa" &&
        "$5" stats "$FM_NC_WORK/db.fm" > "$FM_NC_WORK/stats.txt" && grep -q "^Distinct: *25$" "$FM_NC_WORK/stats.txt" ||
        { echo "flashmap-kmer failed"; cat "$FM_NC_WORK/stats.txt" 2>/dev/null; exit 4; }
' no_cuda_libraries "$semantics" "$bad_args" "$readme" "$mpiexec" "$kmer"
rc=$?
[ $rc -eq 0 ] || fail "the programs fail without the CUDA libraries (status $rc)"
echo "no_cuda_libraries: semantics, bad_args, the README program on 2 ranks and flashmap-kmer ran without them: passed"
