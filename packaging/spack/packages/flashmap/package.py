# SPDX-License-Identifier: MIT OR Apache-2.0
# Spack recipe for flashmap, kept in the repository it builds:
#   spack repo add packaging/spack
#   spack install flashmap@main +mpi ~cuda          # CPU nodes
#   spack install flashmap@main +cuda cuda_arch=90  # one build for CPU and GPU nodes
# The git source is this recipe's own checkout (four directories up).
# tests/packaging/spack_recipe.py checks it against CMakeLists.txt.
import os

from spack.package import *


class Flashmap(CMakePackage, CudaPackage):
    """Bulk-only hash map for HPC programs: batches of keys inserted, looked
    up, removed or counted in one call, sharded across OpenMP threads, GPUs
    and MPI ranks."""

    git = "file://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

    license("MIT OR Apache-2.0")

    version("main", branch="main")
    version("0.1.0", branch="main")

    variant("mpi", default=True, description="MPI maps (flashmap_mpi.h) and flashmap-kmer")
    variant("openmp", default=True, description="Run CPU shards on OpenMP threads")
    variant("nccl", default=True, when="+cuda+mpi",
            description="Exchange device batches of MPI maps through NCCL (opened at run time)")

    depends_on("c", type="build")
    depends_on("cxx", type="build")
    depends_on("cmake@3.18:", type="build")
    depends_on("xxhash")
    depends_on("mpi", when="+mpi")
    depends_on("zlib-api", when="+mpi")
    depends_on("nccl", when="+nccl")

    def cmake_args(self):
        args = [
            self.define_from_variant("FLASHMAP_WITH_MPI", "mpi"),
            self.define_from_variant("FLASHMAP_WITH_OPENMP", "openmp"),
            self.define_from_variant("FLASHMAP_WITH_CUDA", "cuda"),
            self.define("FLASHMAP_WITH_NCCL", "ON" if self.spec.satisfies("+nccl") else "OFF"),
            self.define("FLASHMAP_WITH_CHECKPOINTS", True),
            self.define("FLASHMAP_FAULT_INJECTION", False),
            self.define("FLASHMAP_BUILD_TESTS", self.run_tests),
            self.define("FLASHMAP_BUILD_BENCH", False),
            self.define("FLASHMAP_BUILD_EXAMPLES", False),
            self.define("FLASHMAP_BUILD_TOOLS", self.spec.satisfies("+mpi")),
            self.define("FLASHMAP_KMER_WITH_ISAL", False),
            self.define("FLASHMAP_INSTALL", True),
        ]
        if self.spec.satisfies("+mpi"):
            args.append(self.define("MPI_C_COMPILER", self.spec["mpi"].mpicc))
        if self.spec.satisfies("+cuda"):
            archs = self.spec.variants["cuda_arch"].value
            if archs and archs[0] != "none":
                args.append(self.define("CMAKE_CUDA_ARCHITECTURES", ";".join(archs)))
        return args

    def setup_build_environment(self, env):
        if self.spec.satisfies("+nccl"):
            env.set("NCCL_HOME", self.spec["nccl"].prefix)  # where CMakeLists.txt looks for nccl.h
