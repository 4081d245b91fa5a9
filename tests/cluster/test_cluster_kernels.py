#!/usr/bin/python3
"""ctest `cluster.kernels` (label cluster): every kernel on two emulated nodes.

    test_cluster_kernels.py --attnbench BIN --emulate jobs/cluster/emulate.sh --workdir DIR [--timeout S]

Two nodes (network namespaces with their own hostnames, TCP only between them; see
jobs/cluster/emulate.sh), set up once for the whole script and removed at its end, also when it
is killed or fails:
1. every kernel (attention ring, allgather and Ulysses, poly, kde, hyper, performer; solve;
   sparsify leverage and bss; regress; gen for attention and sparsify) on 2 nodes x 1 rank and
   2 nodes x 2 ranks: exit 0, VALID, the archive's provenance names both hosts, and /output equal
   to the one-node run on one rank - bitwise where README "What attnbench guarantees" promises
   rank-count invariance (gen's files), to rounding elsewhere (the tolerances below say why);
2. a node lost mid-run: the rank processes on node 2 are killed while the run repeats; the job
   ends with a non-zero exit on every surviving rank within the launch timeout, nothing is left
   running on either node, and nothing is published at --out;
3. two machines with the same hostname (node 3 calls itself node2): attention, solve and gen are
   refused with exit 2 on every rank and one message naming the duplicated name, nothing written
   (a node is identified by MPI_Get_processor_name; merging two would sum their memory as one).
4. `attnbench net` between node1 and node2: exit 0 with alpha, beta and the exchange bandwidth as
   JSON; on one node exit 2 with one message; `net --help` with and without mpirun, and
   `attnbench --help` lists it.
Exit 77 (skipped) with the reason when this machine cannot emulate nodes (not root, no network
namespaces).
"""
import argparse
import atexit
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e_util  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--attnbench", required=True)
p.add_argument("--emulate", required=True, help="jobs/cluster/emulate.sh")
p.add_argument("--workdir", required=True)
p.add_argument("--timeout", type=float, default=60.0, help="per-launch timeout in seconds")
args = p.parse_args()

# Own prefix and subnet: other cluster tests may run at the same time.
ENV = e2e_util.mpi_env()
ENV.update(ATTNBENCH_EMU_PREFIX="abk", ATTNBENCH_EMU_SUBNET="10.231.1", ATTNBENCH_EMU_SLOTS="2",
           ATTNBENCH_NETWORK_PROBE="off")  # the probe is checked by cluster.slurm; 0.1-1 s per run here
# mpirun forwards only what it is told to the daemons' ranks on other nodes.
FORWARD = ["-x", "OPENBLAS_NUM_THREADS", "-x", "OMP_NUM_THREADS", "-x", "ATTNBENCH_REFERENCE_RATES",
           "-x", "ATTNBENCH_NETWORK_PROBE",
           "-x", "OMPI_MCA_mpi_yield_when_idle", "-x", "OMPI_MCA_odls_base_sigkill_timeout"]
QUICK = ["--warmup", "0", "--reps", "1", "--quiet"]


def emulate(*argv, check=True):
    return subprocess.run([args.emulate] + list(argv), env=ENV, check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


r = subprocess.run([args.emulate, "check"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
if r.returncode == 77:
    print(r.stdout.strip())
    sys.exit(77)
if r.returncode != 0:
    print("emulate.sh check failed (%d): %s" % (r.returncode, r.stdout))
    sys.exit(1)


def teardown(*_):
    emulate("down", check=False)


atexit.register(teardown)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # ctest's timeout sends SIGTERM
    signal.signal(sig, lambda s, f: sys.exit(128 + s))
# node3 is a second machine calling itself node2 (for part 3); the kernels run on node1 and node2.
up = emulate("up", "3", "--hostnames", "node1 node2 node2", check=False)
if up.returncode != 0:
    print("emulate.sh up 3 failed (%d): %s" % (up.returncode, up.stdout))
    sys.exit(1)

shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
chk = e2e_util.Checker("cluster.kernels")

# name: (argv, {dataset: tolerance}); tolerance None = bitwise, an int array compared exactly;
# a float = max|x - ref| <= tol * max|ref| (rounding of sums whose order follows the rank count:
# measured about 1e-15 here, 1e-13 is what the in-process invariance tests allow for attention).
ROUNDING = 1e-12
# solve: X of an N = 50 system with condition 1e3 moves by up to N eps cond relative (measured
# 5e-14); HPL's 16 N eps cond bounds it.
SOLVE_TOL = 16 * 50 * np.finfo(float).eps * 1e3
CASES = {
    "ring": (["attention", "--n", "203", "--d", "8"], {"O": ROUNDING}),
    "allgather": (["attention", "--n", "203", "--d", "8", "--variant", "allgather"], {"O": ROUNDING}),
    "ulysses": (["attention", "--n", "64", "--d", "8", "--heads", "4", "--variant", "ulysses"], {"O": ROUNDING}),
    "poly": (["attention", "--algo", "poly", "--n", "150", "--d", "4", "--bound", "0.5"], {"O": ROUNDING}),
    "kde": (["attention", "--algo", "kde", "--n", "256", "--d", "8"], {"O": ROUNDING}),
    "hyper": (["attention", "--algo", "hyper", "--n", "256", "--d", "8"], {"O": ROUNDING}),
    "performer": (["attention", "--algo", "performer", "--n", "256", "--d", "8"], {"O": ROUNDING}),
    "solve": (["solve", "--n", "50", "--block", "8"], {"X": SOLVE_TOL}),
    "leverage": (["sparsify", "--n", "8", "--d", "256"], {"columns": None, "weights": ROUNDING, "Y": ROUNDING}),
    "bss": (["sparsify", "--algo", "bss", "--n", "8", "--d", "256"],
            {"columns": None, "weights": ROUNDING, "Y": ROUNDING}),
    "regress": (["regress", "--n", "64", "--d", "3"], {"X": ROUNDING, "Y": ROUNDING}),
    # gen's files are bitwise the same for any rank count (README: generated data).
    "gen": (["gen", "--n", "37", "--d", "5", "--heads", "2", "--batch", "2"], {"/Q": None, "/K": None, "/V": None}),
    "gen-csc": (["gen", "--kernel", "sparsify", "--n", "8", "--d", "61", "--density", "0.3"],
                {"/X/data": None, "/X/indices": None, "/X/indptr": None}),
}
LAYOUTS = {"1node": 1, "2x1": 2, "2x2": 4}


def argv_of(name, out):
    base, _ = CASES[name]
    extra = [] if base[0] == "gen" else QUICK + ["--save-output"]
    return base + extra + ["--out", out]


def run(name, layout):
    out = os.path.join(args.workdir, "%s-%s.h5" % (name, layout))
    argv = [args.attnbench] + argv_of(name, out)
    if layout == "1node":  # the reference: one rank on the machine itself, shared memory
        cmd = ["mpirun", "-n", "1"] + argv
    elif layout == "2x1":
        cmd = [args.emulate, "mpirun", "-n", "2", "--host", "node1,node2"] + FORWARD + argv
    else:
        cmd = [args.emulate, "mpirun", "-n", "4", "--host", "node1:2,node2:2"] + FORWARD + argv
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return name, layout, out, None, "no result within %.0f s (hang): %s" % (args.timeout, " ".join(cmd))
    return name, layout, out, r, "%.1f s" % (time.monotonic() - t0)


def output_datasets(path, name):
    with h5py.File(path, "r") as f:
        _, tols = CASES[name]
        prefix = "" if name.startswith("gen") else "output/"
        return {ds: f[prefix + ds.lstrip("/")][()] for ds in tols}


def root_attr(path, key):
    with h5py.File(path, "r") as f:
        v = f.attrs.get(key)
    return v.decode() if isinstance(v, bytes) else v


def hosts_of(path):
    with h5py.File(path, "r") as f:
        v = f["provenance"].attrs.get("hostnames")
    return (v.decode() if isinstance(v, bytes) else str(v)).split(",")


# ---- 1. every kernel, 1 node (reference), 2 x 1 and 2 x 2 --------------------------------------
t0 = time.monotonic()
jobs = [(n, lay) for n in CASES for lay in LAYOUTS]
# Two launches at a time: most of a launch is process start-up and TCP connection set-up.
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    results = list(pool.map(lambda j: run(*j), jobs))
print("ok   %d launches in %.1f s" % (len(jobs), time.monotonic() - t0), flush=True)
done = {}
for name, layout, out, r, how in results:
    label = "%s %s" % (name, layout)
    if not chk.check(r is not None, "%s: %s" % (label, how)):
        continue
    ok = chk.check(r.returncode == 0 and os.path.isfile(out),
                   "%s: exit %d, archive %s\n  stderr: %s" % (label, r.returncode, os.path.isfile(out),
                                                               r.stderr.strip()[-2000:]))
    if not ok:
        continue
    if not name.startswith("gen"):
        ok &= chk.check(root_attr(out, "valid") == 1, "%s: the archive is not VALID" % label)
        ok &= chk.check(int(root_attr(out, "ranks")) == LAYOUTS[layout], "%s: ranks = %s, expected %d" % (
            label, root_attr(out, "ranks"), LAYOUTS[layout]))
        if layout != "1node":
            # Ran on both nodes, as each node's own hostname says (a UTS namespace per node).
            ok &= chk.check(hosts_of(out) == ["node1", "node2"], "%s: provenance hostnames %s, expected node1,node2" % (
                label, hosts_of(out)))
    if ok:
        done[(name, layout)] = out

for name, (_, tols) in CASES.items():
    ref = done.get((name, "1node"))
    if ref is None:
        continue
    want = output_datasets(ref, name)
    for layout in ("2x1", "2x2"):
        if (name, layout) not in done:
            continue
        got = output_datasets(done[(name, layout)], name)
        for ds, tol in tols.items():
            a, b = got[ds], want[ds]
            label = "%s %s %s" % (name, layout, ds)
            if not chk.check(a.shape == b.shape and a.dtype == b.dtype,
                             "%s: %s %s, one node: %s %s" % (label, a.shape, a.dtype, b.shape, b.dtype)):
                continue
            if tol is None or not np.issubdtype(b.dtype, np.floating):
                chk.check(a.tobytes() == b.tobytes(), "%s: not bitwise equal to the one-node run" % label)
            else:
                scale = float(np.max(np.abs(b))) if b.size else 0.0
                diff = float(np.max(np.abs(a - b))) if b.size else 0.0
                chk.check(diff <= tol * scale, "%s: max|x - one node| = %.3g > %.1e * %.3g" % (label, diff, tol, scale))
    print("ok   [%s] 2x1 and 2x2 against one node: %s" % (name, ", ".join(
        "%s %s" % (ds, "bitwise" if tol is None else "<= %.0e" % tol) for ds, tol in tols.items())), flush=True)

# ---- 4. attnbench net: the probe between two nodes, its help, one node refused ------------------
t0 = time.monotonic()
NET_LAUNCHES = {
    # Sizes 8 B x 4^k up to --max-bytes: 8 x 4^8 = 512 KiB is the last.
    "2 nodes": [args.emulate, "mpirun", "-n", "2", "--host", "node1,node2"] + FORWARD +
               [args.attnbench, "net", "--max-bytes", "524288", "--json"],
    "one node": ["mpirun", "-n", "2", "--oversubscribe", args.attnbench, "net"],
    "help, mpirun": ["mpirun", "-n", "2", "--oversubscribe", args.attnbench, "net", "-h"],
    "help": [args.attnbench, "net", "--help"],  # no launcher: answered without MPI
    "attnbench --help": [args.attnbench, "--help"],
}
# At once: each is mostly process start-up.
with concurrent.futures.ThreadPoolExecutor(max_workers=len(NET_LAUNCHES)) as pool:
    net = dict(zip(NET_LAUNCHES, pool.map(lambda cmd: subprocess.run(
        cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout),
        NET_LAUNCHES.values())))
r = net["2 nodes"]
try:
    probe = json.loads(r.stdout)
except ValueError:
    probe = {}
ok = chk.check(r.returncode == 0 and probe.get("host_a") == "node1" and probe.get("host_b") == "node2",
               "net: exit %d, expected one JSON object for node1 <-> node2:\n%s%s" % (r.returncode, r.stdout, r.stderr[-1000:]))
ok &= chk.check(all(probe.get(k, 0) > 0 for k in ("alpha_s", "beta_bytes_per_s", "exchange_beta_bytes_per_s")) and
                max(probe.get("bytes", [0])) == 524288, "net: alpha, beta, exchange beta and sizes up to --max-bytes: %s" % probe)
one = net["one node"]
ok &= chk.check(one.returncode == 2 and one.stderr.count("attnbench: error: net: all 2 ranks run on one node") == 1,
                "net on one node: exit %d, expected 2 and one error:\n%s" % (one.returncode, one.stderr[-1000:]))
for key in ("help", "help, mpirun"):
    h = net[key]
    ok &= chk.check(h.returncode == 0 and h.stdout.count("Usage: mpirun -n 2 --map-by node attnbench net") == 1,
                    "net %s: exit %d, expected the usage of net once:\n%s" % (key, h.returncode, h.stdout[:600]))
ok &= chk.check("  net [--max-bytes B] [--json]" in net["attnbench --help"].stdout,
                "attnbench --help does not list net:\n%s" % net["attnbench --help"].stdout)
if ok:
    print("ok   [net] node1 <-> node2: alpha %.3g us, beta %.4g MB/s, exchange %.4g MB/s; one node exit 2; help (%.1f s)" % (
        probe["alpha_s"] * 1e6, probe["beta_bytes_per_s"] / 1e6, probe["exchange_beta_bytes_per_s"] / 1e6,
        time.monotonic() - t0), flush=True)

# ---- 3. (run before 2) two machines, one hostname ----------------------------------------------------------------
TWIN_CASES = {"attention": ["attention", "--n", "64", "--d", "8"] + QUICK, "solve": ["solve", "--n", "24"] + QUICK,
              "gen": ["gen", "--n", "16", "--d", "4"]}


def twin(name):
    d = os.path.join(args.workdir, "twin-" + name)
    os.makedirs(d)
    argv = [args.attnbench] + TWIN_CASES[name] + ["--out", os.path.join(d, "out.h5")]
    # Every rank records its own exit code (the wrapper of e2e_util), none is killed early.
    cmd = [args.emulate, "mpirun", "-n", "3", "--host", "node1,node2,node3", "--mca", "orte_abort_on_non_zero_status",
           "0"] + FORWARD + ["/bin/sh", "-c", e2e_util._RANK_WRAPPER, "sh", d] + argv
    try:
        r = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return name, d, None
    codes = {f: open(os.path.join(d, f)).read().strip() for f in os.listdir(d) if f.startswith("rc.")}
    return name, d, (r, codes)


# One at a time: Open MPI names its per-node state after the hostname, and two jobs at once on
# two nodes of one name failed to start their daemons now and then (orte_session_dir).
for name, d, res in map(twin, TWIN_CASES):
    if not chk.check(res is not None, "twin %s: no result within %.0f s (hang)" % (name, args.timeout)):
        continue
    r, codes = res
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    ok = chk.check(codes == {"rc.0": "2", "rc.1": "2", "rc.2": "2"},
                   "twin %s: rank exit codes %s, expected 2 on 3 ranks\n%s" % (name, codes, r.stderr[-2000:]))
    ok &= chk.check(len(errors) == 1 and "same processor name 'node2'" in errors[0],
                    "twin %s: expected one error naming 'node2', got %s" % (name, errors))
    ok &= chk.check(sorted(f for f in os.listdir(d) if not f.startswith("rc.")) == [],
                    "twin %s: files left: %s" % (name, os.listdir(d)))
    if ok:
        print("ok   [twin %s] exit 2 on every rank: %s" % (name, errors[0][:160]), flush=True)
# ---- 2. a node lost mid-run ---------------------------------------------------------------------
lost_out = os.path.join(args.workdir, "lost.h5")
cmd = [args.emulate, "mpirun", "-n", "2", "--host", "node1,node2"] + FORWARD + [
    args.attnbench, "attention", "--n", "4096", "--d", "32", "--warmup", "0", "--reps", "1000", "--out", lost_out]
proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
lines = []
t0 = time.monotonic()
for line in proc.stdout:  # progress: one line per repetition; wait for the first
    lines.append(line)
    if "rep 1/" in line or time.monotonic() - t0 > args.timeout:
        break
killed = []
if chk.check(any("rep 1/" in l for l in lines), "lost node: the run never got to its first repetition:\n%s" % "".join(lines)):
    # The rank on node 2 (only processes of this test run in its namespace).
    for pid in subprocess.run(["ip", "netns", "pids", "abk2"], stdout=subprocess.PIPE, text=True).stdout.split():
        try:
            with open("/proc/%s/comm" % pid) as fh:
                if fh.read().strip() == "attnbench":
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(pid)
        except (OSError, ValueError):
            pass
    chk.check(len(killed) == 1, "lost node: expected one attnbench rank on node 2, killed %s" % killed)
try:
    rest, _ = proc.communicate(timeout=args.timeout)
    lines.append(rest)
    rc = proc.returncode
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    rc = None
text = "".join(lines)
if chk.check(rc is not None, "lost node: the job did not end within %.0f s of losing node 2 (hang)" % args.timeout):
    chk.check(rc != 0, "lost node: mpirun exit 0\n%s" % text[-2000:])
    # The surviving rank (node 1) did not finish its repetitions: it was ended with the job.
    chk.check("rep 1000/1000" not in text, "lost node: the surviving rank ran to its end\n%s" % text[-2000:])
    left = [ns for ns in ("abk1", "abk2") if any(
        open("/proc/%s/comm" % pid).read().strip() == "attnbench"
        for pid in subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE, text=True).stdout.split()
        if os.path.exists("/proc/%s/comm" % pid))]
    chk.check(not left, "lost node: attnbench still runs on %s" % left)
    chk.check(not os.path.exists(lost_out), "lost node: an archive was published at %s" % lost_out)
    print("ok   [lost node] exit %d %.1f s after the start; nothing at --out (left: %s)" % (
        rc, time.monotonic() - t0, [f for f in os.listdir(args.workdir) if f.startswith("lost")]), flush=True)
chk.finish()
