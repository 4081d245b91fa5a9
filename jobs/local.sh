#!/usr/bin/env bash
# attnbench on this machine: install what is missing, build, then run the demo or the tests.
#
#   jobs/local.sh demo    install + build + the default study on all local cores; archives under
#                         results/demo/ and a summary table
#   jobs/local.sh test    install + build + the whole test suite (ctest)
#   jobs/local.sh build   install + build only (Release, build/release)
#   jobs/local.sh deps    install the Debian packages only
#
# Re-running skips what is already done (installed packages, an up-to-date build, demo points that
# already have a valid archive). As root the packages are installed with apt-get; otherwise the
# exact apt-get command is printed and the script stops (exit 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROOT}/build/release"
BIN="${BUILD_DIR}/bin/attnbench"

# Debian 12 packages: what each is for is in README.md ("Dependencies").
PACKAGES=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev
  libopenblas-dev libscalapack-openmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libgtest-dev
  libcli11-dev libfmt-dev libsleef-dev nlohmann-json3-dev
  python3-h5py python3-numpy python3-matplotlib python3-scipy
)

log() { echo "[local.sh] $*" >&2; }

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]}"
    log "install them as root, then re-run:"
    echo "  sudo apt-get update && sudo ${cmd}"
    exit 2
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Open MPI refuses to run as root unless told; every launch here is local.
mpi_env() {
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  # One BLAS thread per rank unless the caller decided otherwise (attnbench pins it anyway).
  export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
}

build() {
  ensure_packages
  if [ ! -f "${BUILD_DIR}/CMakeCache.txt" ]; then
    log "configuring (cmake --preset release)"
    (cd "${ROOT}" && cmake --preset release >/dev/null)
  fi
  log "building (cmake --build --preset release)"
  mkdir -p "${BUILD_DIR}"
  if ! (cd "${ROOT}" && cmake --build --preset release -j "$(getconf _NPROCESSORS_ONLN)" >"${BUILD_DIR}/build.log" 2>&1); then
    tail -n 60 "${BUILD_DIR}/build.log" >&2
    log "build failed (full log: ${BUILD_DIR}/build.log)"
    exit 1
  fi
}

run_tests() {
  build
  mpi_env
  # The `slurm` test needs Slurm and munge; as root they are installed here (a few seconds),
  # otherwise that test reports itself skipped.
  if [ "$(id -u)" -eq 0 ]; then
    "${ROOT}/jobs/slurm/local-cluster.sh" install >&2 || log "Slurm could not be installed: the slurm test will be skipped"
  fi
  # Twice as many tests as cores at once: most of a test's time is MPI start-up and Python, not
  # compute, and each MPI test declares at most the machine's cores (cmake/AttnbenchTesting.cmake).
  # On 2 cores: 256 s of ctest time at -j 4, 340 s at -j 2 (before the PROCESSORS cap: 558 s).
  local jobs=$(( 2 * $(getconf _NPROCESSORS_ONLN) ))
  log "running the test suite (ctest --preset release -j ${jobs})"
  cd "${ROOT}"
  ctest --preset release -j "${jobs}" "$@"
}

run_demo() {
  build
  mpi_env
  cd "${ROOT}"
  exec "${ROOT}/jobs/demo.sh"
}

case "${1:-}" in
  demo) shift; run_demo "$@" ;;
  test) shift; run_tests "$@" ;;
  build) build ;;
  deps) ensure_packages ;;
  *)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    [ -n "${1:-}" ] && { echo "unknown command: $1" >&2; exit 2; }
    exit 0 ;;
esac
