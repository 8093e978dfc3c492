#!/usr/bin/env bash
# bench/gpu/run.sh: build, test and benchmark flashmap's CUDA backend on a
# GPU machine in one command (an H100 node with nvcc and CMake; no package
# manager and no network needed). Finishes within FM_GPU_BUDGET seconds
# (default 470, under 8 minutes): every step runs under `timeout` with what
# is left of the budget, and a failing step does not stop the ones after it.
#
#   probe      GPU, driver, nvcc, CMake, compute-sanitizer, MPI, libxxhash
#   configure  Release, sm_90 (FM_GPU_ARCH), MPI only if found, checkpoints
#              only if libxxhash is found (else FLASHMAP_WITH_CHECKPOINTS=OFF);
#              without a CMake >= 3.25, a direct nvcc + cc build instead
#   build      the library, the CUDA tests, flashmap-bench-gpu
# then, most important first:
#   tests      the tests of `ctest -L cuda` (differential on CUDA maps,
#              cross-backend)
#   gpu bench  flashmap-bench-gpu (device- and host-resident, see gpu_bench.cu)
#   sanitizer  compute-sanitizer memcheck and racecheck on a small
#              differential run
#   more       the rest of `ctest -L cuda`, then semantics / bad_args /
#              checkpoint / threads, whose AUTO maps are CUDA maps here
#   cpu bench  flashmap-bench, flashmap only, 1..16 threads (8x8, 2^23 keys)
#   table      a short summary, printed last
#
# Output: everything goes to the terminal and to
# bench/results/<date>-<gpu>-gpu.txt (also copied to $OUT when set).
# Environment: FM_GPU_BUDGET (seconds), FM_GPU_ARCH (default 90),
# FM_GPU_BUILD (build directory, default build-gpu), FM_GPU_JOBS, FM_GPU_SKIP
# (step names to leave out, e.g. "cpu_bench"), FM_GPU_DIRECT=1 (build with
# nvcc and cc directly, as when CMake is missing or older than 3.25).
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
    if [ "$rc" -eq 77 ]; then
        # 77 means "no usable CUDA device": a failure where nvidia-smi shows one.
        if [ -n "$GPU" ]; then status="FAILED (77: GPU not usable)"; else status="skipped (77: no GPU)"; fi
    fi
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
nvidia-smi 2>/dev/null | grep -m1 "CUDA Version" || true
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
# Without CMake (or one older than the project needs) the library, the tests
# and the benchmarks are compiled directly with nvcc and cc into $BUILD/direct.
direct_build() {
    local out="$BUILD/direct" cuda_home
    cuda_home=$(dirname "$(dirname "$NVCC")")
    mkdir -p "$out/obj" || return 1
    local defs=(-DFLASHMAP_HAVE_CUDA=1 -DFLASHMAP_HAVE_OPENMP=1 '-DFLASHMAP_VERSION_STRING="0.1.0"'
                -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$ROOT/include" -I"$ROOT/src")
    local ck=src/io/checkpoint_absent.c libs=()
    if [ "$WITH_CK" = ON ]; then ck=src/io/checkpoint.c; libs=(-lxxhash); fi
    local objs=() f o failed=0
    for f in src/api/*.c src/shard/*.c src/cpu/*.c src/cuda/host_copy.c $ck src/cuda/*.cu src/shard/*.cu; do
        [ "$f" = src/shard/device_route_absent.c ] && continue # the CUDA build has device_route.cu
        o="$out/obj/$(echo "$f" | tr / _).o"
        objs+=("$o")
        if [ "${f%.cu}" != "$f" ]; then
            "$NVCC" -O3 -std=c++17 -arch="sm_$ARCH" "${defs[@]}" -c "$ROOT/$f" -o "$o" &
        else
            cc -O2 -std=c11 -fopenmp "${defs[@]}" -c "$ROOT/$f" -o "$o" &
        fi
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
    done
    while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
    [ $failed = 0 ] || return 1
    ar rcs "$out/libflashmap.a" "${objs[@]}" || return 1
    local link=("$out/libflashmap.a" -L"$cuda_home/lib64" -lcudart "${libs[@]}" -fopenmp -lstdc++ -lpthread -lm)
    cc -O2 -std=c11 "${defs[@]}" -DFM_TEST_HAVE_CUDA=1 -I"$ROOT/tests" -I"$cuda_home/include" \
        tests/test_differential.c tests/reference_map.c tests/device_calls.c \
        -o "$out/test_differential" "${link[@]}" || return 1
    cc -O2 -std=c11 "${defs[@]}" -I"$ROOT/tests" -I"$cuda_home/include" tests/test_cross_backend.c \
        -o "$out/test_cross_backend" "${link[@]}" || return 1
    "$NVCC" -O3 -std=c++17 -arch="sm_$ARCH" -I"$ROOT/include" bench/gpu/gpu_bench.cu \
        -o "$out/flashmap-bench-gpu" "$out/libflashmap.a" "${libs[@]}" -lgomp -lpthread -lm || return 1
    local peers=()
    for f in bench/peers/peer_*.cpp; do
        o="$out/obj/$(basename "$f" .cpp).o"
        peers+=("$o")
        c++ -O2 -std=c++17 -fopenmp -I"$ROOT/bench/peers" -c "$f" -o "$o" || peers=()
    done
    if [ ${#peers[@]} -gt 0 ] &&
       cc -O2 -std=c11 -fopenmp "${defs[@]}" -I"$ROOT/bench" -c bench/flashmap_bench.c -o "$out/obj/fb.o" &&
       cc -O2 -std=c11 -fopenmp "${defs[@]}" -I"$ROOT/bench" -c bench/limit.c -o "$out/obj/limit.o" &&
       c++ -o "$out/flashmap-bench" "$out/obj/fb.o" "$out/obj/limit.o" "${peers[@]}" "${link[@]}"; then
        :
    else
        echo "direct build: flashmap-bench not built (the GPU programs are)"
    fi
    return 0
}
export -f direct_build
export ROOT BUILD NVCC ARCH JOBS WITH_CK
CMAKE_OK=0
if [ -z "${FM_GPU_DIRECT:-}" ] && cmake -S "$ROOT/bench/gpu/cmake-probe" -B "$LOGDIR/probe" >/dev/null 2>&1; then CMAKE_OK=1; fi
echo "cmake usable for this project (>= 3.25): $([ $CMAKE_OK = 1 ] && echo yes || echo 'no: direct build with nvcc and cc')"
if [ $CMAKE_OK = 1 ]; then
    step configure 120 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DFLASHMAP_WITH_CUDA=ON -DFLASHMAP_WITH_MPI=$WITH_MPI \
        -DFLASHMAP_WITH_CHECKPOINTS=$WITH_CK -DFLASHMAP_BUILD_EXAMPLES=OFF -DFLASHMAP_BUILD_TOOLS=OFF \
        -DFLASHMAP_INSTALL=OFF -DFLASHMAP_WARNINGS_AS_ERRORS=OFF -DFLASHMAP_FAULT_INJECTION=ON
    step build 200 cmake --build "$BUILD" -j "$JOBS" --target flashmap_static test_differential \
        test_cross_backend flashmap-bench-gpu
    DIFF="$BUILD/tests/test_differential"
    CROSS="$BUILD/tests/test_cross_backend"
    GPUBENCH="$BUILD/bench/gpu/flashmap-bench-gpu"
    CPUBENCH="$BUILD/bench/flashmap-bench"
else
    step direct_build 240 bash -c direct_build
    DIFF="$BUILD/direct/test_differential"
    CROSS="$BUILD/direct/test_cross_backend"
    GPUBENCH="$BUILD/direct/flashmap-bench-gpu"
    CPUBENCH="$BUILD/direct/flashmap-bench"
fi

# ---- tests and benchmarks, most important first -------------------------------------
# The CUDA tests of `ctest -L cuda`, run directly (the same arguments).
export OMP_WAIT_POLICY=passive
step differential_cuda 150 "$DIFF" --backend cuda --scale 0.2
step cross_backend 120 "$CROSS"
# Sharded CUDA map on device buffers: the device route (src/shard/device_route.cu).
step differential_cuda_device_shards_3 120 "$DIFF" --backend cuda --shards 3 --device-buffers --scale 0.1
unset OMP_WAIT_POLICY
step gpu_bench 150 "$GPUBENCH" --reps 5
if [ -n "$SANITIZER" ]; then
    # Seeds 0..27 cover every key size with every value size.
    step memcheck 75 "$SANITIZER" --tool memcheck --error-exitcode 1 --leak-check no \
        "$DIFF" --backend cuda --seeds 28 --scale 0.02
    step racecheck 45 "$SANITIZER" --tool racecheck --error-exitcode 1 \
        "$DIFF" --backend cuda --seeds 7 --first 7 --scale 0.02
else
    STEPS+=("memcheck|skipped (no compute-sanitizer)|0" "racecheck|skipped (no compute-sanitizer)|0")
fi
if [ $CMAKE_OK = 1 ]; then
    step build_more 120 cmake --build "$BUILD" -j "$JOBS"
    # The rest of `ctest -L cuda`: CUDA shards, checkpoints onto CUDA maps and
    # back, the fault sweep with host and device allocations failing.
    step more_cuda_tests 150 ctest --test-dir "$BUILD" -L cuda -E '^(differential_cuda|cross_backend|differential_cuda_device_shards_3)$' \
        -j 2 --output-on-failure
    if [ $WITH_CK = ON ]; then
        step auto_tests 60 ctest --test-dir "$BUILD" -R '^(semantics|bad_args|checkpoint|threads)$' -j 4 \
            --output-on-failure
    else
        step auto_tests 60 ctest --test-dir "$BUILD" -R '^(semantics|threads)$' -j 2 --output-on-failure
    fi
fi
step cpu_bench 60 "$CPUBENCH" --contenders flashmap --shapes 8x8 --ops insert,get \
    --threads 1,2,4,8,16 --keys 2^23 --reps 3 --no-limit --retry-busy 0

# ---- table ------------------------------------------------------------------------
echo
echo "================ summary: ${GPU:-no GPU}, driver ${DRIVER:-?}, commit $COMMIT, $(( $(date +%s) - START )) s"
printf '%-18s %-32s %6s\n' step status seconds
for s in "${STEPS[@]}"; do
    IFS='|' read -r n st sec <<< "$s"
    printf '%-18s %-32s %6s\n' "$n" "$st" "$sec"
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
