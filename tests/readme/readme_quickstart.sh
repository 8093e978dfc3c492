#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# readme_quickstart: the README's complete MPI program, built and run with
# the README's own commands, as a new user would, and its output checked
# against the line the README says it prints.
#   readme_quickstart.sh README.md SOURCE_DIR BUILD_DIR WORK_DIR
# The commands run in WORK_DIR, set up like the top of a clone: include/ and
# build/default/src are links to the source's headers and this build's
# library (whatever the build directory is called).
set -u
readme=$1 src=$2 build=$3 work=$4
fail() { echo "readme_quickstart: FAILED: $*"; exit 1; }

rm -rf "$work" && mkdir -p "$work/build/default" || fail "cannot make $work"
ln -s "$src/include" "$work/include" && ln -s "$build/src" "$work/build/default/src" || fail "links in $work"

# From "A complete MPI program" on: the first C block is app.c, the first sh
# block after it the commands, and "It prints `...`" the expected output.
awk '/A complete MPI program/ { on = 1 }
     on && /^```c$/ { c = 1; next }
     c && /^```$/ { exit }
     c { print }' "$readme" >"$work/app.c"
awk '/A complete MPI program/ { on = 1 }
     on && /^```c$/ { c = 1 }
     c && /^```sh$/ { sh = 1; next }
     sh && /^```$/ { exit }
     sh { print }' "$readme" >"$work/commands.sh"
expect=$(awk '/A complete MPI program/ { on = 1 } on' "$readme" | tr '\n' ' ' |
         sed -n 's/.*It prints `\([^`]*\)`.*/\1/p')
[ -s "$work/app.c" ] || fail "no C block after \"A complete MPI program\" in $readme"
[ -s "$work/commands.sh" ] || fail "no sh block after the program in $readme"
[ -n "$expect" ] || fail "no \"It prints \`...\`\" after the program in $readme"
echo "readme_quickstart: commands from $readme:"
sed 's/^/  /' "$work/commands.sh"

(cd "$work" && sh -e ./commands.sh) >"$work/out.txt" 2>&1
rc=$?
cat "$work/out.txt"
[ $rc -eq 0 ] || fail "the README's commands exit with $rc"
grep -qxF "$expect" "$work/out.txt" || fail "the output lacks the README's line: $expect"
echo "readme_quickstart: passed"
