# add_mpi_test(<name> TARGET <exe> RANKS 1 2 3 4 [TIMEOUT s] [ARGS ...] [LABELS ...])
# Registers one ctest per rank count, named <name>.np<N>, launched through mpiexec with
# --oversubscribe (correctness only: oversubscribed runs are never timed). Every MPI test gets a
# TIMEOUT so a hang fails instead of stalling CI.
function(add_mpi_test name)
  cmake_parse_arguments(T "" "TARGET;TIMEOUT" "RANKS;ARGS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  if(NOT T_RANKS)
    set(T_RANKS 1)
  endif()
  foreach(np IN LISTS T_RANKS)
    add_test(NAME ${name}.np${np}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
              ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    set_tests_properties(${name}.np${np} PROPERTIES
      TIMEOUT ${T_TIMEOUT}
      PROCESSORS ${np}
      LABELS "mpi;${T_LABELS}"
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  endforeach()
endfunction()
