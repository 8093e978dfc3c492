#!/usr/bin/env bash
# CTest gpu_run_dry: bench/gpu/run.sh in dry mode (FM_GPU_DRY=1, no GPU, no
# build). Checks what a short device lease depends on: the steps run in the
# planned order (smoke first, benchmarks before tests, MPI last); each
# step's end line and the summary reach $OUT before the next step starts
# (every stand-in checks that, and a "NOT in $OUT" line fails here); a step
# that hangs (FM_GPU_DRY_HANG) is ended by its timeout and the steps after
# it still run; the emulated program given to the smoke step runs and its
# output is in $OUT.
#   gpu_run_dry.sh SOURCE_DIR PROGRAM
set -u
src=$1 program=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

OUT=$tmp/out FM_GPU_DRY=1 FM_GPU_DRY_HANG=probes FM_GPU_BUDGET=200 FM_GPU_RESULTS=$tmp/results \
    FM_GPU_BUILD=$tmp/build FM_GPU_DRY_PROGRAM=$program bash "$src/bench/gpu/run.sh" > "$tmp/run.log" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "run.sh exited $rc"
log=$(ls "$tmp"/out/*-gpu.txt 2>/dev/null | head -1)
[ -n "$log" ] || { fail "no result file in \$OUT"; cat "$tmp/run.log"; echo "gpu_run_dry: $fails failures"; exit 1; }
want="smoke configure build bench_8x8 bench_host bench_32x128 bench_sharded probes phases differential_cuda
      cross_backend device_shards_3 memcheck build_more more_cuda_tests cpu_bench mpi_configure mpi_build
      mpi_cuda_tests mpi_bench"
got=$(sed -n 's/^== \([a-z0-9_]*\): .*/\1/p' "$log" | grep -v '^dry$' | tr '\n' ' ')
[ "$(echo $got)" = "$(echo $want)" ] || fail "step order: got [$got], want [$(echo $want)]"
grep -q "NOT in" "$log" && fail "a step started before the previous one reached \$OUT: $(grep 'NOT in' "$log")"
grep -q '^== probes: TIMEOUT' "$log" || fail "the hanging step was not ended by its timeout"
n_ok=$(grep -c '^== [a-z0-9_]*: ok$' "$log")
[ "$n_ok" -eq 19 ] || fail "$n_ok steps ok, want 19 (all but the hanging one)"
grep -q '^COST ' "$log" || fail "the emulated program's output is not in \$OUT"
summary=$(ls "$tmp"/out/*-summary.txt 2>/dev/null | head -1)
[ -n "$summary" ] && grep -q '^mpi_bench ' "$summary" || fail "no summary with the last step in \$OUT"
results=$(ls "$tmp"/out/*-RESULT.txt 2>/dev/null | head -1)
[ -n "$results" ] && grep -q '^RESULT dry_bench_8x8 ' "$results" || fail "no RESULT lines in \$OUT"
[ $fails -eq 0 ] || { echo "--- run.sh output"; cat "$tmp/run.log"; }
echo "gpu_run_dry: $fails failures"
[ $fails -eq 0 ]
