#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# run_fuzzer.sh <fuzzer> <seed corpus> <work dir> <seconds>
# Runs a libFuzzer target for a bounded time. The seed corpus in the source
# tree is only read: libFuzzer writes new inputs to the first corpus
# directory it is given, here <work dir>/corpus, and crash inputs to
# <work dir>/artifacts/. Exits non-zero on any crash (libFuzzer's status).
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/artifacts"
echo "run_fuzzer: $fuzzer for ${seconds}s, seeds from $seeds"
exec "$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
