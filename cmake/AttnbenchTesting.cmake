# add_mpi_test(<name> TARGET <exe> RANKS 1 2 3 4 [TIMEOUT s] [ARGS ...] [LABELS ...])
# Registers one ctest per rank count, named <name>.np<N>, launched through mpiexec with
# --oversubscribe (correctness only: oversubscribed runs are never timed). Every MPI test gets a
# TIMEOUT so a hang fails instead of stalling CI.
#
# The CPU matrix: each rank count in ATTNBENCH_TEST_BLAS_FAMILY_RANKS is also registered once per
# OpenBLAS kernel family in ATTNBENCH_TEST_BLAS_FAMILIES, as <name>.np<N>.<family> (label
# blas-family), run with
# OPENBLAS_CORETYPE=<family> by tests/with_blas_family.sh, which skips (77) a family this CPU
# cannot execute. Debian's OpenBLAS is DYNAMIC_ARCH: the families round GEMMs of different shapes
# differently, so an assertion that holds only on the CI machine's own family fails here on any
# machine. `ctest -LE blas-family` runs the native family alone. The matrix runs at 3 and 4 ranks:
# a family-dependent assertion compares a p-rank result with the one-rank result, so it needs
# p > 1, and 3 and 4 split most test sizes unevenly (the one such assertion found, the planted
# regress instance under SkylakeX, failed at 4 ranks only); 1-4 ranks run on the native family.
set(ATTNBENCH_TEST_BLAS_FAMILIES "SkylakeX;Prescott;Haswell;Zen" CACHE STRING
    "OpenBLAS kernel families (OPENBLAS_CORETYPE) the in-process MPI tests also run under")
set(ATTNBENCH_TEST_BLAS_FAMILY_RANKS "3;4" CACHE STRING
    "Rank counts at which the in-process MPI tests run under every family of ATTNBENCH_TEST_BLAS_FAMILIES")
# The environment of every MPI test. mpi_yield_when_idle: a rank waiting in MPI yields its core
# instead of busy-polling. The tests run oversubscribed (up to 4 ranks, two tests at once, on 2
# cores) and Open MPI 4.1 does not switch to yielding by itself: measured on 2 cores under load,
# approx_hyper_tests at 4 ranks took 44-68 s polling and 0.7-6.8 s yielding. Tests only: timed runs
# (the demo, studies) keep the default, whose latency is lower on dedicated cores.
# odls_base_sigkill_timeout=0: after a rank exits non-zero, mpirun waited the default 1 s grace
# between SIGTERM and SIGKILL (2.33 s against 0.33 s for a one-rank usage error), and the suite
# launches hundreds of failing runs on purpose. attnbench handles no SIGTERM, so the grace
# changes nothing else.
set(ATTNBENCH_MPI_TEST_ENV
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_mpi_yield_when_idle=1;OMPI_MCA_odls_base_sigkill_timeout=0")
# attnbench_test_processors(<out> <ranks>): the PROCESSORS (ctest slots) of a test running <ranks>
# MPI ranks: the ranks, at most this machine's logical cores. The tests run oversubscribed and
# their ranks yield when idle, so a 4-rank test on 2 cores occupies 2 cores, not 4; declaring 4
# made every 3- and 4-rank test (over half the suite) run alone.
cmake_host_system_information(RESULT ATTNBENCH_HOST_CORES QUERY NUMBER_OF_LOGICAL_CORES)
function(attnbench_test_processors out ranks)
  if(ranks GREATER ATTNBENCH_HOST_CORES)
    set(${out} ${ATTNBENCH_HOST_CORES} PARENT_SCOPE)
  else()
    set(${out} ${ranks} PARENT_SCOPE)
  endif()
endfunction()

function(add_mpi_test name)
  cmake_parse_arguments(T "" "TARGET;TIMEOUT" "RANKS;ARGS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_RANKS)
    set(T_RANKS 1)
  endif()
  foreach(np IN LISTS T_RANKS)
    attnbench_test_processors(procs ${np})
    set(launch ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
               ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    add_test(NAME ${name}.np${np} COMMAND ${launch})
    set_tests_properties(${name}.np${np} PROPERTIES
      TIMEOUT ${T_TIMEOUT}
      PROCESSORS ${procs}
      LABELS "mpi;${T_LABELS}"
      ENVIRONMENT "${ATTNBENCH_MPI_TEST_ENV}")
    if(NOT np IN_LIST ATTNBENCH_TEST_BLAS_FAMILY_RANKS)
      continue()
    endif()
    foreach(family IN LISTS ATTNBENCH_TEST_BLAS_FAMILIES)
      add_test(NAME ${name}.np${np}.${family}
        COMMAND ${PROJECT_SOURCE_DIR}/tests/with_blas_family.sh ${family} ${launch})
      set_tests_properties(${name}.np${np}.${family} PROPERTIES
        TIMEOUT ${T_TIMEOUT}
        PROCESSORS ${procs}
        LABELS "mpi;blas-family;${T_LABELS}"
        SKIP_RETURN_CODE 77
        ENVIRONMENT "${ATTNBENCH_MPI_TEST_ENV}")
    endforeach()
  endforeach()
endfunction()
