#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# One command for a fresh Debian 12 machine, as root: installs what is
# missing, builds flashmap (Release) and runs the main job: a k-mer count of
# real sequencing reads (gasic-examples) over 2 MPI ranks with flashmap-kmer,
# then a short bulk benchmark against libcuckoo, TBB and abseil. Results go
# to build/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset default
cmake --build --preset default
mkdir -p build/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
FLASHMAP_KMER="$PWD/build/default/tools/flashmap-kmer" bench/kmer/run.sh --quick --work "$PWD/build/results/kmer-quick"
./build/default/bench/flashmap-bench --quick --json "build/results/bench-quick-$stamp.jsonl"
echo "setup-and-run: done; JSON lines in build/results/bench-quick-$stamp.jsonl"
