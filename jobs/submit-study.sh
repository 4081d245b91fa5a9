#!/usr/bin/env bash
# Submit a study to Slurm: one sbatch job per scale point (a job array only for repetitions of a
# point) running jobs/run.sbatch (kernel-neutral), then a report job (jobs/report.sbatch) with
# --dependency=afterok:<all of them> --kill-on-invalid-dep=yes. Prints "<job id> <point>" lines
# and "<job id> report (...)". Points that already have valid archives are not resubmitted, and
# points whose job is still queued are not submitted twice (checked with squeue; sacct is never
# used).
#
#   jobs/submit-study.sh inputs/studies/strong.toml [--set KEY=VALUE]... [--dry-run] [--results DIR] [--wait]
#
# Same as `attnbench study submit ...`. ATTNBENCH_BIN selects the binary (default:
# build/release/bin/attnbench); the jobs run that binary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ATTNBENCH_BIN:-${ROOT}/build/release/bin/attnbench}"
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && exit 0
  exit 2
fi
if [ ! -x "${BIN}" ]; then
  echo "submit-study.sh: attnbench binary '${BIN}' not found: build it (jobs/local.sh build) or set ATTNBENCH_BIN" >&2
  exit 2
fi
exec "${BIN}" study submit "$@"
