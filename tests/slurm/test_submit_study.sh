#!/usr/bin/env bash
# ctest `slurm.submit_study` (label slurm): a real one-node Slurm cluster on localhost.
#
#   test_submit_study.sh ATTNBENCH_BINARY WORK_DIR
#
# 1. jobs/slurm/local-cluster.sh start (exit 77 = Slurm cannot run here: the test is SKIPPED);
# 2. jobs/submit-study.sh tests/slurm/tiny-strong.toml: 2 points x an array of 2 + a report job
#    with afterok; waits for the report job (polling scontrol, bounded; never sacct);
# 3. checks the archives (valid, Slurm job id recorded), status files, study.h5, CSV, PNGs and
#    the report's Markdown table;
# 4. resubmits: nothing is rerun or overwritten, only a report job is submitted;
# 5. the time-limit warning: a long run gets USR1 (what --signal=B:USR1@60 sends) and must leave
#    a TIMEOUT status and no archive, partial or not;
# 6. a failing point: the report job is cancelled (afterok);
# 7. a DOES_NOT_FIT point (attnbench exit 6): its job ends COMPLETED, the report job runs and lists it;
# 8. submitted twice while its jobs are pending: no second report job, no point job twice, and a
#    local `study run` started at once leaves the claimed points to their Slurm jobs;
# and stops the daemons if (and only if) this test started them, whatever happens.
set -euo pipefail
BIN=$(readlink -f "$1")
WORK=$2
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER="${SRC}/jobs/slurm/local-cluster.sh"
RESULTS="${WORK}/results"
TIMEOUT_S=${ATTNBENCH_SLURM_TEST_TIMEOUT:-420}

say() { echo "[slurm-test] $*"; }
fail() { echo "[slurm-test] FAIL: $*" >&2; exit 1; }

if [ ! -x "${CLUSTER}" ]; then
  say "SKIP: ${CLUSTER} does not exist"
  exit 77
fi

started_here=0
submitted=()
cleanup() {
  local rc=$?
  if [ ${#submitted[@]} -gt 0 ]; then
    scancel "${submitted[@]}" 2>/dev/null || true
  fi
  if [ "${started_here}" = 1 ]; then
    say "stopping the Slurm daemons this test started"
    "${CLUSTER}" stop || true
  fi
  exit "${rc}"
}
trap cleanup EXIT

if "${CLUSTER}" status >/dev/null 2>&1; then
  say "Slurm is already running (not started by this test; it will be left running)"
fi
# `start` is idempotent; it only counts as ours if the cluster was not usable before.
if ! "${CLUSTER}" status >/dev/null 2>&1 || ! sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|alloc'; then
  rc=0
  "${CLUSTER}" start || rc=$?
  if [ "${rc}" -eq 77 ]; then
    say "SKIP: Slurm cannot be started here (see above)"
    exit 77
  fi
  [ "${rc}" -eq 0 ] || fail "local-cluster.sh start failed (exit ${rc})"
  started_here=1
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export ATTNBENCH_BIN="${BIN}"
rm -rf "${WORK}"
mkdir -p "${WORK}"
cd "${WORK}"

# Wait for a job to leave the queue; prints its final state. Bounded; scontrol, never sacct
# (MinJobAge keeps finished jobs visible for a while).
wait_job() {
  local id=$1 t0=${SECONDS} state=""
  while (( SECONDS - t0 < TIMEOUT_S )); do
    state=$(scontrol show job "${id}" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n1 | cut -d= -f2 || true)
    case "${state}" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|PREEMPTED|BOOT_FAIL|DEADLINE)
        echo "${state}"; return 0 ;;
      "") echo "GONE"; return 0 ;;
    esac
    sleep 2
  done
  echo "STILL-${state}"
}

# ---- 1. submit the study ----------------------------------------------------------------------
say "submitting ${SRC}/tests/slurm/tiny-strong.toml"
"${SRC}/jobs/submit-study.sh" "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" | tee submit.out
mapfile -t ids < <(awk '{print $1}' submit.out)
submitted=("${ids[@]}")
[ ${#ids[@]} -eq 3 ] || fail "expected 2 point jobs + 1 report job, got: $(cat submit.out)"
grep -q ' report (after ' submit.out || fail "no report job line"
report_id=$(awk '/ report /{print $1}' submit.out)
grep -E "^[0-9]+ n1024-p1-t1 \(array 0,1\)$" submit.out >/dev/null || fail "point n1024-p1-t1 not submitted as an array"
scontrol show job "${report_id}" -o | grep -q "Dependency=afterok:" || fail "report job has no afterok dependency"

say "waiting (at most ${TIMEOUT_S}s) for report job ${report_id}"
state=$(wait_job "${report_id}")
SDIR="${RESULTS}/slurm-tiny"
if [ "${state}" != COMPLETED ]; then
  for f in "${SDIR}"/*/slurm-*.out "${SDIR}"/report-*.out "${SDIR}"/*/run*.status; do
    [ -f "$f" ] && { echo "===== $f"; tail -n 20 "$f"; }
  done
  fail "report job ${report_id} ended in state ${state}"
fi
submitted=()

# ---- 2. check what the jobs left ----------------------------------------------------------------
for p in n1024-p1-t1 n1024-p2-t1; do
  for k in 0 1; do
    a="${SDIR}/${p}/run${k}.h5"
    [ -f "${a}" ] || fail "missing archive ${a}"
    grep -qx "state=COMPLETED" "${SDIR}/${p}/run${k}.status" || fail "${p}/run${k}.status: $(cat "${SDIR}/${p}/run${k}.status")"
    grep -q "slurm_job_id=" "${SDIR}/${p}/run${k}.provenance" || fail "no provenance for ${p}/run${k}"
    h5dump -a /valid "${a}" | grep -q "(0): 1" || fail "${a} is not valid"
    h5dump -a /provenance/slurm_job_id "${a}" | grep -qE '"[0-9]+' || fail "${a}: no Slurm job id recorded"
  done
done
[ -z "$(find "${SDIR}" -name '*.partial')" ] || fail "partial files left: $(find "${SDIR}" -name '*.partial')"
grep -qx "state=COMPLETED" "${SDIR}/report.status" || fail "report.status: $(cat "${SDIR}/report.status" 2>&1)"
report_out="${SDIR}/report-${report_id}.out"
grep -q "| point | run | n | ranks |" "${report_out}" || fail "no Markdown table in ${report_out}"
[ "$(grep -c '| VALID |' "${report_out}")" -eq 4 ] || fail "expected 4 VALID rows in ${report_out}"
for f in study.h5 study.csv study.md time.png efficiency.png rates.png; do
  [ -s "${SDIR}/${f}" ] || fail "report file ${f} missing"
done
/usr/bin/python3 - "${SDIR}/study.h5" <<'PY' || fail "study.h5 content"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = f["runs"][()]
    assert len(runs) == 4, len(runs)
    assert f.attrs["mode"] == "strong"
    assert all(runs["valid"] == 1)
    assert sorted(set(runs["ranks"].tolist())) == [1, 2]
    assert all(s.isdigit() for s in (x.decode() for x in runs["slurm_job_id"]))
    print("study.h5: 4 valid runs, Slurm job ids", sorted(set(x.decode() for x in runs["slurm_job_id"])))
PY
say "study ran under Slurm; report:"
cat "${report_out}"

# ---- 3. resubmit: nothing rerun, nothing overwritten ------------------------------------------
before=$(find "${SDIR}" -name 'run*.h5' -printf '%p %T@ %s\n' | sort)
# (--wait: sbatch --wait on the report job, bounded by `timeout`.)
rc=0
timeout "${TIMEOUT_S}" "${SRC}/jobs/submit-study.sh" "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" \
  --wait > resubmit.out 2> resubmit.err || rc=$?
cat resubmit.out resubmit.err
[ "${rc}" -eq 0 ] || fail "resubmission with --wait: exit ${rc}"
[ "$(wc -l < resubmit.out)" -eq 1 ] || fail "resubmission submitted point jobs: $(cat resubmit.out)"
grep -q "report (after nothing)" resubmit.out || fail "resubmission: no report job"
grep -q "all runs archived, claimed or recorded, not submitted" resubmit.err || fail "resubmission: points not skipped"
after=$(find "${SDIR}" -name 'run*.h5' -printf '%p %T@ %s\n' | sort)
[ "${before}" = "${after}" ] || fail "archives changed on resubmission"

# ---- 4. the time-limit warning ----------------------------------------------------------------
PT="${WORK}/timelimit/n65536-p1"
mkdir -p "${PT}"
jid=$(sbatch --parsable -n 1 --time=00:10:00 --output="${PT}/slurm-%j.out" \
  --export=ALL,ATTNBENCH_BIN="${BIN}",ATTNBENCH_ROOT="${SRC}" \
  "${SRC}/jobs/run.sbatch" attention "${PT}" -- --n 65536 --d 64 --warmup 0 --reps 5)
submitted=("${jid}")
t0=${SECONDS}
until scontrol show job "${jid}" -o | grep -q 'JobState=RUNNING'; do
  (( SECONDS - t0 < 120 )) || fail "long job ${jid} never started"
  sleep 1
done
until [ -f "${PT}/run0.provenance" ] && pgrep -f "attnbench attention --n 65536" >/dev/null; do
  (( SECONDS - t0 < 120 )) || fail "long job ${jid}: the run never started"
  sleep 1
done
sleep 3
say "sending the time-limit warning (USR1) to job ${jid}"
scancel --batch --signal=USR1 "${jid}"
state=$(wait_job "${jid}")
submitted=()
cat "${PT}/slurm-${jid}.out" || true
grep -qx "state=TIMEOUT" "${PT}/run0.status" || fail "time-limit: status is $(cat "${PT}/run0.status" 2>&1)"
[ ! -e "${PT}/run0.h5" ] && [ -z "$(find "${PT}" -name '*.h5*')" ] || fail "time-limit: an archive was left: $(ls -a "${PT}")"
[ ! -e "${PT}/run0.claim" ] || fail "time-limit: the claim was left"
[ "${state}" = FAILED ] || fail "time-limit: job state ${state}, expected FAILED (exit 124)"
pgrep -f "attnbench attention --n 65536" >/dev/null && fail "time-limit: the run is still running"
# ---- 5. a failing point: the report job is cancelled (afterok + --kill-on-invalid-dep=yes) -------
# scale = "bogus" passes the study checks (a free-text option) and fails in attnbench (exit 2).
"${SRC}/jobs/submit-study.sh" "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" \
  --set name=slurm-fail --set scaling.ranks=[1] --set scaling.repeat=1 --set attention.scale=bogus | tee fail.out
mapfile -t ids < <(awk '{print $1}' fail.out)
submitted=("${ids[@]}")
[ ${#ids[@]} -eq 2 ] || fail "expected 1 point job + 1 report job: $(cat fail.out)"
point_state=$(wait_job "${ids[0]}")
report_state=$(wait_job "${ids[1]}")
submitted=()
[ "${point_state}" = FAILED ] || fail "failing point: job state ${point_state}"
[ "${report_state}" = CANCELLED ] || fail "report job after a failed point: state ${report_state}, expected CANCELLED"
grep -qx "state=FAILED" "${RESULTS}/slurm-fail/n1024-p1-t1/run0.status" || fail "failed point: no FAILED status"
[ ! -e "${RESULTS}/slurm-fail/study.h5" ] || fail "a report was written for a failed study"
say "failed point -> report job cancelled, as it should"

# ---- 7. a DOES_NOT_FIT point: the job ends COMPLETED and the report job runs ---------------------
# poly at bound 3 needs a rank of ~3e7 at d = 8: over a 64 MiB budget (exit 6); exact fits.
cat > unfit.toml <<'EOT'
name = "slurm-unfit"
[scaling]
mode = "strong"
ranks = [1]
n = 256
[attention]
d = 8
warmup = 0
reps = 1
[[case]]
label = "exact"
algo = "exact"
[[case]]
label = "unfit"
algo = "poly"
bound = 3.0
memory_budget = "64MiB"
[slurm]
time = "00:05:00"
EOT
"${SRC}/jobs/submit-study.sh" unfit.toml --results "${RESULTS}" | tee unfit.out
mapfile -t ids < <(awk '{print $1}' unfit.out)
submitted=("${ids[@]}")
[ ${#ids[@]} -eq 3 ] || fail "unfit study: expected 2 point jobs + 1 report job: $(cat unfit.out)"
unfit_id=$(awk '/ n256-p1-t1-unfit$/{print $1}' unfit.out)
report_id=$(awk '/ report /{print $1}' unfit.out)
unfit_state=$(wait_job "${unfit_id}")
report_state=$(wait_job "${report_id}")
submitted=()
UD="${RESULTS}/slurm-unfit"
cat "${UD}/n256-p1-t1-unfit/run0.status" || true
[ "${unfit_state}" = COMPLETED ] || fail "DOES_NOT_FIT point: job state ${unfit_state}, expected COMPLETED"
grep -qx "state=DOES_NOT_FIT" "${UD}/n256-p1-t1-unfit/run0.status" || fail "no DOES_NOT_FIT status"
[ "${report_state}" = COMPLETED ] || fail "report job after a DOES_NOT_FIT point: ${report_state}"
grep -q "DO NOT FIT the memory budget" "${UD}/report-${report_id}.out" || fail "the report does not list the point"
say "DOES_NOT_FIT point -> job COMPLETED, report ran and lists it"

# ---- 8. submitted twice while pending: one report job; a local run leaves claimed points alone ----
"${SRC}/jobs/submit-study.sh" "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" --set name=slurm-twice \
  --set scaling.repeat=1 --set 'slurm.sbatch_args=["--begin=now+600"]' | tee twice1.out
mapfile -t ids < <(awk '{print $1}' twice1.out)
submitted=("${ids[@]}")
[ ${#ids[@]} -eq 3 ] || fail "twice: expected 2 point jobs + 1 report job: $(cat twice1.out)"
"${SRC}/jobs/submit-study.sh" "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" --set name=slurm-twice \
  --set scaling.repeat=1 --set 'slurm.sbatch_args=["--begin=now+600"]' > twice2.out 2> twice2.err
cat twice2.out twice2.err
[ "$(squeue -h -n attnbench-slurm-twice-report -o %A | wc -l)" -eq 1 ] || fail "a second report job was queued"
[ "$(squeue -h -o %j | grep -c '^attnbench-slurm-twice-n')" -eq 2 ] || fail "point jobs submitted twice"
grep -q "report (already queued" twice2.out || fail "second submission: report job not recognised as queued"
rc=0
"${BIN}" study run "${SRC}/tests/slurm/tiny-strong.toml" --results "${RESULTS}" --set name=slurm-twice \
  --set scaling.repeat=1 --set 'slurm.sbatch_args=["--begin=now+600"]' 2> twice-local.err || rc=$?
cat twice-local.err
[ "$(grep -c 'claimed by Slurm job' twice-local.err)" -eq 2 ] || fail "local run did not honour the Slurm claims"
[ -z "$(find "${RESULTS}/slurm-twice" -name 'run*.h5')" ] || fail "local run ran a point claimed by a pending job"
scancel "${submitted[@]}" 2>/dev/null || true
submitted=()
say "second submission queued nothing; the local run left both points to their pending jobs"
say "PASS"
