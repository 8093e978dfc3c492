#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Installs what flashmap needs on Debian 12 (as root), skipping what is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git   # toolchain
  openmpi-bin libopenmpi-dev             # MPI maps
  libxxhash-dev                          # checkpoint checksums (XXH3-64)
  libcuckoo-dev libtbb-dev libabsl-dev   # benchmark peers
  clang libclang-rt-14-dev libomp-dev    # fuzz targets: clang, libFuzzer + sanitizer runtimes, clang's OpenMP
  slurm-wlm munge                        # the slurm test (tests/slurm): its own slurmctld, slurmd and munged
  lmod                                   # the module test: packaging/flashmap.lua under Lmod
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (or with sudo) to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: everything is installed"
fi
# nvcc is optional: without it flashmap builds the CPU backend only.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "install-deps: CUDA toolkit found; the CUDA code will be compiled"
else
  echo "install-deps: no CUDA toolkit; building without the CUDA backend"
fi

# flashmap-kmer (tools/kmer, docs/kmer.md): ISA-L for fast gzip input, and
# for its tests and benchmark Jellyfish, KMC, ART, real and reference reads,
# matplotlib for the k-mer spectrum plot.
kmer_packages=(libisal-dev jellyfish kmc art-nextgen-simulation-tools gasic-examples kleborate-examples
               python3-matplotlib)
kmer_missing=()
for p in "${kmer_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || kmer_missing+=("$p")
done
if ((${#kmer_missing[@]})); then
  echo "install-deps: installing ${kmer_missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (or with sudo) to install packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${kmer_missing[@]}"
fi
