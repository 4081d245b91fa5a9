#!/usr/bin/env bash
# ctest `cluster.slurm` (label cluster): a study submitted to Slurm on two emulated nodes.
#
#   test_cluster_slurm.sh ATTNBENCH_BINARY WORK_DIR
#
# jobs/cluster/emulate.sh makes two nodes (network namespaces, own hostnames) and a Slurm cluster
# on them (one slurmd per node, slurmctld and munged of their own); jobs/submit-study.sh then
# submits a strong-scaling study with [slurm] nodes = 2 and tasks_per_node = 2 (points of 2 and 4
# ranks, each job on both nodes, launched with srun --mpi=pmix) and waits for its report job.
# Also jobs/run.sbatch by hand with -N 2 --ntasks-per-node=1 (2 ranks, one per node).
# Checks: both archives VALID with node1 and node2 in their provenance, each job's provenance says
# 2 nodes and 2 tasks per node, the report job COMPLETED and its table lists both points.
# Everything is removed at the end (also when the test fails or is killed: `up` removes leftovers).
# Exit 77 (skipped) with the reason when nodes cannot be emulated here or Slurm is not installed.
set -euo pipefail
BIN=$(readlink -f "$1")
WORK=$2
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EMU="${SRC}/jobs/cluster/emulate.sh"
export ATTNBENCH_EMU_PREFIX=abs ATTNBENCH_EMU_SUBNET=10.231.2

say() { echo "[cluster-slurm] $*"; }
fail() { echo "[cluster-slurm] FAIL: $*" >&2; exit 1; }

rc=0
"${EMU}" check || rc=$?
[ "${rc}" -eq 0 ] || exit "${rc}"
trap '"${EMU}" down' EXIT
"${EMU}" up 2
rc=0
"${EMU}" slurm-up || rc=$?
[ "${rc}" -eq 0 ] || exit "${rc}"

rm -rf "${WORK}"
mkdir -p "${WORK}"
cd "${WORK}"
cat > two-nodes.toml <<'EOT'
name = "two-nodes"
[scaling]
mode = "strong"
ranks = [2, 4]
n = 256
[attention]
variant = "ring"
d = 16
warmup = 0
reps = 1
[slurm]
time = "00:05:00"
nodes = 2
tasks_per_node = 2
launcher = "srun"
EOT
# What the jobs inherit (sbatch --export=ALL): root may run Open MPI; yielding ranks and no
# reference rates, as every MPI test of the suite.
export ATTNBENCH_BIN="${BIN}" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 \
  OMPI_MCA_mpi_yield_when_idle=1 ATTNBENCH_REFERENCE_RATES=off
t0=${SECONDS}
# By hand: -N 2 --ntasks-per-node=1 (no -n) must give 2 ranks on 2 nodes.
mkdir -p "${WORK}/byhand"
hand_id=$("${EMU}" slurm sbatch --parsable -N 2 --ntasks-per-node=1 --output="${WORK}/byhand/slurm-%j.out" \
  --export=ALL,ATTNBENCH_ROOT="${SRC}" "${SRC}/jobs/run.sbatch" attention "${WORK}/byhand" -- --n 200 --d 8 \
  --warmup 0 --reps 1)
"${EMU}" slurm "${SRC}/jobs/submit-study.sh" two-nodes.toml --results "${WORK}/results" > submit.out 2> submit.err \
  || { cat submit.out submit.err; fail "submit-study.sh: exit $?"; }
cat submit.out
[ "$(wc -l < submit.out)" -eq 3 ] || fail "expected 2 point jobs and a report job"
report_id=$(awk '/ report /{print $1}' submit.out)
# Polled every 0.3 s through scontrol (sbatch --wait polls at growing intervals: 30 s more here).
state=""
while (( SECONDS - t0 < 240 )); do
  state=$("${EMU}" slurm scontrol show job "${report_id}" -o 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  case "${state}" in PENDING|RUNNING|CONFIGURING|COMPLETING|"") sleep 0.3 ;; *) break ;; esac
done
SDIR="${WORK}/results/two-nodes"
if [ "${state}" != COMPLETED ]; then
  cat submit.err
  for f in "${SDIR}"/*/slurm-*.out "${SDIR}"/*/run*.log "${SDIR}"/report-*.out; do
    [ -f "$f" ] && { echo "===== $f"; tail -n 20 "$f"; }
  done
  fail "report job ${report_id}: ${state:-gone}"
fi
for _ in $(seq 1 100); do  # the hand job was queued first: it has finished or is about to
  [ -f "${WORK}/byhand/run0.status" ] && break
  sleep 0.3
done
grep -qx "state=COMPLETED" "${WORK}/byhand/run0.status" || fail "sbatch -N 2 --ntasks-per-node=1 (job ${hand_id}): $(cat "${WORK}/byhand/"*.out "${WORK}/byhand/run0.status" 2>&1)"
grep -qx "ntasks=2" "${WORK}/byhand/run0.provenance" && grep -qx "nodes=2" "${WORK}/byhand/run0.provenance" \
  || fail "sbatch -N 2 --ntasks-per-node=1: $(grep -E '^(ntasks|nodes)=' "${WORK}/byhand/run0.provenance")"
say "study and report done in $((SECONDS - t0)) s"
for p in n256-p2-t1 n256-p4-t1; do
  a="${SDIR}/${p}/run0.h5"
  [ -f "${a}" ] || fail "missing archive ${a}"
  grep -qx "state=COMPLETED" "${SDIR}/${p}/run0.status" || fail "${p}: $(cat "${SDIR}/${p}/run0.status")"
  grep -qx "nodes=2" "${SDIR}/${p}/run0.provenance" || fail "${p}: the job did not span 2 nodes: $(grep nodes "${SDIR}/${p}/run0.provenance")"
  grep -qx "ntasks_per_node=2" "${SDIR}/${p}/run0.provenance" || fail "${p}: no tasks per node in the provenance"
  /usr/bin/python3 - "${a}" <<'PY' || fail "${a}"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["valid"] == 1, "not VALID"
    hosts = f["provenance"].attrs["hostnames"]
    hosts = hosts.decode() if isinstance(hosts, bytes) else str(hosts)
    assert hosts == "node1,node2", "hostnames %r, expected node1,node2" % hosts
    # The network probe of a multi-node run, archived beside the declared communication.
    m = f["metrics"].attrs
    assert m["net_alpha_s"] > 0 and m["net_beta_bytes_per_s"] > 0 and m["net_exchange_beta_bytes_per_s"] > 0, dict(m)
    assert "node1 (rank 0) <-> node2" in str(m["net_pair"]), m["net_pair"]
    assert str(m["comm_steps"]) in ("p - 1", "b'p - 1'"), m["comm_steps"]
    print(sys.argv[1].split("/")[-2], "VALID on", hosts, "ranks", f.attrs["ranks"])
PY
done
grep -qx "state=COMPLETED" "${SDIR}/report.status" || fail "report.status: $(cat "${SDIR}/report.status" 2>&1)"
report_out=$(ls "${SDIR}"/report-*.out)
[ "$(grep -c '| VALID |' "${report_out}")" -eq 2 ] || fail "expected 2 VALID rows in ${report_out}"
[ -s "${SDIR}/study.h5" ] || fail "no study.h5"
# Two rank counts: the report's performance model, with the network the runs measured.
grep -q "^- measured network: alpha" "${SDIR}/model.md" || fail "model.md: no measured network: $(head -12 "${SDIR}/model.md" 2>&1)"
[ -s "${SDIR}/model.png" ] || fail "no model.png"
say "PASS"
