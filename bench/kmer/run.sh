#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# flashmap-kmer against Jellyfish and KMC on real reads (gasic-examples)
# and simulated reads of a Klebsiella genome, all in the same run on the
# same machine.
#
#   bench/kmer/run.sh [--quick] [--kmer PATH] [--work DIR] [--reps N] [--coverage X] [--png PATH]
#
# Full run: on the 100,000 Illumina reads of gasic-examples (72 bases,
# decompressed), then on 30x (--coverage X: Xx) of 150-base HiSeq 2500 reads
# simulated (art_illumina -ss HS25 -l 150 -f 30, seed 1) from Klebs_HS11286 (Debian
# package kleborate-examples), times
#   flashmap-kmer count -m 31 -C -t 2             (alone: 1 process, 2 threads, no MPI)
#   mpiexec --bind-to none -n 1 flashmap-kmer count -m 31 -C -t 2  (1 MPI rank, 2 threads)
#   mpiexec -n 2 flashmap-kmer count -m 31 -C -t 1  (2 ranks, 1 thread each)
#   jellyfish count -m 31 -C -s 10M / 100M -t 2
#   kmc -k31 -t2 -ci1
# with /usr/bin/time -v (wall time, peak memory), checks that all of them
# report the same distinct and total k-mer counts, prints a Markdown table
# for each input and writes the simulated reads' k-mer spectrum as a PNG
# (python3-matplotlib). Every tool runs --reps N times (default 3), in
# rounds of one run of each tool, each round starting with the next tool;
# the median run is reported, with 2 ranks' speed over 1 process's and over
# 1 MPI rank's, round by round.
#
# --quick: a few seconds, for the README's main job: counts the real reads
# of gasic-examples over 2 MPI ranks and prints stats and the start of the
# histogram.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0 kmer=${FLASHMAP_KMER:-} work=${FM_KMER_BENCH_DIR:-} reps=3 png= coverage=30
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --kmer) kmer=$2; shift ;;
    --work) work=$2; shift ;;
    --reps) reps=$2; shift ;;
    --coverage) coverage=$2; shift ;;
    --png) png=$(realpath -m -- "$2"); shift ;; # absolute: the runs happen in the work folder
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$kmer" ]; then
  for c in "$root/build/default/tools/flashmap-kmer" "$root/build/tools/flashmap-kmer"; do
    [ -x "$c" ] && { kmer=$c; break; }
  done
  [ -n "$kmer" ] || kmer=$(command -v flashmap-kmer || true)
fi
if [ -z "$kmer" ] || [ ! -x "$kmer" ]; then
  echo "run.sh: flashmap-kmer not found: build it (cmake --build --preset default) or pass --kmer PATH" >&2
  exit 1
fi
work=${work:-$root/build/kmer-bench}
mkdir -p "$work"

# mpiexec as the tests run it: Open MPI needs --oversubscribe on small
# machines and two variables to run as root.
# One rank with 2 threads must not be bound to one core, as Open MPI binds
# each of one or two ranks by default.
mpiexec=(mpiexec)
unbound=()
if mpiexec --version 2>&1 | grep -q "Open MPI\|OpenRTE"; then
  mpiexec+=(--oversubscribe)
  unbound=(--bind-to none)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Idle OpenMP threads of the map sleep instead of spinning, leaving the
# cores to the reading thread (flashmap-kmer is the only OpenMP program here).
export OMP_WAIT_POLICY=passive

if [ "$quick" = 1 ]; then
  reads=$(dpkg -L gasic-examples 2> /dev/null | grep 'SRR059298_subset.fastq.gz$' | head -1 || true)
  reads=${reads:-/usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz}
  [ -r "$reads" ] || { echo "run.sh: $reads not found (apt-get install gasic-examples)" >&2; exit 1; }
  # gzip input goes whole to one rank; the plain copy is split between both.
  gzip -dc "$reads" > "$work/quick.fq"
  echo "== flashmap-kmer count -m 31 -C over 2 MPI ranks: $(basename "$reads") (100,000 Illumina reads)"
  "${mpiexec[@]}" -n 2 "$kmer" count -m 31 -C -v -o "$work/quick.fm" "$work/quick.fq" 2>&1
  echo "== flashmap-kmer stats"
  "$kmer" stats "$work/quick.fm"
  echo "== flashmap-kmer histo (first lines)"
  "$kmer" histo "$work/quick.fm" > "$work/quick.histo" # whole: a pipe into head could kill it early
  head -5 "$work/quick.histo"
  echo "== flashmap-kmer query (the most frequent k-mer)"
  top=$("$kmer" dump -c -L "$("$kmer" stats "$work/quick.fm" | awk '/Max_count/ { print $2 }')" "$work/quick.fm" | head -1 || true)
  "$kmer" query "$work/quick.fm" "${top%% *}"
  rm -f "$work/quick.fq" "$work"/quick.fm* "$work/quick.histo"
  exit 0
fi

for tool in art_illumina jellyfish kmc xz /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "run.sh: $tool not found (tools/install-deps.sh installs it)" >&2; exit 1; }
done
genome_xz=$(dpkg -L kleborate-examples 2> /dev/null | grep 'Klebs_HS11286.fna.xz$' | head -1 || true)
[ -n "$genome_xz" ] || { echo "run.sh: Klebs_HS11286.fna.xz not found (apt-get install kleborate-examples)" >&2; exit 1; }
cd "$work"
case $coverage in '' | *[!0-9]* | 0) echo "run.sh: --coverage takes a whole number of at least 1" >&2; exit 2 ;; esac
# reads.done names the coverage of the reads.fq it stands beside.
if [ ! -s reads.fq ] || [ "$(cat reads.done 2> /dev/null)" != "f$coverage" ]; then
  echo "== simulating reads: art_illumina -ss HS25 -l 150 -f $coverage from $(basename "$genome_xz")"
  rm -f reads.done
  xz -dc "$genome_xz" > genome.fa
  art_illumina -ss HS25 -l 150 -f "$coverage" -na -rs 1 -i genome.fa -o reads > art.log
  echo "f$coverage" > reads.done
fi
# The real reads beside the simulated ones: gasic-examples' 100,000
# Illumina reads of 72 bases, decompressed (so 2 ranks split them).
gasic=$(dpkg -L gasic-examples 2> /dev/null | grep 'SRR059298_subset.fastq.gz$' | head -1 || true)
gasic=${gasic:-/usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz}
[ -r "$gasic" ] || { echo "run.sh: $gasic not found (apt-get install gasic-examples)" >&2; exit 1; }
gzip -dc "$gasic" > gasic.fq

# Every tool runs once a round, the rounds one after another, so that
# the machine's drift over minutes falls on all tools alike.
# time_once NAME R COMMAND...: runs COMMAND as round R of NAME, timed.
declare -A wall mem secs
time_once() {
  local name=$1 r=$2
  shift 2
  /usr/bin/time -v -o "time.$name.$r" "$@" > "out.$name.$r" 2>&1 || { cat "out.$name.$r"; echo "run.sh: $name failed" >&2; exit 1; }
  sync # the outputs on disk before the next tool starts, not written back during its time
  secs[$name.$r]=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "time.$name.$r")
}

# median_line: the median of the lines on standard input, sorted by number
# (the lower middle one when there are an even number of lines).
median_line() { sort -n | awk -v m=$(((reps - 1) / 2)) 'NR == m + 1'; }

# summarize NAME: keeps NAME's median round (its wall time, peak memory
# and output) in the arrays above.
summarize() {
  local name=$1 r times=()
  for ((r = 0; r < reps; r++)); do times+=("${secs[$name.$r]} $r"); done
  local median
  median=$(printf '%s\n' "${times[@]}" | median_line | cut -d' ' -f2)
  wall[$name]=${secs[$name.$median]}
  mem[$name]=$(($(awk -F': ' '/Maximum resident set size/ { print $2 }' "time.$name.$median") / 1024))
  cp "out.$name.$median" "best.$name"
  # The fastest round and each round's system seconds too: on a VM whose
  # fresh pages are slow to first touch, slow rounds are those with much
  # system time (docs/kmer.md, "Noise on the test VM").
  local fastest sys=()
  fastest=$(printf '%s\n' "${times[@]%% *}" | sort -n | awk 'NR == 1')
  for ((r = 0; r < reps; r++)); do sys+=("$(awk -F': ' '/System time/ { print $2 }' "time.$name.$r")"); done
  echo "   $name: ${wall[$name]} s (median of $(printf '%s ' "${times[@]%% *}"); fastest $fastest; system s $(printf '%s ' "${sys[@]}"))"
}

# measure INPUT WHAT JF_SIZE: every tool on INPUT, $reps rounds, and the
# table (WHAT describes the reads; JF_SIZE is Jellyfish's -s).
agree=yes
measure() {
  local input=$1 what=$2 jf_size=$3
  echo "== input: $input, $(du -m "$input" | cut -f1) MB, $(($(wc -l < "$input") / 4)) reads"
  cat "$input" > /dev/null # into the page cache, for every tool alike
  echo "== counting 31-mers, canonical (median of $reps rounds, every tool once a round)"
  mkdir -p kmc.tmp
  tools=(fm1 fmr fm2 jf kmc)
  run_tool() {
    case $1 in
    fm1) time_once fm1 $2 "$kmer" count -m 31 -C -t 2 -v -o fm1.fm "$input" ;;
    fmr) time_once fmr $2 "${mpiexec[@]}" "${unbound[@]}" -n 1 "$kmer" count -m 31 -C -t 2 -v -o fmr.fm "$input" ;;
    fm2) time_once fm2 $2 "${mpiexec[@]}" -n 2 "$kmer" count -m 31 -C -t 1 -v -o fm2.fm "$input" ;;
    jf) time_once jf $2 jellyfish count -m 31 -C -s "$jf_size" -t 2 -o jf.jf "$input" ;;
    kmc) time_once kmc $2 kmc -k31 -t2 -ci1 "$input" kmc.db kmc.tmp ;;
    esac
  }
  # Round r starts with tool r (mod 5): what runs just before a tool (a
  # large job that leaves memory to reclaim, or a short one) changes.
  for ((r = 0; r < reps; r++)); do
    for ((i = 0; i < ${#tools[@]}; i++)); do run_tool "${tools[(r + i) % ${#tools[@]}]}" $r; done
  done
  for name in "${tools[@]}"; do summarize $name; done
  # 2 ranks against 1 process x 2 threads, round by round (above 1: 2 ranks faster).
  for one in fm1 fmr; do
    pairs=$(for ((r = 0; r < reps; r++)); do awk -v a="${secs[$one.$r]}" -v b="${secs[fm2.$r]}" 'BEGIN { printf "%.3f\n", a / b }'; done)
    echo "   2 ranks against $one, round by round: $(echo $pairs) (median $(printf '%s\n' $pairs | median_line))"
  done

  # Peak memory under mpiexec: every rank's own peak, summed (time -v sees one process).
  for name in fmr fm2; do
    ranks_mem=$(sed -n 's/.* \([0-9]*\) MiB in all\b.*/\1/p' best.$name)
    [ -n "$ranks_mem" ] && mem[$name]=$ranks_mem
  done

  # Distinct and total k-mers as each tool reports them.
  distinct_total() { "$@" | awk '/Distinct/ { d = $2 } /Total/ { t = $2 } END { print d, t }'; }
  read -r fm1_d fm1_t < <(distinct_total "$kmer" stats fm1.fm)
  read -r fmr_d fmr_t < <(distinct_total "$kmer" stats fmr.fm)
  read -r fm2_d fm2_t < <(distinct_total "$kmer" stats fm2.fm)
  read -r jf_d jf_t < <(distinct_total jellyfish stats jf.jf)
  read -r kmc_d kmc_t < <(awk -F: '/No. of unique counted k-mers/ { gsub(/ /, "", $2); d = $2 }
                                   /Total no. of k-mers/ { gsub(/ /, "", $2); t = $2 } END { print d, t }' best.kmc)
  same=yes
  for v in "$fmr_d $fmr_t" "$fm2_d $fm2_t" "$jf_d $jf_t" "$kmc_d $kmc_t"; do
    [ "$v" = "$fm1_d $fm1_t" ] || { same=NO; agree=NO; }
  done

  rate() { awk -v t="$1" -v w="$2" -v r="$3" 'BEGIN { printf "%.1f", t / w / r / 1e6 }'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
  cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
  echo
  echo "k = 31, canonical; $(($(wc -l < "$input") / 4)) reads ($what);"
  echo "$(nproc) cores ($cpu); $(date -u +%Y-%m-%d); flashmap $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?'); median of $reps"
  echo
  echo "| tool | command | wall (s) | peak memory (MiB) | M k-mers/s per rank | vs KMC | vs Jellyfish | distinct | total |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  row() { # name label command ranks distinct total
    echo "| $2 | \`$3\` | ${wall[$1]} | ${mem[$1]} | $(rate "$6" "${wall[$1]}" "$4") | $(ratio "${wall[kmc]}" "${wall[$1]}") | $(ratio "${wall[jf]}" "${wall[$1]}") | $5 | $6 |"
  }
  row fm1 "flashmap-kmer, 1 process" "flashmap-kmer count -m 31 -C -t 2" 1 "$fm1_d" "$fm1_t"
  row fmr "flashmap-kmer, 1 MPI rank" "mpiexec ${unbound[*]} -n 1 flashmap-kmer count -m 31 -C -t 2" 1 "$fmr_d" "$fmr_t"
  row fm2 "flashmap-kmer, 2 ranks" "mpiexec -n 2 flashmap-kmer count -m 31 -C -t 1" 2 "$fm2_d" "$fm2_t"
  row jf "Jellyfish 2.3" "jellyfish count -m 31 -C -s $jf_size -t 2" 1 "$jf_d" "$jf_t"
  row kmc "KMC 3" "kmc -k31 -t2 -ci1" 1 "$kmc_d" "$kmc_t"
  echo
  echo "Same distinct and total k-mers from all: $same"
  echo "flashmap-kmer's own account:"
  for name in fm1 fmr fm2; do echo "  $(grep '^flashmap-kmer:' best.$name | tail -1)"; done
}

measure gasic.fq "gasic-examples SRR059298_subset, Illumina, 72 bases" 10M
rm -rf fm1.fm* fmr.fm* fm2.fm* jf.jf kmc.db.* out.*.[0-9]* time.*.[0-9]* gasic.fq
echo
measure reads.fq "art_illumina -ss HS25 -l 150 -f $coverage, Klebs_HS11286" 100M

"$kmer" histo fm1.fm > spectrum.histo
png=${png:-$work/spectrum.png}
# python3-matplotlib is Debian's: prefer a python3 on PATH that has it, else /usr/bin/python3.
py=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import matplotlib' 2> /dev/null; then py=$p; break; fi
done
if [ -n "$py" ]; then
  "$py" "$here/plot_spectrum.py" spectrum.histo "$png" \
    "31-mer spectrum: 30x simulated reads of K. pneumoniae HS11286"
  echo "k-mer spectrum: $png"
else
  echo "run.sh: no python3 with matplotlib (apt-get install python3-matplotlib); no spectrum plot"
fi
rm -rf fm1.fm* fmr.fm* fm2.fm* jf.jf kmc.db.* kmc.tmp out.*.[0-9]* time.*.[0-9]*
[ "$agree" = yes ] || { echo "run.sh: the tools disagree on the counts" >&2; exit 1; }
