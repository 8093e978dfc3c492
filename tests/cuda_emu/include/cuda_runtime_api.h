/* The CUDA runtime API of the host emulation (cuda_runtime.h). */
#include "cuda_runtime.h"
