#!/usr/bin/env bash
# Builds flashmap twice and runs the whole test suite on both builds:
#   build/default  Release, -Werror, CUDA code compiled when nvcc exists
#   build/asan     AddressSanitizer + UBSan (CTest label "asan")
# Exits non-zero when any build step or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --workflow --preset default
cmake --workflow --preset asan
echo "test.sh: all tests passed (default and asan builds)"
