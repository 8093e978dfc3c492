#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# CTest "plot": bench/plot.py turns the recorded results into PNG files, and
# refuses input that holds no benchmark records.
#   plot_test.sh PYTHON PLOT_PY OUT_DIR RESULTS_DIR
python=$1 plot=$2 out=$3 results=$4
if [ -z "$python" ]; then
  echo "plot test: no python3 with matplotlib (apt-get install python3-matplotlib); skipped"
  exit 77
fi
rm -rf "$out"
"$python" "$plot" --out "$out" "$results"/*.jsonl || { echo "plot test: FAILED: plot.py exited $?"; exit 1; }
for png in threads-8x8.png mpi-ranks.png; do
  [ -s "$out/$png" ] || { echo "plot test: FAILED: no $out/$png"; exit 1; }
  head -c 8 "$out/$png" | od -c | grep -q 'P   N   G' || { echo "plot test: FAILED: $png is not a PNG"; exit 1; }
done
echo '{"something": "else"}' > "$out/other.jsonl"
if "$python" "$plot" --out "$out/x" "$out/other.jsonl" 2>/dev/null; then
  echo "plot test: FAILED: plot.py accepted a file with no benchmark records"
  exit 1
fi
echo "plot test: passed"
