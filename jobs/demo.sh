#!/usr/bin/env bash
# The default demo study (inputs/demo.points), run locally with mpirun; called by
# `jobs/local.sh demo` after the build. Points that already have an archive are skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/build/release/bin/attnbench"
OUT="${ROOT}/results/demo"
mkdir -p "${OUT}"
NPROC="$(getconf _NPROCESSORS_ONLN)"  # not nproc: it honours OMP_NUM_THREADS
status=0
total=$(grep -cvE '^\s*(#|$)' "${ROOT}/inputs/demo.points")
i=0
while read -r n ranks precision; do
  case "$n" in ''|\#*) continue ;; esac
  i=$((i + 1))
  [ "$ranks" = max ] && ranks="${NPROC}"
  archive="${OUT}/exact-ring-n${n}-d64-p${ranks}-${precision}.h5"
  if [ -f "${archive}" ]; then
    echo "[demo ${i}/${total}] ${archive#${ROOT}/} exists, skipped" >&2
    continue
  fi
  echo "[demo ${i}/${total}] n=${n} ranks=${ranks} ${precision}" >&2
  if ! mpirun -n "${ranks}" "${BIN}" attention --algo exact --variant ring --n "${n}" --d 64 --bound 1 \
      --precision "${precision}" --warmup 1 --reps 3 --quiet --out "${archive}" </dev/null >/dev/null; then
    echo "[demo] point n=${n} ranks=${ranks} ${precision} failed (see above)" >&2
    status=1
  fi
done < "${ROOT}/inputs/demo.points"
/usr/bin/python3 "${ROOT}/src/report/summarize.py" "${OUT}"
exit "${status}"
