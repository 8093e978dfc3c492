#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# Kill-and-restart test: a job counting into an MPI map loses a rank mid-run
# (SIGKILL) after some checkpoints; mpirun must end the whole job (no hang);
# a restart from the last checkpoint, on a different number of ranks, must
# end with exactly the map of a run that was never interrupted.
#
# Environment (from CTest): FM_RJ_JOB (restart_job), FM_RJ_MPIEXEC,
# FM_RJ_NP_FLAG, FM_RJ_MPIEXEC_EXTRA.
set -u
job=${FM_RJ_JOB:?}
mpiexec=${FM_RJ_MPIEXEC:?}
np_flag=${FM_RJ_NP_FLAG:--np}
extra=${FM_RJ_MPIEXEC_EXTRA:-}
work=$(mktemp -d /tmp/flashmap-restart-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "restart test: FAILED: $*"; exit 1; }

run() { # ranks, then the job's options
    np=$1
    shift
    # shellcheck disable=SC2086
    timeout 240 "$mpiexec" $np_flag "$np" $extra "$job" "$@"
}

mkdir "$work/straight" "$work/killed"
run 2 --dir "$work/straight" --batches 12 >"$work/straight.out" 2>&1 ||
    { cat "$work/straight.out"; fail "the uninterrupted run failed"; }
want=$(grep '^digest' "$work/straight.out") || fail "no digest from the uninterrupted run"
echo "uninterrupted, 2 ranks:        $want"

run 3 --dir "$work/killed" --batches 12 --every 4 --kill-rank 1 --kill-at 10 >"$work/killed.out" 2>&1
rc=$?
[ "$rc" -eq 124 ] && fail "the job with a killed rank hung (timeout)"
[ "$rc" -ne 0 ] || { cat "$work/killed.out"; fail "the job with a killed rank exited 0"; }
grep -q '^digest' "$work/killed.out" && fail "the killed job printed a digest"
progress=$(cat "$work/killed/progress" 2>/dev/null) || fail "no progress file after the kill"
[ "$progress" = 8 ] || fail "progress is '$progress', expected 8 (checkpoints after batches 4 and 8)"
ls "$work/killed" | grep -q '\.tmp\.' && fail "temporary checkpoint files were left"
echo "killed in batch 10 on 3 ranks: exit $rc, last checkpoint after batch $progress"

run 2 --dir "$work/killed" --batches 12 --every 4 --resume >"$work/resumed.out" 2>&1 ||
    { cat "$work/resumed.out"; fail "the restart failed"; }
got=$(grep '^digest' "$work/resumed.out") || fail "no digest from the restart"
grep -q 'resumed after batch 8' "$work/resumed.out" || fail "the restart did not resume after batch 8"
echo "restarted on 2 ranks:          $got"
[ "$got" = "$want" ] || fail "the restarted map differs from the uninterrupted one"

run 4 --dir "$work/killed" --batches 12 --every 4 --resume >"$work/resumed4.out" 2>&1 ||
    { cat "$work/resumed4.out"; fail "loading the final checkpoint on 4 ranks failed"; }
got4=$(grep '^digest' "$work/resumed4.out") || fail "no digest from the 4-rank load"
echo "final checkpoint on 4 ranks:   $got4"
[ "$got4" = "$want" ] || fail "the final checkpoint loaded on 4 ranks differs"
echo "restart test: passed"
