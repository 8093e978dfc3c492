#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# CTest test "install": install the build tree into a fresh prefix, then
# build tests/install/probe.c against it the two ways users do and run it:
#   1. CMake: find_package(flashmap) and flashmap::flashmap / flashmap::flashmap_static
#   2. pkg-config: `pkg-config --cflags --libs flashmap` (and --static)
# MPI builds run every probe under the MPI launcher on 2 ranks.
#
# Settings come from the environment (tests/CMakeLists.txt sets them):
#   FM_IT_CMAKE      cmake of the build          FM_IT_BUILD   the build tree
#   FM_IT_SOURCE     this directory              FM_IT_WORK    scratch directory (emptied first)
#   FM_IT_CC         C compiler                  FM_IT_CONFIG  build configuration (may be empty)
#   FM_IT_GENERATOR  CMake generator             FM_IT_PKG_CONFIG  pkg-config
#   FM_IT_MPI        1 when built with MPI       FM_IT_MPICC   MPI C compiler wrapper
#   FM_IT_MPIEXEC    launcher, FM_IT_NP_FLAG its rank-count flag, FM_IT_MPIEXEC_EXTRA more flags
#   FM_IT_VERSION    the project's version   FM_IT_PROJECT_SOURCE  the source tree
set -eu

: "${FM_IT_CMAKE:?}" "${FM_IT_BUILD:?}" "${FM_IT_SOURCE:?}" "${FM_IT_WORK:?}" "${FM_IT_CC:?}"
: "${FM_IT_PKG_CONFIG:?}" "${FM_IT_MPI:=0}" "${FM_IT_CONFIG:=}" "${FM_IT_GENERATOR:=}"
work=$FM_IT_WORK
prefix=$work/prefix

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'install test: FAILED: %s\n' "$*"; exit 1; }
# run LOG CMD...: run quietly, show the log when it fails.
run() {
    log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        fail "$*"
    fi
}
# launch EXE: run a probe (under the MPI launcher on 2 ranks in MPI builds).
launch() {
    if [ "$FM_IT_MPI" = 1 ]; then
        # shellcheck disable=SC2086 # the extra flags are a word list
        set -- "$FM_IT_MPIEXEC" "$FM_IT_NP_FLAG" 2 ${FM_IT_MPIEXEC_EXTRA:-} "$@"
    fi
    echo "\$ $*"
    "$@" || fail "$* exited with status $?"
}

rm -rf "$work"
mkdir -p "$work"

step "cmake --install $FM_IT_BUILD --prefix $prefix"
run "$work/install.log" "$FM_IT_CMAKE" --install "$FM_IT_BUILD" --prefix "$prefix" \
    ${FM_IT_CONFIG:+--config "$FM_IT_CONFIG"}
(cd "$prefix" && find . -type f -o -type l | sort)
config=$(find "$prefix" -name flashmapConfig.cmake | head -n 1)
pc=$(find "$prefix" -name flashmap.pc | head -n 1)
[ -n "$config" ] || fail "no flashmapConfig.cmake under $prefix"
[ -n "$pc" ] || fail "no flashmap.pc under $prefix"
for f in flashmapConfigVersion.cmake flashmapTargets.cmake; do
    [ -f "$(dirname "$config")/$f" ] || fail "no $f beside $config"
done
[ -f "$prefix/include/flashmap.h" ] || fail "no include/flashmap.h"
if [ "$FM_IT_MPI" = 1 ]; then
    [ -f "$prefix/include/flashmap_mpi.h" ] || fail "no include/flashmap_mpi.h"
fi
# Nothing private may leak into the exported targets: in-tree targets,
# sanitizer flags, paths into the build or source tree.
targets=$(dirname "$config")/flashmapTargets
for bad in flashmap_build_flags flashmap_objects flashmap_xxhash fsanitize "$FM_IT_BUILD" ${FM_IT_PROJECT_SOURCE:+"$FM_IT_PROJECT_SOURCE"}; do
    if grep -n -F -e "$bad" "$targets".cmake "$targets"-*.cmake; then
        fail "\"$bad\" appears in the exported targets"
    fi
done

# A consumer needs CUDA only if it calls CUDA itself: the package never
# looks for the toolkit, and the shared library links no CUDA runtime.
if grep -n -E '^[^#]*(CUDAToolkit|CUDA::)' "$config" "$targets".cmake "$targets"-*.cmake; then
    fail "the CMake package asks for CUDA"
fi
if ldd "$prefix"/lib*/libflashmap.so | grep -E 'lib(cudart|nccl)[.]'; then
    fail "the installed libflashmap.so links the CUDA runtime or NCCL"
fi

step "CMake package: find_package(flashmap) in a fresh project"
cm=$work/cmake-project
run "$work/cmake-configure.log" "$FM_IT_CMAKE" -S "$FM_IT_SOURCE" -B "$cm" \
    ${FM_IT_GENERATOR:+-G "$FM_IT_GENERATOR"} \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$FM_IT_CC" \
    -DCMAKE_BUILD_TYPE="${FM_IT_CONFIG:-Release}"
grep 'flashmap .* from' "$work/cmake-configure.log" || true
run "$work/cmake-build.log" "$FM_IT_CMAKE" --build "$cm" ${FM_IT_CONFIG:+--config "$FM_IT_CONFIG"}
for kind in shared static; do
    exe=$(find "$cm" -type f -name "probe_$kind" | head -n 1)
    [ -x "$exe" ] || fail "probe_$kind was not built"
    launch "$exe"
done

step "pkg-config: \$(pkg-config --cflags --libs flashmap)"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
pkgc=$FM_IT_PKG_CONFIG
"$pkgc" --exists --print-errors flashmap || fail "pkg-config does not find flashmap"
version=$("$pkgc" --modversion flashmap)
[ -z "${FM_IT_VERSION:-}" ] || [ "$version" = "$FM_IT_VERSION" ] ||
    fail "flashmap.pc says version $version, the build is $FM_IT_VERSION"
cflags=$("$pkgc" --cflags flashmap)
libs=$("$pkgc" --libs flashmap)
libdir=$("$pkgc" --variable=libdir flashmap)
echo "cflags: $cflags"
echo "libs:   $libs"
echo "libs (--static): $("$pkgc" --static --libs flashmap)"
[ -d "$libdir" ] || fail "libdir $libdir from flashmap.pc does not exist"
cc=$FM_IT_CC
defs=
if [ "$FM_IT_MPI" = 1 ]; then
    cc=${FM_IT_MPICC:?MPI build without an MPI compiler wrapper}
    defs=-DFM_PROBE_MPI
fi
pcdir=$work/pkg-config-project
mkdir -p "$pcdir"
# shellcheck disable=SC2086 # pkg-config output is a word list
run "$work/pc-shared.log" "$cc" -std=c11 -Wall -Wextra -Werror $defs "$FM_IT_SOURCE/probe.c" \
    $cflags $libs "-Wl,-rpath,$libdir" -o "$pcdir/probe_pc_shared"
launch "$pcdir/probe_pc_shared"

# Static: the archive instead of -lflashmap, plus Libs.private.
static_libs=$("$pkgc" --static --libs flashmap | sed 's/-lflashmap\b/-Wl,-Bstatic -lflashmap -Wl,-Bdynamic/')
# shellcheck disable=SC2086
run "$work/pc-static.log" "$cc" -std=c11 -Wall -Wextra -Werror $defs "$FM_IT_SOURCE/probe.c" \
    $cflags $static_libs -o "$pcdir/probe_pc_static"
if command -v readelf >/dev/null 2>&1 && readelf -d "$pcdir/probe_pc_static" | grep -q 'libflashmap'; then
    fail "probe_pc_static depends on libflashmap.so"
fi
launch "$pcdir/probe_pc_static"

printf '\ninstall test: ok (CMake package and pkg-config, shared and static)\n'
