#!/bin/sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# MPI over several hosts, simulated on this machine: two network and UTS
# namespaces (each its own host name and address), joined by a veth pair.
# mpirun starts in the first "host" and reaches the second through a
# launcher agent (plm_rsh_agent) that runs the daemon's command inside the
# namespace of the host it is given, as ssh would on a cluster. Ranks talk
# over TCP between hosts and shared memory within one. Then:
#   1. mpi_hosts: node-local ranks, per-node exchange sizing, a map and a
#      mismatched call across hosts;
#   2. the MPI differential test across hosts (some configurations);
#   3. flashmap-kmer count on the hosts, compared with a one-rank count;
#   4. the veth pair carried the exchange (bytes sent from the second host).
# Exits 77 (skipped) where namespaces cannot be made (not root, no ip or
# unshare, no permission). Tears everything down, also on failure.
#
# Environment (from CTest): FM_MH_HOSTS_EXE (mpi_hosts), FM_MH_DIFF_EXE
# (test_mpi_differential), FM_MH_KMER (flashmap-kmer), FM_MH_MPIEXEC,
# FM_MH_EXTRA (more mpiexec flags).
set -u
hosts_exe=${FM_MH_HOSTS_EXE:?}
diff_exe=${FM_MH_DIFF_EXE:?}
kmer=${FM_MH_KMER:?}
mpiexec=${FM_MH_MPIEXEC:?}
extra=${FM_MH_EXTRA:-}
per_host=2
np=$((2 * per_host))

skip() { echo "multihost test: skipped: $*"; exit 77; }
fail() { echo "multihost test: FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to make network namespaces"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
command -v unshare >/dev/null 2>&1 || skip "no unshare command (util-linux)"

# Names unique to this run: namespaces, host names and veth ends alike.
a=fmh$$a
b=fmh$$b
net=10.231.$(($$ % 250)).0/24
addr_a=10.231.$(($$ % 250)).1
addr_b=10.231.$(($$ % 250)).2
work=$(mktemp -d /tmp/flashmap-multihost-XXXXXX)

teardown() {
    for ns in "$a" "$b"; do
        # Only processes of this run live in these namespaces.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    rm -rf "$work"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$a" 2>/dev/null || skip "ip netns add failed (no permission for network namespaces?)"
ip netns add "$b" 2>/dev/null || skip "ip netns add failed for a second namespace"
ip link add "$a" netns "$a" type veth peer name "$b" netns "$b" 2>/dev/null || skip "cannot make a veth pair"
ip netns exec "$a" unshare --uts true 2>/dev/null || skip "unshare --uts failed"
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up || fail "lo up in $ns"
    ip -n "$ns" link set "$ns" up || fail "veth up in $ns"
    # ip netns exec puts /etc/netns/<ns>/hosts in place of /etc/hosts.
    mkdir -p "/etc/netns/$ns" || fail "mkdir /etc/netns/$ns"
    printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$addr_a" "$a" "$addr_b" "$b" >"/etc/netns/$ns/hosts"
done
ip -n "$a" addr add "$addr_a/24" dev "$a" || fail "address of $a"
ip -n "$b" addr add "$addr_b/24" dev "$b" || fail "address of $b"

# The launcher agent: "agent HOST COMMAND..." runs COMMAND in HOST's
# namespaces with HOST as its host name, as "ssh HOST COMMAND..." would.
cat >"$work/agent" <<'EOF'
#!/bin/sh
host=$1
shift
exec ip netns exec "$host" unshare --uts /bin/sh -c "hostname $host && $*"
EOF
chmod +x "$work/agent"
printf '%s slots=%d\n%s slots=%d\n' "$a" "$per_host" "$b" "$per_host" >"$work/hostfile"

# mpirun on the first host; ranks by slot: 0 .. per_host-1 there, the rest
# on the second.
on_hosts() { # output file, then the program and its arguments
    out=$1
    shift
    # shellcheck disable=SC2086
    timeout 240 ip netns exec "$a" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$a" \
        "$mpiexec" --hostfile "$work/hostfile" -np "$np" $extra \
        --mca plm_rsh_agent "$work/agent" --mca oob_tcp_if_include "$net" \
        --mca btl self,vader,tcp --mca btl_tcp_if_include "$net" \
        "$@" >"$out" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] && { cat "$out"; fail "timed out (hang?): $*"; }
    [ "$rc" -eq 0 ] || { cat "$out"; fail "exit $rc: $*"; }
    return 0
}

tx_bytes() { ip netns exec "$b" cat "/sys/class/net/$b/statistics/tx_bytes"; }
tx0=$(tx_bytes) || fail "no veth counters"

on_hosts "$work/hosts.out" "$hosts_exe" 2 "$per_host"
grep '^mpi_hosts' "$work/hosts.out"
grep -q '^mpi_hosts: passed' "$work/hosts.out" || fail "mpi_hosts"
for h in "$a" "$b"; do
    [ "$(grep -c "on $h: local rank" "$work/hosts.out")" = "$per_host" ] || fail "not $per_host ranks on $h"
done

# Seeds 16 .. 31: growing and fixed-capacity maps, one exchange round.
on_hosts "$work/diff.out" "$diff_exe" --seeds 16 --first 16 --scale 0.3
grep '^mpi_differential' "$work/diff.out"
grep -q ' 0 mismatches' "$work/diff.out" || fail "the differential test across hosts"

# Reads of a 20 kb random genome at about 18x: k-mers repeat across ranks.
awk 'BEGIN { srand(7); for (i = 0; i < 20000; i++) g = g substr("ACGT", int(rand() * 4) + 1, 1);
             for (r = 0; r < 3000; r++) { printf(">r%d\n%s\n", r, substr(g, int(rand() * 19880) + 1, 120)) } }' \
    >"$work/reads.fa"
# shellcheck disable=SC2086
timeout 120 "$mpiexec" -np 1 $extra "$kmer" count -m 21 -C -o "$work/one.fm" "$work/reads.fa" >"$work/one.out" 2>&1 ||
    { cat "$work/one.out"; fail "flashmap-kmer count on one rank"; }
on_hosts "$work/kmer.out" "$kmer" count -m 21 -C -o "$work/multi.fm" "$work/reads.fa"
"$kmer" dump -c "$work/one.fm" | sort >"$work/one.txt" || fail "dump of the one-rank count"
"$kmer" dump -c "$work/multi.fm" | sort >"$work/multi.txt" || fail "dump of the count over hosts"
[ -s "$work/one.txt" ] || fail "the one-rank count is empty"
cmp -s "$work/one.txt" "$work/multi.txt" || fail "flashmap-kmer count over hosts differs from one rank"
echo "flashmap-kmer count over 2 hosts, $np ranks: $(wc -l <"$work/multi.txt") k-mers, as on one rank"

tx1=$(tx_bytes) || fail "no veth counters"
sent=$((tx1 - tx0))
echo "sent from the second host over TCP: $sent bytes"
[ "$sent" -gt 1000000 ] || fail "only $sent bytes crossed the veth pair"
echo "multihost test: passed"
