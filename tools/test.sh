#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Builds flashmap five times and runs the test suite of each build:
#   build/default  Release, -Werror, CUDA code compiled when nvcc exists
#   build/asan     AddressSanitizer + UBSan (CTest label "asan")
#   build/tsan     ThreadSanitizer: shared handles and non-blocking calls
#                  (CTest label "threads")
#   build/cuda-emu the CUDA backend on the host emulation of CUDA
#                  (tests/cuda_emu), ASan + UBSan (CTest label "cuda")
#   build/fuzz     clang + libFuzzer: each fuzz target runs 60 s on its
#                  corpus (CTest label "fuzz", tests/fuzz/)
# Exits non-zero when any build step or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --workflow --preset default
cmake --workflow --preset asan
cmake --workflow --preset tsan
cmake --workflow --preset cuda-emu
cmake --workflow --preset fuzz
echo "test.sh: all tests passed (default, asan, tsan, cuda-emu and fuzz builds)"
