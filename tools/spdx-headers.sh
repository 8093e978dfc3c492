#!/bin/sh
# Adds "SPDX-License-Identifier: MIT OR Apache-2.0" (see LICENSE) to every
# source file of the repository that lacks it, as a comment in the file's
# own syntax: the first line, or the second after a "#!" line. Idempotent:
# run it again after merging branches that add files.
#   tools/spdx-headers.sh          add the missing headers
#   tools/spdx-headers.sh --check  list the files that lack one; exit 1 if any
# Source files: git's tracked and untracked-but-not-ignored files (or, with
# no git, every file under the top directory but build/) whose names end in
# .c .h .cu .cuh .cpp .hpp .sh .py .cmake .sbatch .supp .lua .in .yaml, and
# every CMakeLists.txt.
set -eu
cd "$(dirname "$0")/.."
id="SPDX-License-Identifier: MIT OR Apache-2.0"
check=0
[ "${1:-}" = --check ] && check=1

files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files --cached --others --exclude-standard
    else
        find . -path ./build -prune -o -type f -print | sed 's|^\./||'
    fi | grep -E '(\.(c|h|cu|cuh|cpp|hpp|sh|py|cmake|sbatch|supp|lua|in|yaml)|(^|/)CMakeLists\.txt)$' |
        grep -v '^\.ci/'
}

# The comment line for a file, by its name.
comment() {
    case $1 in
    *.c | *.h | *.cu | *.cuh | *.cpp | *.hpp | *.map.in) echo "/* $id */" ;;
    *.lua | *.lua.in) echo "-- $id" ;;
    *) echo "# $id" ;;
    esac
}

missing=0
for f in $(files); do
    [ -f "$f" ] || continue
    head -n 5 "$f" | grep -q "SPDX-License-Identifier:" && continue
    missing=$((missing + 1))
    if [ $check = 1 ]; then
        echo "no SPDX header: $f"
        continue
    fi
    line=$(comment "$f")
    tmp="$f.spdx.$$"
    if head -n 1 "$f" | grep -q '^#!'; then
        { head -n 1 "$f"; echo "$line"; tail -n +2 "$f"; } > "$tmp"
    else
        { echo "$line"; cat "$f"; } > "$tmp"
    fi
    chmod --reference="$f" "$tmp" 2>/dev/null || true
    mv "$tmp" "$f"
done
if [ $check = 1 ]; then
    [ $missing = 0 ] || { echo "spdx-headers: FAILED: $missing files without an SPDX header (run tools/spdx-headers.sh)"; exit 1; }
    echo "spdx-headers: every source file has its SPDX header: passed"
elif [ $missing != 0 ]; then
    echo "spdx-headers: added the header to $missing files"
else
    echo "spdx-headers: every source file has its header"
fi
