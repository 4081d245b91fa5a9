#!/bin/sh
# with_blas_family.sh FAMILY COMMAND...: runs COMMAND with OpenBLAS forced to one kernel family
# (OPENBLAS_CORETYPE, honoured by Debian's DYNAMIC_ARCH OpenBLAS), or exits 77 (ctest: skipped)
# when this CPU cannot execute that family's instructions. The families round GEMMs of different
# shapes differently, so running the in-process MPI tests under each makes an assertion that holds
# only on the CI machine's own family fail on every machine. The test main checks that OpenBLAS
# really dispatched to FAMILY (tests/mpi_test_main.cpp).
family="$1"
shift
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
need() {
  for f in "$@"; do
    case "$flags" in
      *" $f "*) ;;
      *) echo "SKIP: OpenBLAS's $family kernels need the CPU flag $f, which this CPU lacks"; exit 77 ;;
    esac
  done
}
case "$family" in
  SkylakeX) need avx512f avx512cd avx512bw avx512dq avx512vl ;;
  Cooperlake) need avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16 ;;
  Haswell | Zen) need avx2 fma ;;
  Sandybridge) need avx ;;
  Prescott) need pni ;;  # SSE3 ("pni" in /proc/cpuinfo)
  *) echo "with_blas_family.sh: unknown OpenBLAS family '$family'" >&2; exit 2 ;;
esac
OPENBLAS_CORETYPE="$family"
export OPENBLAS_CORETYPE
exec "$@"
