#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# exported_symbols: libflashmap.so must export exactly the functions the
# public headers declare with FM_API, each under the symbol version
# FLASHMAP_<ABI> (src/flashmap.map.in), and nothing else.
#   exported_symbols.sh LIBFLASHMAP.so ABI HEADER...
set -u
lib=$1 abi=$2
shift 2
fail() { echo "exported_symbols: FAILED: $*"; exit 1; }
command -v nm >/dev/null || fail "nm (binutils) is not installed"
[ -f "$lib" ] || fail "no library at $lib"
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT

# Declared: every name after FM_API up to its '(' (declarations may wrap).
cat "$@" | tr '\n' ' ' | grep -o 'FM_API [^;(]*(' | grep -o 'fm_[a-z0-9_]*($' | tr -d '(' |
    sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || fail "no FM_API declarations found in $*"

# Exported: defined dynamic symbols, without the linker's version-definition
# entries (an ABS symbol named like the version).
nm -D --defined-only --with-symbol-versions "$lib" >"$tmp/nm" || fail "nm -D $lib"
awk '$2 != "A" { print $3 }' "$tmp/nm" | sort -u >"$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort -u >"$tmp/exported"

if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    echo "exported but not declared in the headers:"
    comm -13 "$tmp/declared" "$tmp/exported" | sed 's/^/  /'
    echo "declared but not exported:"
    comm -23 "$tmp/declared" "$tmp/exported" | sed 's/^/  /'
    fail "$lib exports other symbols than the public API"
fi
# Each under FLASHMAP_<abi> (nm prints name@@VERSION for the default version).
bad=$(grep -v "@@FLASHMAP_$abi\$" "$tmp/versioned" | head -5)
[ -z "$bad" ] || fail "symbols without the version FLASHMAP_$abi: $bad"
echo "exported_symbols: $(wc -l <"$tmp/declared") symbols, all declared, all FLASHMAP_$abi: passed"
