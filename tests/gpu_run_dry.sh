#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# CTest gpu_run_dry: bench/gpu/run.sh in dry mode (FM_GPU_DRY=1, no GPU, no
# build). Checks what a short device lease depends on: the steps run in the
# planned order (smoke first, benchmarks before tests, MPI last); the
# benchmark steps' real commands run with the emulated flashmap-bench-gpu
# (BENCH) and pass, their RESULT and COST lines in $OUT; each step's end
# line and the summary reach $OUT before the next step starts (every
# stand-in checks that, and a "NOT in $OUT" line fails here); a step that
# hangs (FM_GPU_DRY_HANG) is ended by its timeout and the steps after it
# still run.
#   gpu_run_dry.sh SOURCE_DIR BENCH
set -u
src=$1 bench=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

OUT=$tmp/out FM_GPU_DRY=1 FM_GPU_DRY_HANG=memcheck FM_GPU_BUDGET=300 FM_GPU_RESULTS=$tmp/results \
    FM_GPU_BUILD=$tmp/build FM_GPU_DRY_BENCH=$bench OMP_WAIT_POLICY=passive bash "$src/bench/gpu/run.sh" \
    > "$tmp/run.log" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "run.sh exited $rc"
log=$(ls "$tmp"/out/*-gpu.txt 2>/dev/null | head -1)
[ -n "$log" ] || { fail "no result file in \$OUT"; cat "$tmp/run.log"; echo "gpu_run_dry: $fails failures"; exit 1; }
want="smoke configure build bench_8x8 bench_host bench_32x128 bench_sharded probes phases group_sweep differential_cuda
      cross_backend device_shards_3 memcheck build_more more_cuda_tests cpu_bench mpi_configure mpi_build
      mpi_cuda_tests mpi_bench"
got=$(sed -n 's/^== \([a-z0-9_]*\): .*/\1/p' "$log" | grep -v '^dry$' | tr '\n' ' ')
[ "$(echo $got)" = "$(echo $want)" ] || fail "step order: got [$got], want [$(echo $want)]"
grep -q "NOT in" "$log" && fail "a step started before the previous one reached \$OUT: $(grep 'NOT in' "$log")"
grep -q '^== memcheck: TIMEOUT' "$log" || fail "the hanging step was not ended by its timeout"
n_ok=$(grep -c '^== [a-z0-9_]*: ok$' "$log")
[ "$n_ok" -eq 20 ] || fail "$n_ok steps ok, want 20 (all but the hanging one)"
grep -q '^COST dev_8x8_insert\|^COST 8x8_insert' "$log" || fail "no COST line of the emulated benchmark in \$OUT"
for r in dev_8x8_insert_Gkeys dev_8x8_get_Gkeys dev_8x8_add_fresh_Gkeys host_32x128_insert_ratio dev_32x128_get_Gkeys \
         dev_shards4_8x8_insert_Gkeys probe_chain3_fenced_Gloads; do
    grep -q "^RESULT $r " "$log" || fail "no RESULT $r from the emulated benchmark"
done
grep -q '^flashmap-phases: insert ' "$log" || fail "the phases step printed no flashmap-phases line"
for g in 16 20; do
    grep -q "^RESULT group${g}_dev_8x8_insert_Gkeys " "$log" || fail "no RESULT of the group sweep at 2^$g"
done
summary=$(ls "$tmp"/out/*-summary.txt 2>/dev/null | head -1)
[ -n "$summary" ] && grep -q '^mpi_bench ' "$summary" || fail "no summary with the last step in \$OUT"
results=$(ls "$tmp"/out/*-RESULT.txt 2>/dev/null | head -1)
[ -n "$results" ] && grep -q '^RESULT dry_differential_cuda ' "$results" &&
    grep -q '^RESULT dev_8x8_get_Gkeys ' "$results" || fail "no RESULT lines in \$OUT"
[ $fails -eq 0 ] || { echo "--- run.sh output"; cat "$tmp/run.log"; }
echo "gpu_run_dry: $fails failures"
[ $fails -eq 0 ]
