#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# CTest "slurm": the batch scripts of slurm/ on a real, private, single-node
# Slurm brought up on this machine for the test and torn down after it.
#
#   munged      own key, socket, pid, seed and log files in a temporary directory
#   slurmctld   \ from Debian's slurm-wlm, in the foreground (-D), on two free
#   slurmd      / loopback ports, configured by a slurm.conf written to the
#               same directory (node "localhost" with this machine's CPUs and
#               memory as `slurmd -C` reports them; no accounting, no cgroups)
#
# Then it submits with sbatch:
#   kmer-auto     slurm/kmer-count-cpu.sbatch on 2 ranks, launcher chosen by
#                 the script (srun --mpi=pmix where `srun --mpi=list` has pmix)
#   kmer-mpirun   the same script forced onto mpirun, other k and inputs
#   kmer-broken   the same script with a missing input: must end FAILED
#   gpu-ranks     slurm/gpu-ranks.sbatch with --gpus-per-node=0 (this Slurm
#                 has no GPUs): its binding check and its default count (through
#                 the FM_GPU_ROTATE wrapper) run on the CPU, the database must
#                 give the direct run's histogram
#   bench-sweep   slurm/bench-sweep.sbatch at a tiny size (1..2 ranks, 1,2 threads)
# waits for them (FM_ST_JOB_TIMEOUT seconds in all), and compares each k-mer
# job's histogram and stats with a direct run of flashmap-kmer outside Slurm.
#
# Whatever happens (failure, timeout, Ctrl-C) the EXIT trap cancels the jobs,
# stops slurmd, slurmctld and munged, then kills anything still carrying this
# run's tag in its environment (job steps, stray ranks), checks that nothing
# survived, keeps the logs in FM_ST_WORK/last-run when the test failed, and
# removes the temporary directory.
#
# Environment (set by tests/slurm/CMakeLists.txt):
#   FM_ST_SCRIPTS   the slurm/ directory         FM_ST_KMER   flashmap-kmer
#   FM_ST_BENCH_BIN directory of flashmap-bench and flashmap-bench-mpi ("" = skip)
#   FM_ST_READS     gasic-examples reads (a generated FASTA when missing)
#   FM_ST_WORK      where logs of a failed run are kept
#   FM_ST_JOB_TIMEOUT  seconds to wait for all jobs (default 120; a tiny value
#                   exercises the timeout path: jobs still running at teardown)
#   FM_ST_BREAK     test hook: "job" gives kmer-auto's count a bad flag, so
#                   the job fails inside srun (the test must then fail and
#                   still shut everything down)
# Exit status: 0 pass, 1 fail, 77 skipped (what is missing is printed).
set -uo pipefail

say() { echo "slurm test: $*"; }
fail() {
    say "FAILED: $*"
    exit 1
}
skip() {
    say "SKIP: $*"
    exit 77
}

scripts=${FM_ST_SCRIPTS:?} kmer=${FM_ST_KMER:?}
bench_bin=${FM_ST_BENCH_BIN:-} reads=${FM_ST_READS:-} work=${FM_ST_WORK:-$PWD/slurm-test}
job_timeout=${FM_ST_JOB_TIMEOUT:-120}
brk=${FM_ST_BREAK:-}
export PATH=$PATH:/usr/sbin:/sbin

for p in munged mungekey munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo srun; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not found (apt-get install slurm-wlm munge, or tools/install-deps.sh)"
done
[ -x "$kmer" ] || skip "$kmer not built"
for f in kmer-count-cpu.sbatch gpu-ranks.sbatch bench-sweep.sbatch; do
    [ -r "$scripts/$f" ] || fail "$scripts/$f missing"
    bash -n "$scripts/$f" || fail "$scripts/$f: syntax error"
done

# ---------------------------------------------------------------- teardown
t0=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flashmap-slurm.XXXXXX") || fail "mktemp"
# Everything this run starts carries this variable (daemons, and jobs via
# sbatch's environment), so the teardown finds what escaped its parent.
tag="FM_SLURM_TEST_TAG=$tmp"
munged_pid="" ctld_pid="" slurmd_pid="" jobs=() status=1

tagged_pids() {
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [ "$pid" = $$ ] && continue
        if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "$tag"; then echo "$pid"; fi
    done
}
# stop_pid PID NAME: SIGTERM, up to 15 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$2 (pid $pid) ignored SIGTERM; SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
teardown() {
    local rc=$status i left
    trap - EXIT INT TERM
    if [ -n "$ctld_pid" ] && kill -0 "$ctld_pid" 2>/dev/null && ((${#jobs[@]})); then
        scancel "${jobs[@]}" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_pid "$slurmd_pid" slurmd
    stop_pid "$ctld_pid" slurmctld
    stop_pid "$munged_pid" munged
    # Job steps and ranks are not children of this script.
    left=$(tagged_pids)
    if [ -n "$left" ]; then
        say "stopping leftover processes:$(ps -o pid=,comm= -p "$(echo "$left" | paste -sd,)" 2>/dev/null | tr -s ' \n' ' ')"
        # shellcheck disable=SC2086 # a list of pids
        kill -TERM $left 2>/dev/null
        sleep 1
        left=$(tagged_pids)
        # shellcheck disable=SC2086
        [ -n "$left" ] && kill -KILL $left 2>/dev/null && sleep 0.5
    fi
    left=$(tagged_pids)
    if [ -n "$left" ]; then
        say "FAILED: processes survived the teardown: $left"
        rc=1
    else
        say "teardown: no daemon or job process left"
    fi
    if [ "$rc" -ne 0 ]; then
        rm -rf "$work/last-run"
        mkdir -p "$work/last-run"
        cp -r "$tmp/log" "$tmp/jobs" "$tmp/slurm.conf" "$work/last-run/" 2>/dev/null
        for f in "$tmp"/log/*.log; do
            [ -f "$f" ] && { echo "---- $(basename "$f") (last 15 lines)"; tail -n 15 "$f"; }
        done
        say "logs kept in $work/last-run"
    fi
    rm -rf "$tmp"
    say "$( ((rc == 0)) && echo passed || echo failed) in $(($(date +%s) - t0)) s"
    exit "$rc"
}
trap teardown EXIT
trap 'say "interrupted"; exit 1' INT TERM

# ----------------------------------------------------------------- munge
chmod 755 "$tmp"
mkdir -p "$tmp/munge" "$tmp/run" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/jobs" "$tmp/tmp" "$tmp/jobtmp" \
    "$tmp/direct"
chmod 700 "$tmp/munge" "$tmp/state"
key=$tmp/munge/munge.key
mungekey -c -k "$key" 2>/dev/null || { dd if=/dev/urandom of="$key" bs=1024 count=1 2>/dev/null && chmod 600 "$key"; } ||
    fail "cannot create a munge key"
sock=$tmp/run/munge.sock
env "$tag" munged -F --socket="$sock" --key-file="$key" --log-file="$tmp/log/munged.log" \
    --pid-file="$tmp/run/munged.pid" --seed-file="$tmp/munge/seed" >"$tmp/log/munged.out" 2>&1 &
munged_pid=$!
for ((i = 0; i < 100; i++)); do
    [ -S "$sock" ] && break
    kill -0 "$munged_pid" 2>/dev/null || { cat "$tmp/log/munged.out"; fail "munged did not start"; }
    sleep 0.1
done
munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || fail "munge credentials do not round-trip"

# ----------------------------------------------------------------- slurm
# A TCP port nobody on this machine is using (any state, IPv4 or IPv6).
used_ports() {
    local f sl local_addr rest
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        while read -r sl local_addr rest; do
            [ "$sl" = sl ] || echo $((16#${local_addr##*:}))
        done <"$f"
    done
}
free_port() {
    local p used
    used=" $(used_ports | tr '\n' ' ') $* "
    while :; do
        p=$((20000 + RANDOM % 40000))
        [[ $used == *" $p "* ]] || break
    done
    echo "$p"
}
# This machine's node line, renamed to localhost on the loopback address.
hw=$(slurmd -C 2>/dev/null | head -n 1 | sed 's/^NodeName=[^ ]* //')
[[ $hw == *CPUs=* ]] || fail "slurmd -C printed no node description"
cpus=${hw#*CPUs=}
cpus=${cpus%% *}
ranks=2
((cpus >= ranks)) || ranks=1
: >"$tmp/plugstack.conf"
export SLURM_CONF=$tmp/slurm.conf
user=$(id -un)
write_conf() {
    cat >"$SLURM_CONF" <<EOF
# flashmap slurm test: a private single-node cluster, loopback only.
ClusterName=fmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
TmpFS=$tmp/tmp
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$tmp/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
FirstJobId=$((1000 + RANDOM % 30000))
InactiveLimit=0
KillWait=5
MinJobAge=600
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=fmtest Nodes=localhost Default=YES MaxTime=10 State=UP
EOF
}
# Up to three tries: another program may take a chosen port in between.
up=0
for try in 1 2 3; do
    ctld_port=$(free_port)
    slurmd_port=$(free_port "$ctld_port")
    write_conf "$ctld_port" "$slurmd_port"
    env "$tag" slurmctld -D -c -i -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out" 2>&1 &
    ctld_pid=$!
    env "$tag" slurmd -D -f "$SLURM_CONF" -N localhost >>"$tmp/log/slurmd.out" 2>&1 &
    slurmd_pid=$!
    for ((i = 0; i < 300; i++)); do
        kill -0 "$ctld_pid" 2>/dev/null && kill -0 "$slurmd_pid" 2>/dev/null || break
        if [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" = idle ]; then
            up=1
            break
        fi
        sleep 0.1
    done
    ((up)) && break
    say "try $try: Slurm did not come up on ports $ctld_port/$slurmd_port"
    tail -n 5 "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log 2>/dev/null
    stop_pid "$slurmd_pid" slurmd
    stop_pid "$ctld_pid" slurmctld
    ctld_pid="" slurmd_pid=""
done
((up)) || fail "no working slurmctld/slurmd"
say "Slurm $(sinfo -V | awk '{print $2}') up in $(($(date +%s) - t0)) s: slurmctld :$ctld_port, slurmd :$slurmd_port on 127.0.0.1; node localhost ($hw)"
if srun --mpi=list 2>&1 | grep -qw pmix; then auto=srun; else auto=mpirun; fi
say "srun --mpi=list has pmix: $([ $auto = srun ] && echo yes || echo no); kmer-auto should use $auto"

# ----------------------------------------------------------------- inputs
inputs=$tmp/inputs
mkdir -p "$inputs"
if [ -n "$reads" ] && [ -r "$reads" ]; then
    # 20,000 real reads, plain (ranks split it by byte ranges) and gzip.
    gzip -dc "$reads" | awk 'NR <= 80000' >"$inputs/reads.fq"
    head -n 40000 "$inputs/reads.fq" | gzip -1 >"$inputs/first.fq.gz"
    tail -n +40001 "$inputs/reads.fq" >"$inputs/second.fq"
else
    say "no gasic-examples reads; generating a FASTA"
    awk 'BEGIN { srand(7); g = ""; for (i = 0; i < 20000; i++) g = g substr("ACGT", int(rand() * 4) + 1, 1)
                 for (r = 0; r < 20000; r++) { s = int(rand() * (length(g) - 100)); print ">r" r; print substr(g, s + 1, 100) } }' \
        >"$inputs/reads.fq"
    head -n 20000 "$inputs/reads.fq" | gzip -1 >"$inputs/first.fq.gz"
    tail -n +20001 "$inputs/reads.fq" >"$inputs/second.fq"
fi

# ----------------------------------------------------------------- jobs
jobdir=$tmp/jobs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
# submit NAME SCRIPT [SBATCH OPTIONS --] VAR=VALUE...: sbatch with this
# run's tag and the knobs.
submit() {
    local name=$1 script=$2 id opts=()
    shift 2
    if [[ " $* " == *" -- "* ]]; then
        while [ "$1" != -- ]; do
            opts+=("$1")
            shift
        done
        shift
    fi
    id=$(cd "$jobdir" && env "$tag" TMPDIR="$tmp/jobtmp" "$@" sbatch --parsable -J "$name" -N 1 -n "$ranks" \
        -t 5 -o "$jobdir/$name.out" -D "$jobdir" "${opts[@]}" "$scripts/$script") || fail "sbatch $name"
    id=${id%%;*}
    jobs+=("$id")
    eval "job_$name=$id"
    say "submitted $name as job $id"
}
auto_flags=""
[ "$brk" = job ] && auto_flags="--no-such-flag"
submit kmer_auto kmer-count-cpu.sbatch FM_INPUTS="$inputs/reads.fq" FM_K=21 FM_CANONICAL=1 \
    FM_DB="$jobdir/auto/counts.fm" FM_KMER="$kmer" FM_COUNT_FLAGS="$auto_flags"
if command -v mpirun >/dev/null 2>&1; then
    submit kmer_mpirun kmer-count-cpu.sbatch FM_INPUTS="$inputs/first.fq.gz $inputs/second.fq" FM_K=31 \
        FM_CANONICAL=0 FM_DB="$jobdir/mpirun/counts.fm" FM_KMER="$kmer" FM_LAUNCHER=mpirun \
        FM_MPIRUN_FLAGS=--oversubscribe
else
    say "no mpirun: the forced-mpirun job is left out"
fi
submit kmer_broken kmer-count-cpu.sbatch FM_INPUTS="$inputs/no-such-file.fq" FM_KMER="$kmer"
submit gpu_ranks gpu-ranks.sbatch --ntasks-per-node="$ranks" --gpus-per-node=0 --cpus-per-task=1 -- \
    FM_INPUTS="$inputs/reads.fq" FM_K=21 FM_DB="$jobdir/gpu/counts.fm" FM_KMER="$kmer" FM_GPU_ROTATE=1
if [ -n "$bench_bin" ] && [ -x "$bench_bin/flashmap-bench-mpi" ] && [ -x "$bench_bin/flashmap-bench" ]; then
    submit bench_sweep bench-sweep.sbatch FM_BIN="$bench_bin" FM_RANKS="1 $ranks" FM_KEYS=4096 FM_REPS=1 \
        FM_THREADS="1,$ranks" FM_OUT="$jobdir/bench" \
        FM_BENCH_FLAGS="--quick --keys 65536 --no-limit --contenders flashmap"
else
    say "flashmap-bench(-mpi) not built: the bench-sweep job is left out"
fi

# The direct runs, while the jobs queue: one process, no Slurm, no MPI launcher.
direct() { # direct NAME K CANONICAL INPUTS...
    local name=$1 k=$2 c=$3 flags=()
    shift 3
    [ "$c" = 1 ] && flags=(-C)
    "$kmer" count -m "$k" "${flags[@]}" -o "$tmp/direct/$name.fm" "$@" >/dev/null &&
        "$kmer" histo -o "$tmp/direct/$name.histo" "$tmp/direct/$name.fm" &&
        "$kmer" stats -o "$tmp/direct/$name.stats" "$tmp/direct/$name.fm" || fail "direct run $name"
}
direct kmer_auto 21 1 "$inputs/reads.fq"
direct kmer_mpirun 31 0 "$inputs/first.fq.gz" "$inputs/second.fq"

# Wait for every job to reach a final state.
job_field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
final='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)$'
deadline=$(($(date +%s) + job_timeout))
while :; do
    pending=0
    for id in "${jobs[@]}"; do
        [[ $(job_field "$id" JobState) =~ $final ]] || pending=$((pending + 1))
    done
    ((pending == 0)) && break
    if (($(date +%s) > deadline)); then
        for id in "${jobs[@]}"; do say "job $id: $(job_field "$id" JobState) ($(job_field "$id" Reason))"; done
        fail "$pending job(s) not finished after $job_timeout s"
    fi
    kill -0 "$ctld_pid" 2>/dev/null && kill -0 "$slurmd_pid" 2>/dev/null || fail "a Slurm daemon died"
    sleep 0.5
done
say "all jobs finished $(($(date +%s) - t0)) s after the start"

# ----------------------------------------------------------------- checks
bad=0
check() { # check WHAT CONDITION...: count a failure, print it
    local what=$1
    shift
    if "$@"; then say "ok: $what"; else
        say "MISMATCH: $what"
        bad=$((bad + 1))
    fi
}
show_job() {
    say "job $1: $(job_field "$1" JobState), exit code $(job_field "$1" ExitCode)"
    sed 's/^/    | /' "$jobdir/$2.out" 2>/dev/null | tail -n 25
}
completed() { [ "$(job_field "$1" JobState)" = COMPLETED ] && [ "$(job_field "$1" ExitCode)" = 0:0 ]; }
same_file() { cmp -s "$1" "$2" || { diff "$1" "$2" | head -n 10; false; }; }
grep_out() { grep -q -- "$2" "$jobdir/$1.out"; }
stats_in_out() { # the job's stats lines = the direct run's
    grep -E '^(Unique|Distinct|Total|Max_count):' "$jobdir/$1.out" | same_file - "$tmp/direct/$1.stats"
}

# shellcheck disable=SC2154 # job_* are set by submit through eval
{
    show_job "$job_kmer_auto" kmer_auto
    check "kmer_auto completed" completed "$job_kmer_auto"
    check "kmer_auto launched with $auto" grep_out kmer_auto "ranks x 1 threads via $auto"
    check "kmer_auto histogram = direct run" same_file "$jobdir/auto/counts.fm.histo" "$tmp/direct/kmer_auto.histo"
    check "kmer_auto stats = direct run" stats_in_out kmer_auto
    check "kmer_auto wrote one part per rank" test -f "$jobdir/auto/counts.fm.rank$((ranks - 1))-of-$ranks"
    if [ -n "${job_kmer_mpirun:-}" ]; then
        show_job "$job_kmer_mpirun" kmer_mpirun
        check "kmer_mpirun completed" completed "$job_kmer_mpirun"
        check "kmer_mpirun launched with mpirun" grep_out kmer_mpirun "ranks x 1 threads via mpirun"
        check "kmer_mpirun histogram = direct run" same_file "$jobdir/mpirun/counts.fm.histo" "$tmp/direct/kmer_mpirun.histo"
        check "kmer_mpirun stats = direct run" stats_in_out kmer_mpirun
    fi
    show_job "$job_gpu_ranks" gpu_ranks
    check "gpu_ranks completed" completed "$job_gpu_ranks"
    for ((r = 0; r < ranks; r++)); do
        check "gpu_ranks: rank $r reports local rank $r" grep_out gpu_ranks "rank $r local rank $r sees"
    done
    "$kmer" histo -o "$tmp/gpu.histo" "$jobdir/gpu/counts.fm" >/dev/null 2>&1
    check "gpu_ranks database: histogram = direct run" same_file "$tmp/gpu.histo" "$tmp/direct/kmer_auto.histo"
    show_job "$job_kmer_broken" kmer_broken
    check "kmer_broken ended FAILED" test "$(job_field "$job_kmer_broken" JobState)" = FAILED
    check "kmer_broken says why" grep_out kmer_broken "no-such-file.fq: not a regular file"
    if [ -n "${job_bench_sweep:-}" ]; then
        show_job "$job_bench_sweep" bench_sweep
        check "bench_sweep completed" completed "$job_bench_sweep"
        for np in 1 "$ranks"; do
            check "bench_sweep: 3 MPI records at $np rank(s)" \
                test "$(grep -c "\"ranks\":$np," "$jobdir/bench/mpi.jsonl" 2>/dev/null)" -eq 3
        done
        for t in 1 "$ranks"; do
            check "bench_sweep: thread records at $t thread(s)" grep -q "\"threads\":$t," "$jobdir/bench/threads.jsonl"
        done
    fi
}
((bad == 0)) || fail "$bad check(s) failed"
status=0
