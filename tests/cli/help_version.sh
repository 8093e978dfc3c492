#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# Every tool answers --help and --version on stdout with exit status 0,
# without an MPI launcher (help_version.sh NAME PROGRAM [VERB]: with VERB,
# also `PROGRAM VERB --help`).
set -u
name=$1 prog=$2
verb=${3:-}
fail() { echo "help_version: FAILED: $name $*"; exit 1; }
for flag in --help --version; do
    out=$("$prog" $flag 2>/dev/null) || fail "$flag exits with $?"
    [ -n "$out" ] || fail "$flag prints nothing on stdout"
done
"$prog" --version | grep -q "flashmap [0-9]" || fail "--version does not name the library's version"
if [ -n "$verb" ]; then
    out=$("$prog" "$verb" --help 2>/dev/null) || fail "$verb --help exits with $?"
    [ -n "$out" ] || fail "$verb --help prints nothing on stdout"
fi
echo "help_version: $name: passed"
