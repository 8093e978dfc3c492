#!/bin/bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# CTest test "module_lmod": the installed environment module under Lmod.
# Installs the build into a scratch prefix, then in a shell with Lmod:
# `module use <prefix>/share/modulefiles`, `module load flashmap`, builds
# probe.c with nothing but -lflashmap (the module sets CPATH, LIBRARY_PATH),
# runs it (LD_LIBRARY_PATH; 2 MPI ranks in MPI builds), checks pkg-config
# and FLASHMAP_ROOT, and that `module unload` takes it all away.
# Skipped (77) without Lmod (Debian: lmod). Settings: the FM_IT_* variables
# of run_install_test.sh; FM_IT_WORK is this test's own scratch directory.
set -u
fail() { echo "module test: FAILED: $*"; exit 1; }
init=
for f in /usr/share/lmod/lmod/init/bash /usr/share/lmod/lmod/init/sh /etc/profile.d/lmod.sh; do
    [ -f "$f" ] && init=$f && break
done
[ -n "$init" ] || { echo "module test: Lmod is not installed (apt-get install lmod): skipped"; exit 77; }

work=$FM_IT_WORK prefix=$FM_IT_WORK/prefix
rm -rf "$work" && mkdir -p "$work" || fail "mkdir $work"
"$FM_IT_CMAKE" --install "$FM_IT_BUILD" --prefix "$prefix" > "$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "cmake --install"; }
ls "$prefix"/share/modulefiles/flashmap/"$FM_IT_VERSION".lua > /dev/null || fail "no module file installed"

# shellcheck disable=SC1090
. "$init" || fail "cannot source $init"
module use "$prefix/share/modulefiles" && module load flashmap || fail "module load flashmap"
[ "${FLASHMAP_ROOT:-}" = "$prefix" ] || fail "FLASHMAP_ROOT is '${FLASHMAP_ROOT:-}', not $prefix"
command -v flashmap-kmer > /dev/null || [ "$FM_IT_MPI" = 0 ] || fail "flashmap-kmer is not on PATH"
"${FM_IT_PKG_CONFIG:-pkg-config}" --exists flashmap || fail "pkg-config does not find flashmap"
cd "$work" || fail "cd $work"
if [ "$FM_IT_MPI" = 1 ]; then
    "$FM_IT_MPICC" -DFM_PROBE_MPI -Wall -Werror "$FM_IT_SOURCE/probe.c" -lflashmap -o probe || fail "mpicc ... -lflashmap"
    # shellcheck disable=SC2086
    "$FM_IT_MPIEXEC" "$FM_IT_NP_FLAG" 2 ${FM_IT_MPIEXEC_EXTRA:-} ./probe || fail "the probe fails on 2 ranks"
else
    "$FM_IT_CC" -Wall -Werror "$FM_IT_SOURCE/probe.c" -lflashmap -o probe || fail "cc ... -lflashmap"
    ./probe || fail "the probe fails"
fi
module unload flashmap || fail "module unload flashmap"
[ -z "${FLASHMAP_ROOT:-}" ] || fail "FLASHMAP_ROOT is still set after module unload"
case ":${LD_LIBRARY_PATH:-}:" in *":$prefix/"*) fail "LD_LIBRARY_PATH still names $prefix" ;; esac
echo "module test: module load, build with -lflashmap, run, unload: passed"
