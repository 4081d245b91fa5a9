#!/usr/bin/python3
"""attnbench exact leverage vs what a NumPy/SciPy user writes, on the same X, in one script run.

One X is written by `attnbench gen` (dense, or CSC at --density < 1). Then, interleaved (A B A B
...; the machine may be shared, so only the ratio measured in one run means anything):
  attnbench: `attnbench sparsify --algo leverage --input X.h5 --reps 1 --warmup 1`, its archived
             kernel time /timings/total (Gram, Cholesky, scores, sampling; max over ranks; file I/O
             and set-up are archived separately and excluded);
  peer:      the same steps in NumPy/SciPy on X already in memory (read once, not timed):
             dense  M = X X^T (numpy's syrk), L = cholesky(M), Z = solve_triangular(L, X),
                    tau = column norms of Z;
             sparse M = (X X^T).toarray() (scipy sparse product), L = cholesky(M), Linv = L^{-1},
                    Z = X^T Linv^T (sparse-dense product, d x n), tau = row norms of Z;
             then m = ceil(3 n ln(2 n / delta) / eps^2) draws of the columns with p = tau / n
             (numpy multinomial) and their weights sqrt(c / (m p)): attnbench's m.
Prints the per-run times, the medians of --reps runs each, the per-phase medians of attnbench,
and the ratio peer / attnbench (> 1: attnbench is faster).

With --baseline OTHER_ATTNBENCH the same X also goes through that binary (e.g. the landed main's),
interleaved with the others, and the ratio baseline / attnbench is printed too.

--algo bss (no peer): attnbench's BSS on the same X (--gamma, --ranks) against its budget
ceil(gamma n) x 20 n^3 flops at the single-core DGEMM rate measured in the same run (NumPy's
2048^3 DGEMM, one thread, the same OpenBLAS), before and after the runs.

Usage: bench_sparsify_peers.py --attnbench build/release/bin/attnbench [--n 256] [--d 1048576]
         [--density 0.01] [--ranks 1] [--reps 3] [--workdir DIR] [--eps 0.5 --delta 0.1]
         [--baseline /work/baseline/bin/attnbench] [--algo bss --gamma 4]
"""
import argparse
import math
import os
import statistics
import subprocess
import tempfile
import time

# One BLAS thread for the peer as for attnbench's ranks: set before NumPy loads OpenBLAS.
os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
import h5py
import numpy as np
import scipy.linalg
import scipy.sparse

ap = argparse.ArgumentParser()
ap.add_argument("--attnbench", required=True)
ap.add_argument("--n", type=int, default=256)
ap.add_argument("--d", type=int, default=1 << 20)
ap.add_argument("--density", type=float, default=0.01)
ap.add_argument("--ranks", type=int, default=1)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--eps", type=float, default=0.5)
ap.add_argument("--delta", type=float, default=0.1)
ap.add_argument("--workdir", default=None)
ap.add_argument("--baseline", default=None)
ap.add_argument("--algo", choices=("leverage", "bss"), default="leverage")
ap.add_argument("--gamma", type=float, default=4.0)
a = ap.parse_args()
if a.reps < 3 and a.algo == "leverage":
    ap.error("--reps must be at least 3 (medians of >= 3 runs)")

env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1")
# Without --workdir, X and the archives live in a temporary directory removed at exit.
tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="sparsify_peers_")
work = a.workdir or tmp.name
os.makedirs(work, exist_ok=True)
xfile = os.path.join(work, "X.h5")
subprocess.run([a.attnbench, "gen", "--kernel", "sparsify", "--n", str(a.n), "--d", str(a.d), "--density",
                str(a.density), "--out", xfile, "--overwrite"], env=env, check=True, capture_output=True)
sparse = a.density < 1.0
with h5py.File(xfile, "r") as f:
    g = f["X"]
    if sparse:
        X = scipy.sparse.csc_matrix((g["data"][...], g["indices"][...], g["indptr"][...]), shape=(a.n, a.d))
    else:
        X = np.ascontiguousarray(g[...], dtype=np.float64)
m = math.ceil(3.0 * a.n * math.log(2.0 * a.n / a.delta) / (a.eps * a.eps))


def peer(seed):
    """Seconds of each step of the NumPy/SciPy exact leverage; returns (phases, kept columns)."""
    t = {}
    t0 = time.perf_counter()
    M = (X @ X.T).toarray() if sparse else X @ X.T
    t1 = time.perf_counter()
    L = scipy.linalg.cholesky(M, lower=True, check_finite=False)
    t2 = time.perf_counter()
    if sparse:
        Linv = scipy.linalg.solve_triangular(L, np.eye(a.n), lower=True, check_finite=False)
        Z = X.T @ Linv.T  # d x n, dense
        tau = np.einsum("ij,ij->i", Z, Z)
    else:
        Z = scipy.linalg.solve_triangular(L, X, lower=True, check_finite=False)
        tau = np.einsum("ij,ij->j", Z, Z)
    del Z
    t3 = time.perf_counter()
    p = tau / tau.sum()
    counts = np.random.default_rng(seed).multinomial(m, p)
    kept = np.flatnonzero(counts)
    weights = np.sqrt(counts[kept] / (m * p[kept]))
    t4 = time.perf_counter()
    t.update(gram=t1 - t0, factor=t2 - t1, scores=t3 - t2, sample=t4 - t3, total=t4 - t0)
    assert abs(tau.sum() - a.n) < 1e-6 * a.n and weights.size == kept.size
    return t, kept.size


def attnbench(binary, tag):
    out = os.path.join(work, "run_%s.h5" % tag)
    algo = ["--algo", "bss", "--gamma", str(a.gamma), "--warmup", "0"] if a.algo == "bss" else [
        "--algo", "leverage", "--eps", str(a.eps), "--delta", str(a.delta), "--warmup", "1"]
    cmd = ([] if a.ranks == 1 else ["mpirun", "-n", str(a.ranks)]) + [
        binary, "sparsify", "--input", xfile, "--reps", "1", "--quiet", "--out", out, "--overwrite"] + algo
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    with h5py.File(out, "r") as f:
        # /timings/<phase>: [reps, ranks]; the kernel time of a repetition is its slowest rank's.
        ph = {k: float(np.max(f["timings"][k][0])) for k in f["timings"] if k not in ("io", "setup")}
        ph["columns"] = f["output/columns"][...]
        ph["weights"] = f["output/weights"][...]
    return ph


def dgemm_rate():
    """Single-core DGEMM GFLOP/s (NumPy, one OpenBLAS thread), best of 3 after a warm-up."""
    A = np.random.default_rng(0).random((2048, 2048))
    A @ A
    best = min(timeit(lambda: A @ A) for _ in range(3))
    return 2.0 * 2048 ** 3 / best / 1e9


def timeit(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def med(runs, k):
    return statistics.median(x.get(k, 0.0) for x in runs)


binaries = [("attnbench", a.attnbench)] + ([("baseline", a.baseline)] if a.baseline else [])
runs = {name: [] for name, _ in binaries}
kind = "csc density %g, nnz %d" % (a.density, X.nnz) if sparse else "dense"
if a.algo == "bss":
    rates = [dgemm_rate()]
    for r in range(a.reps):
        for name, binary in binaries:
            runs[name].append(attnbench(binary, name))
            print("run %d: %s %.3f s" % (r + 1, name, runs[name][-1]["total"]), flush=True)
    rates.append(dgemm_rate())
    steps = math.ceil(a.gamma * a.n - 1e-9)
    budget = steps * 20.0 * a.n ** 3 / (statistics.median(rates) * 1e9)
    print("bss, n=%d d=%d (%s), gamma %g (%d steps), %d rank(s), one thread each, medians of %d runs; load %s" %
          (a.n, a.d, kind, a.gamma, steps, a.ranks, a.reps, os.getloadavg()))
    print("  single-core DGEMM %s GFLOP/s (before, after): budget ceil(gamma n) x 20 n^3 flops = %.3f s" %
          (", ".join("%.1f" % x for x in rates), budget))
    for name, _ in binaries:
        print("  %-10s total %.3f s (%.2f of the budget): " % (name, med(runs[name], "total"),
                                                              med(runs[name], "total") / budget) +
              ", ".join("%s %.3f" % (k, med(runs[name], k)) for k in ("bss_eigen", "bss_scores", "bss_select", "comm_wait")))
else:
    peer(0)  # warm-up (page faults of the first large temporaries)
    runs["numpy/scipy"] = []
    for r in range(a.reps):
        for name, binary in binaries:
            runs[name].append(attnbench(binary, name))
        pp, kp = peer(r)
        runs["numpy/scipy"].append(pp)
        print("run %d: " % (r + 1) + ", ".join("%s %.3f s (%d columns kept)" % (
            name, runs[name][-1]["total"], runs[name][-1]["columns"].size) for name, _ in binaries) +
            ", numpy/scipy %.3f s (%d columns kept)" % (pp["total"], kp), flush=True)
    print("exact leverage, n=%d d=%d (%s), m=%d, %d rank(s) for attnbench, one thread each, medians of %d runs, "
          "file I/O excluded; load %s" % (a.n, a.d, kind, m, a.ranks, a.reps, os.getloadavg()))
    for name in runs:
        print("  %-12s total %.3f s: " % (name, med(runs[name], "total")) +
              ", ".join("%s %.3f" % (k, med(runs[name], k)) for k in ("gram", "factor", "scores", "sample")))
    print("ratio numpy/scipy / attnbench = %.2f" % (med(runs["numpy/scipy"], "total") / med(runs["attnbench"], "total")))
if a.baseline:
    same = all(np.array_equal(x["columns"], y["columns"]) for x, y in zip(runs["attnbench"], runs["baseline"]))
    wdiff = max((float(np.max(np.abs(x["weights"] / y["weights"] - 1))) if x["weights"].size == y["weights"].size
                 else float("inf")) for x, y in zip(runs["attnbench"], runs["baseline"]))
    print("ratio baseline / attnbench = %.2f; same selected columns as the baseline: %s, weights within %.1e" %
          (med(runs["baseline"], "total") / med(runs["attnbench"], "total"), same, wdiff))
