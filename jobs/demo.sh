#!/usr/bin/env bash
# The demo: the study inputs/studies/demo.toml (exact ring attention, d = 64, a few n on 1 rank and
# on all local cores, both precisions; about a minute here), run locally with mpirun, then its
# report. Called by `jobs/local.sh demo` after the build. Runs that already have a valid archive
# are skipped (resume); nothing is overwritten. Archives: results/demo/<point>/run0.h5; report:
# results/demo/study.{h5,csv,md} and *.png.
#
#   jobs/demo.sh [--set KEY=VALUE]...     e.g. --set scaling.n=[2048,4096]
# Environment: ATTNBENCH_BIN (default build/release/bin/attnbench), ATTNBENCH_RESULTS (default
# results/ in the source tree).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ATTNBENCH_BIN:-${ROOT}/build/release/bin/attnbench}"
RESULTS="${ATTNBENCH_RESULTS:-${ROOT}/results}"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

status=0
"${BIN}" study run "${ROOT}/inputs/studies/demo.toml" --results "${RESULTS}" "$@" || status=$?
if [ "${status}" -eq 2 ]; then
  exit 2  # the study could not start (message above); nothing was run
fi
# The report also covers an unfinished demo (a failed point is listed, not hidden).
"${BIN}" report "${RESULTS}/demo" --allow-incomplete || status=$?
exit "${status}"
