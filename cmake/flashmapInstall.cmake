# SPDX-License-Identifier: MIT OR Apache-2.0
# Install rules: headers, libflashmap (shared and static), the CMake package
# (flashmapConfig.cmake, its version file, flashmapTargets.cmake with
# flashmap::flashmap and flashmap::flashmap_static) and flashmap.pc.
# Included from the top-level CMakeLists.txt after src/. The targets'
# installed include directory is $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
# (src/CMakeLists.txt).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FLASHMAP_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/flashmap" CACHE STRING
  "Where flashmapConfig.cmake goes, relative to the prefix")
mark_as_advanced(FLASHMAP_INSTALL_CMAKEDIR)

# What the installed static library needs on a consumer's link line beyond
# its public dependencies: libxxhash (as flashmap::xxhash, which
# flashmapConfig.cmake defines) and, with CUDA objects inside, the C++
# runtime nvcc's host code uses (a C-only project links with the C driver).
target_link_libraries(flashmap_static INTERFACE $<INSTALL_INTERFACE:$<LINK_ONLY:flashmap::xxhash>>)
if(FLASHMAP_WITH_CUDA)
  target_link_libraries(flashmap_static INTERFACE $<INSTALL_INTERFACE:$<LINK_ONLY:stdc++>>)
endif()
if(FLASHMAP_WITH_CUDA)
  target_link_libraries(flashmap_static INTERFACE $<INSTALL_INTERFACE:$<LINK_ONLY:flashmap::cudart_static>>)
endif()
if(FLASHMAP_USE_NCCL) # libnccl is opened at run time (src/mpi/nccl_loader.c)
  target_link_libraries(flashmap_static INTERFACE $<INSTALL_INTERFACE:$<LINK_ONLY:${CMAKE_DL_LIBS}>>)
endif()

# The installed libflashmap.so finds its own dependencies outside the
# system's directories (an MPI in a module tree) through its RUNPATH; LD_LIBRARY_PATH still overrides it. Set
# CMAKE_INSTALL_RPATH_USE_LINK_PATH=OFF to install without it.
if(NOT DEFINED CMAKE_INSTALL_RPATH_USE_LINK_PATH)
  set_target_properties(flashmap PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
endif()

install(TARGETS flashmap flashmap_static
  EXPORT flashmapTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT flashmap_Runtime
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT flashmap_Runtime
          NAMELINK_COMPONENT flashmap_Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT flashmap_Development)

set(_fm_headers ${PROJECT_SOURCE_DIR}/include/flashmap.h ${PROJECT_SOURCE_DIR}/include/flashmap_cuda.h)
if(FLASHMAP_WITH_MPI)
  list(APPEND _fm_headers ${PROJECT_SOURCE_DIR}/include/flashmap_mpi.h)
endif()
install(FILES ${_fm_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT flashmap_Development)

install(EXPORT flashmapTargets
  NAMESPACE flashmap::
  FILE flashmapTargets.cmake
  DESTINATION ${FLASHMAP_INSTALL_CMAKEDIR}
  COMPONENT flashmap_Development)

# The Config file looks for libxxhash where the build found it first.
get_filename_component(_fm_xxhash_libdir "${FLASHMAP_XXHASH_LIBRARY}" DIRECTORY)
get_filename_component(_fm_cudart_static_libdir "${CUDA_cudart_static_LIBRARY}" DIRECTORY)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/flashmapConfig.cmake.in
  ${PROJECT_BINARY_DIR}/flashmapConfig.cmake
  INSTALL_DESTINATION ${FLASHMAP_INSTALL_CMAKEDIR})
# 0.x: a new minor version may change the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/flashmapConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/flashmapConfig.cmake ${PROJECT_BINARY_DIR}/flashmapConfigVersion.cmake
  DESTINATION ${FLASHMAP_INSTALL_CMAKEDIR} COMPONENT flashmap_Development)

# flashmap.pc. The prefix is computed from the file's own place (pcfiledir),
# so `cmake --install build --prefix DIR` needs no reconfigure.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_fm_pc_prefix "${CMAKE_INSTALL_PREFIX}")
  set(_fm_pc_libdir "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH _fm_pc_up "/_fm_/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/_fm_")
  string(REGEX REPLACE "/$" "" _fm_pc_up "${_fm_pc_up}")
  set(_fm_pc_prefix "\${pcfiledir}/${_fm_pc_up}")
  set(_fm_pc_libdir "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(_fm_pc_includedir "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(_fm_pc_includedir "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# -l<name>, with -L<dir> unless the compiler searches <dir> anyway.
function(_fm_pc_lib out path name)
  get_filename_component(_dir "${path}" DIRECTORY)
  set(_flag "-l${name}")
  if(_dir AND NOT _dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
    set(_flag "-L${_dir} ${_flag}")
  endif()
  set(${out} "${_flag}" PARENT_SCOPE)
endfunction()

# Libs.private: what the static library needs beside itself.
_fm_pc_lib(_fm_pc_xxhash "${FLASHMAP_XXHASH_LIBRARY}" xxhash)
set(_fm_pc_libs_private "${_fm_pc_xxhash} -lm")
if(FLASHMAP_WITH_OPENMP)
  string(APPEND _fm_pc_libs_private " ${OpenMP_C_FLAGS}")
endif()
if(FLASHMAP_WITH_CUDA)
  _fm_pc_lib(_fm_pc_cudart "${CUDA_cudart_static_LIBRARY}" cudart_static)
  string(APPEND _fm_pc_libs_private " ${_fm_pc_cudart} -lrt -lstdc++")
endif()
if(FLASHMAP_WITH_CUDA OR FLASHMAP_USE_NCCL)
  foreach(_fm_dl IN LISTS CMAKE_DL_LIBS)
    string(APPEND _fm_pc_libs_private " -l${_fm_dl}")
  endforeach()
endif()
if(CMAKE_THREAD_LIBS_INIT)
  string(APPEND _fm_pc_libs_private " ${CMAKE_THREAD_LIBS_INIT}")
endif()

# Requires.private: the MPI's own pkg-config module, when it has one, gives
# mpi.h's directory to --cflags (flashmap_mpi.h includes it) and its
# libraries to --static --libs. It must be the MPI the build used: the
# module's libdir must hold the libmpi FindMPI found. Without such a module,
# compile MPI programs with the MPI compiler wrapper (mpicc), as usual.
find_program(FLASHMAP_PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
mark_as_advanced(FLASHMAP_PKG_CONFIG_EXECUTABLE)
set(_fm_pc_requires_private "")
if(FLASHMAP_WITH_MPI)
  list(GET MPI_C_LIBRARIES 0 _fm_mpi_lib)
  get_filename_component(_fm_mpi_libdir "${_fm_mpi_lib}" DIRECTORY)
  get_filename_component(_fm_mpi_libdir "${_fm_mpi_libdir}" REALPATH)
  if(FLASHMAP_PKG_CONFIG_EXECUTABLE AND _fm_mpi_libdir)
    foreach(_mod ompi-c mpich mpi-c)
      execute_process(COMMAND ${FLASHMAP_PKG_CONFIG_EXECUTABLE} --variable=libdir ${_mod}
        RESULT_VARIABLE _rc OUTPUT_VARIABLE _dir ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(_rc EQUAL 0 AND _dir)
        get_filename_component(_dir "${_dir}" REALPATH)
        if(_dir STREQUAL _fm_mpi_libdir)
          set(_fm_pc_requires_private ${_mod})
          break()
        endif()
      endif()
    endforeach()
  endif()
endif()
if(_fm_pc_requires_private)
  set(_fm_pc_requires_private "Requires.private: ${_fm_pc_requires_private}")
endif()
foreach(_opt MPI OPENMP CUDA)
  string(TOLOWER ${_opt} _o)
  if(FLASHMAP_WITH_${_opt})
    set(_fm_pc_with_${_o} 1)
  else()
    set(_fm_pc_with_${_o} 0)
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/flashmap.pc.in ${PROJECT_BINARY_DIR}/flashmap.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/flashmap.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT flashmap_Development)

# The environment module (Lmod): <prefix>/share/modulefiles/flashmap/<version>.lua
# (packaging/flashmap.lua.in; tests/install/module_test.sh loads it).
set(FLASHMAP_MODULE_DIR_PARENT "${CMAKE_INSTALL_DATADIR}/modulefiles")
set(FLASHMAP_MODULE_DIR "${FLASHMAP_MODULE_DIR_PARENT}/flashmap")
configure_file(${PROJECT_SOURCE_DIR}/packaging/flashmap.lua.in ${PROJECT_BINARY_DIR}/flashmap.lua @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/flashmap.lua DESTINATION ${FLASHMAP_MODULE_DIR}
  RENAME ${PROJECT_VERSION}.lua COMPONENT flashmap_Development)
