/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The CUDA runtime API of the host emulation (cuda_runtime.h). */
#include "cuda_runtime.h"
