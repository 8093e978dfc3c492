#!/usr/bin/env bash
# bench/gpu/run.sh: build, test and benchmark flashmap's CUDA backend on a
# GPU machine in one command (an H100 node with nvcc and CMake; no package
# manager and no network needed). Finishes within FM_GPU_BUDGET seconds
# (default 470, under 8 minutes): every step runs under `timeout` with what
# is left of the budget, and a failing step does not stop the ones after it.
#
#   probe      GPU, driver, nvcc, CMake, compute-sanitizer, MPI, libxxhash
#   configure  Release, sm_90 (FM_GPU_ARCH), MPI only if found, checkpoints
#              only if libxxhash is found (else FLASHMAP_WITH_CHECKPOINTS=OFF)
#   build      the library, the tests, flashmap-bench-gpu, flashmap-bench
#   tests      ctest -L cuda (differential on CUDA maps, cross-backend),
#              then semantics / bad_args / checkpoint / threads, whose AUTO
#              maps are CUDA maps on this machine
#   sanitizer  compute-sanitizer memcheck and racecheck on a small
#              differential run
#   gpu bench  flashmap-bench-gpu (device- and host-resident, see gpu_bench.cu)
#   cpu bench  flashmap-bench, flashmap only, 1..16 threads (8x8, 2^23 keys)
#   table      a short summary, printed last
#
# Output: everything goes to the terminal and to
# bench/results/<date>-<gpu>-gpu.txt (also copied to $OUT when set).
# Environment: FM_GPU_BUDGET (seconds), FM_GPU_ARCH (default 90),
# FM_GPU_BUILD (build directory, default build-gpu), FM_GPU_JOBS, FM_GPU_SKIP
# (step names to leave out, e.g. "cpu_bench").
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
START=$(date +%s)
DEADLINE=$((START + ${FM_GPU_BUDGET:-470}))
BUILD=${FM_GPU_BUILD:-$ROOT/build-gpu}
ARCH=${FM_GPU_ARCH:-90}
JOBS=${FM_GPU_JOBS:-$(nproc 2>/dev/null || echo 8)}
export PATH="$PATH:/usr/local/cuda/bin"

GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
SLUG=$(printf '%s' "${GPU:-nogpu}" | tr '[:upper:]' '[:lower:]' | sed 's/nvidia //; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    COMMIT="$COMMIT+dirty"
fi
mkdir -p bench/results
RESULT_FILE="bench/results/$(date -u +%Y-%m-%d)-${SLUG:-nogpu}-gpu.txt"
LOGDIR=$(mktemp -d)
exec > >(tee "$RESULT_FILE") 2>&1
TEE_PID=$!

echo "flashmap GPU run: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "gpu: ${GPU:-none found}; driver: ${DRIVER:-unknown}; commit: $COMMIT; host: $(hostname); $(nproc) CPUs"

STEPS=()
# step NAME TIMEOUT CMD...: runs CMD under timeout (capped by the budget),
# logs to $LOGDIR/NAME.log and the terminal, records status and seconds.
step() {
    local name=$1 limit=$2
    shift 2
    local now left rc t0
    now=$(date +%s)
    left=$((DEADLINE - now - 15))
    if [ "$left" -lt 10 ]; then
        STEPS+=("$name|skipped (budget spent)|0")
        echo "== $name: skipped, the time budget is spent"
        return 0
    fi
    case " ${FM_GPU_SKIP:-} " in *" $name "*)
        STEPS+=("$name|skipped (FM_GPU_SKIP)|0")
        return 0 ;;
    esac
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (timeout ${limit}s): $*"
    t0=$(date +%s)
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$LOGDIR/$name.log"
    rc=${PIPESTATUS[0]}
    local status=ok
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status="TIMEOUT"
    [ "$rc" -eq 77 ] && status="skipped (exit 77: no device)"
    [ "$rc" -ne 0 ] && [ "$status" = ok ] && status="FAILED (exit $rc)"
    STEPS+=("$name|$status|$(( $(date +%s) - t0 ))")
    echo "== $name: $status"
    return 0
}

# ---- probe ---------------------------------------------------------------------
echo "== probe"
nvidia-smi -L 2>/dev/null | head -4 || echo "nvidia-smi: not found"
NVCC=$(command -v nvcc || true)
echo "nvcc: ${NVCC:-not found} $($NVCC --version 2>/dev/null | tail -1)"
echo "cmake: $(cmake --version 2>/dev/null | head -1)"
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1 || true)
echo "compute-sanitizer: ${SANITIZER:-not found}"
WITH_MPI=OFF
if command -v mpicc >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1; then WITH_MPI=ON; fi
echo "MPI: $WITH_MPI ($(command -v mpicc || echo 'no mpicc'))"
WITH_CK=OFF
probe_c="$LOGDIR/xxh.c"
printf '#include <xxhash.h>\nint main(void) { return (int)(XXH3_64bits("", 0) & 0); }\n' > "$probe_c"
if cc "$probe_c" -o "$LOGDIR/xxh" -lxxhash >/dev/null 2>&1; then WITH_CK=ON; fi
echo "libxxhash: $([ $WITH_CK = ON ] && echo found || echo 'not found: building with FLASHMAP_WITH_CHECKPOINTS=OFF (fm_save/fm_load unsupported, checkpoint tests skipped)')"

# ---- build -----------------------------------------------------------------------
step configure 120 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DFLASHMAP_WITH_CUDA=ON -DFLASHMAP_WITH_MPI=$WITH_MPI \
    -DFLASHMAP_WITH_CHECKPOINTS=$WITH_CK -DFLASHMAP_BUILD_EXAMPLES=OFF -DFLASHMAP_BUILD_TOOLS=OFF \
    -DFLASHMAP_INSTALL=OFF -DFLASHMAP_WARNINGS_AS_ERRORS=OFF
step build 200 cmake --build "$BUILD" -j "$JOBS" --target flashmap_static test_differential \
    test_cross_backend flashmap-bench-gpu
step build_more 90 cmake --build "$BUILD" -j "$JOBS" --target flashmap-bench test_semantics \
    test_bad_args test_checkpoint test_threads

# ---- tests -----------------------------------------------------------------------
step gpu_tests 180 ctest --test-dir "$BUILD" -L cuda -j 2 --output-on-failure
if [ $WITH_CK = ON ]; then
    step auto_tests 90 ctest --test-dir "$BUILD" -R '^(semantics|bad_args|checkpoint|threads)$' -j 4 \
        --output-on-failure
else
    step auto_tests 60 ctest --test-dir "$BUILD" -R '^(semantics|threads)$' -j 2 --output-on-failure
fi
DIFF="$BUILD/tests/test_differential"
if [ -n "$SANITIZER" ]; then
    # Seeds 0..27 cover every key size with every value size.
    step memcheck 90 "$SANITIZER" --tool memcheck --error-exitcode 1 --leak-check no \
        "$DIFF" --backend cuda --seeds 28 --scale 0.02
    step racecheck 60 "$SANITIZER" --tool racecheck --error-exitcode 1 \
        "$DIFF" --backend cuda --seeds 7 --first 7 --scale 0.02
else
    STEPS+=("memcheck|skipped (no compute-sanitizer)|0" "racecheck|skipped (no compute-sanitizer)|0")
fi

# ---- benchmarks -------------------------------------------------------------------
step gpu_bench 150 "$BUILD/bench/gpu/flashmap-bench-gpu" --reps 5
step cpu_bench 90 "$BUILD/bench/flashmap-bench" --contenders flashmap --shapes 8x8 --ops insert,get \
    --threads 1,2,4,8,16 --keys 2^23 --reps 3 --no-limit --retry-busy 0

# ---- table ------------------------------------------------------------------------
echo
echo "================ summary: ${GPU:-no GPU}, driver ${DRIVER:-?}, commit $COMMIT, $(( $(date +%s) - START )) s"
printf '%-12s %-32s %6s\n' step status seconds
for s in "${STEPS[@]}"; do
    IFS='|' read -r n st sec <<< "$s"
    printf '%-12s %-32s %6s\n' "$n" "$st" "$sec"
done
if [ -f "$LOGDIR/gpu_bench.log" ]; then
    echo "-- GPU (flashmap-bench-gpu; targets from issue 3)"
    grep '^RESULT' "$LOGDIR/gpu_bench.log" | sed 's/^RESULT //' | grep -v 'frac_' | \
        awk '{ printf "%-32s %10s %-8s %s %s %s %s\n", $1, $2, $3, $4, $5, $6, $7 }'
    grep '^RESULT' "$LOGDIR/gpu_bench.log" | grep 'frac_' | sed 's/^RESULT //' | \
        awk '{ printf "%-32s %10s\n", $1, $2 }'
fi
if [ -f "$LOGDIR/cpu_bench.log" ]; then
    echo "-- CPU (flashmap-bench, 8x8, 2^23 keys): Mkeys/s by threads"
    awk '/^== shape/ { for (i = 1; i <= NF; i++) if ($i ~ /^thread/) t = $(i - 1) }
         /^insert / { ins[t] = $2 } /^get / { get[t] = $2; order[++k] = t }
         END { printf "%-8s %10s %10s\n", "threads", "insert", "get";
               for (i = 1; i <= k; i++) printf "%-8s %10s %10s\n", order[i], ins[order[i]], get[order[i]] }' \
        "$LOGDIR/cpu_bench.log"
fi
echo "results: $RESULT_FILE"
rm -rf "$LOGDIR"
# Let tee finish the file before it is copied.
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$RESULT_FILE" "$OUT/" 2>/dev/null; fi
exit 0
