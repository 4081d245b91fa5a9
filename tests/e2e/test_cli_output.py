#!/usr/bin/python3
"""End-to-end positive test of `attnbench gen` + `attnbench attention`: the saved output
/output/O is compared with an independent NumPy computation of softmax(scale Q K^T) V in float64
from the input file, and the results archive is checked against the documented schema. Also: the
synthetic in-memory input equals the `gen` file, and an INVALID run exits with the documented code
on every rank and still writes its archive with valid=0.

Usage: test_cli_output.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR
"""
import datetime
import math
import os
import re
import shutil
import sys

import numpy as np
import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

# The runs named here measure the same-run reference rates (/metrics gemm_gflops, gemm_fraction),
# in double, single and with two threads per rank, and their archives are checked for them; the
# others switch them off (1-2 s per launch) and their archives must say so.
RATE_RUNS = {"attention double ring", "attention double --threads 2", "attention single"}

args = e2e_util.parse_args(__doc__)
P = args.np
chk = e2e_util.Checker("cli output np=%d" % P)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
codes = e2e_util.documented_exit_codes(args)


def run(name, argv, expected=0, rerun_argv=None):
    os.environ["ATTNBENCH_REFERENCE_RATES"] = "on" if name in RATE_RUNS else "off"
    """Runs with every rank going to its own end (per-rank exit codes); for an expected non-zero
    code, runs again (rerun_argv, default the same argv) in mpiexec's default mode to check its own
    exit code."""
    r = e2e_util.launch(args, P, argv, os.path.join(work, "rc", name), args.timeout, all_ranks_finish=True)
    if not chk.check(r is not None, "%s: no result within %.0f s" % (name, args.timeout)):
        return None
    detail = "\n  argv: %s\n  stderr: %s\n  stdout: %s" % (" ".join(argv), r.stderr[-2000:], r.stdout[-1000:])
    chk.check(set(r.rank_codes.values()) == {expected} and len(r.rank_codes) == P,
              "%s: per-rank exit codes %s, expected %d%s" % (name, r.rank_codes, expected, detail))
    # The mpiexec exit code itself, in the default abort-on-non-zero mode.
    if expected != 0:
        r1 = e2e_util.launch(args, P, rerun_argv or argv, os.path.join(work, "rc", name + "-1"), args.timeout)
        chk.check(r1 is not None and r1.returncode == expected, "%s: mpiexec exit code %s, expected %d" %
                  (name, None if r1 is None else r1.returncode, expected))
    return r


def softmax_attention(Q, K, V, scale):
    """The textbook formula in float64, written independently of attnbench."""
    S = scale * (Q.astype(np.float64) @ K.astype(np.float64).T)
    S -= S.max(axis=1, keepdims=True)
    A = np.exp(S)
    return (A / A.sum(axis=1, keepdims=True)) @ V.astype(np.float64)


def attr(obj, name):
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else v


def check_archive(name, path, n, d, dv, precision, scale, variant, reps, expect_valid=True, saved=True, nk=None,
                  threads=1, rates=False):
    nk = n if nk is None else nk
    if not chk.check(os.path.isfile(path), "%s: archive %s missing" % (name, path)):
        return None
    chk.check(not os.path.exists(path + ".partial"), "%s: %s.partial left behind" % (name, path))
    with h5py.File(path, "r") as f:
        root = {
            "schema_version": 2, "suite": "attnbench", "kernel": "attention", "algorithm": "exact",
            "variant": variant, "n": n, "d": d, "dv": dv, "ranks": P, "threads_per_rank": threads,
            "precision": precision, "valid": 1 if expect_valid else 0,
        }
        for k, want in root.items():
            chk.check(k in f.attrs, "%s: root attribute %s missing" % (name, k))
            if k in f.attrs:
                chk.check(attr(f, k) == want, "%s: root attribute %s = %r, expected %r" % (name, k, attr(f, k), want))
        if "n_keys" in f.attrs:
            chk.check(int(f.attrs["n_keys"]) == nk, "%s: n_keys %r, expected %d" % (name, f.attrs["n_keys"], nk))
        for k in ("scale", "seed", "created"):
            chk.check(k in f.attrs, "%s: root attribute %s missing" % (name, k))
        if "scale" in f.attrs:
            chk.check(math.isclose(float(f.attrs["scale"]), scale, rel_tol=1e-15),
                      "%s: scale %r, expected %r" % (name, f.attrs["scale"], scale))
        if "created" in f.attrs:
            created = attr(f, "created")
            try:
                datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
                ok = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", created) is not None
            except ValueError:
                ok = False
            chk.check(ok, "%s: created %r is not ISO 8601" % (name, created))
        # /provenance
        prov = ("git_sha", "git_dirty", "build_type", "compiler", "mpi_library", "blas_library", "hdf5_version",
                "hostnames", "slurm_job_id", "command_line")
        chk.check("provenance" in f, "%s: /provenance missing" % name)
        if "provenance" in f:
            g = f["provenance"]
            for k in prov:
                chk.check(k in g.attrs, "%s: /provenance attribute %s missing" % (name, k))
            for k in ("build_type", "compiler", "mpi_library", "blas_library", "hdf5_version", "hostnames",
                      "command_line"):
                if k in g.attrs:
                    chk.check(len(str(attr(g, k))) > 0, "%s: /provenance %s is empty" % (name, k))
            if "slurm_job_id" in g.attrs and "SLURM_JOB_ID" not in os.environ:
                chk.check(attr(g, "slurm_job_id") == "", "%s: slurm_job_id should be empty outside Slurm" % name)
            if "git_sha" in g.attrs:
                sha = attr(g, "git_sha")
                chk.check(re.fullmatch(r"[0-9a-f]{40}", sha) is not None or sha == "unknown",
                          "%s: git_sha %r is neither a commit id nor 'unknown'" % (name, sha))
            if "git_dirty" in g.attrs:
                chk.check(int(g.attrs["git_dirty"]) in (0, 1), "%s: git_dirty %r" % (name, g.attrs["git_dirty"]))
            if "command_line" in g.attrs:
                chk.check("attention" in attr(g, "command_line"), "%s: command_line %r" % (name, attr(g, "command_line")))
        # /timings/<phase>: float64 [reps, ranks] (setup and io once per run)
        chk.check("timings" in f, "%s: /timings missing" % name)
        for phase, rows in (("total", reps), ("compute", reps), ("comm_wait", reps), ("setup", 1), ("io", 1)):
            key = "timings/" + phase
            if not chk.check(key in f, "%s: /%s missing" % (name, key)):
                continue
            ds = f[key]
            chk.check(ds.shape == (rows, P), "%s: /%s shape %s, expected %s" % (name, key, ds.shape, (rows, P)))
            chk.check(ds.dtype == np.float64, "%s: /%s dtype %s" % (name, key, ds.dtype))
            t = ds[()]
            chk.check(np.all(np.isfinite(t)) and np.all(t >= 0), "%s: /%s has negative or non-finite times" % (name, key))
            chk.check(ds.fletcher32, "%s: /%s has no Fletcher32 checksum" % (name, key))
        if all("timings/" + k in f for k in ("total", "compute", "comm_wait")):
            tot, comp, wait = f["timings/total"][()], f["timings/compute"][()], f["timings/comm_wait"][()]
            chk.check(np.all(tot > 0), "%s: a total time is zero" % name)
            chk.check(np.all(comp + wait <= tot * (1 + 1e-9) + 1e-6), "%s: compute + comm_wait exceed total" % name)
        # /metrics
        chk.check("metrics" in f, "%s: /metrics missing" % name)
        if "metrics" in f:
            m = f["metrics"]
            for k in ("flops", "gflops") + (("gemm_gflops", "gemm_fraction") if rates else ()):
                chk.check(k in m.attrs, "%s: /metrics attribute %s missing" % (name, k))
            if not rates:
                chk.check("skipped" in attr(m, "reference_rates") if "reference_rates" in m.attrs else False,
                          "%s: reference rates off, but /metrics reference_rates does not say skipped" % name)
                chk.check("gemm_gflops" not in m.attrs and "gemm_peak_gflops" not in m.attrs,
                          "%s: reference rates off, yet GEMM rates archived" % name)
            if "flops" in m.attrs:
                want = 2.0 * n * nk * (d + dv)  # 4 n^2 d when nk = n and dv = d
                chk.check(math.isclose(float(m.attrs["flops"]), want, rel_tol=1e-12),
                          "%s: flops %r, expected %r" % (name, m.attrs["flops"], want))
            for k in ("gflops", "gemm_gflops", "gemm_fraction"):
                if k in m.attrs:
                    v = float(m.attrs[k])
                    chk.check(math.isfinite(v) and v > 0, "%s: /metrics %s = %r" % (name, k, v))
            if all(k in m.attrs for k in ("gflops", "gemm_gflops", "gemm_fraction")):
                want = float(m.attrs["gflops"]) / (P * threads * float(m.attrs["gemm_gflops"]))
                chk.check(math.isclose(float(m.attrs["gemm_fraction"]), want, rel_tol=1e-9),
                          "%s: gemm_fraction is not gflops / (ranks * threads * gemm_gflops)" % name)
            if chk.check("peak_rss_bytes" in m, "%s: /metrics/peak_rss_bytes missing" % name):
                rss = m["peak_rss_bytes"][()]
                chk.check(rss.shape == (P,), "%s: peak_rss_bytes shape %s" % (name, rss.shape))
                chk.check(np.all(rss > 1 << 20), "%s: peak_rss_bytes %s" % (name, rss))
        # /validation
        chk.check("validation" in f, "%s: /validation missing" % name)
        if "validation" in f:
            v = f["validation"]
            for k in ("rows_checked", "max_abs_error", "rel_error", "tolerance", "valid"):
                chk.check(k in v.attrs, "%s: /validation attribute %s missing" % (name, k))
            if all(k in v.attrs for k in ("rel_error", "tolerance", "valid", "rows_checked")):
                chk.check(int(v.attrs["valid"]) == (1 if expect_valid else 0), "%s: /validation valid = %r" % (name, v.attrs["valid"]))
                rel, tol = float(v.attrs["rel_error"]), float(v.attrs["tolerance"])
                chk.check(not math.isnan(rel), "%s: rel_error is NaN" % name)
                chk.check((rel <= tol) == expect_valid, "%s: rel_error %g vs tolerance %g disagrees with valid" % (name, rel, tol))
                chk.check(0 < int(v.attrs["rows_checked"]) <= n, "%s: rows_checked %r" % (name, v.attrs["rows_checked"]))
                if precision == "double":
                    chk.check(tol == 1e-12, "%s: fp64 tolerance %g, documented 1e-12" % (name, tol))
        # /output/O
        if saved:
            if chk.check("output/O" in f, "%s: /output/O missing with --save-output" % name):
                O = f["output/O"]
                chk.check(O.shape == (n, dv), "%s: /output/O shape %s" % (name, O.shape))
                chk.check(O.dtype == (np.float64 if precision == "double" else np.float32), "%s: /output/O dtype %s" % (name, O.dtype))
                chk.check(O.fletcher32, "%s: /output/O has no Fletcher32 checksum" % name)
                return O[()]
        else:
            chk.check("output" not in f, "%s: /output written without --save-output" % name)
    return None


def compare(name, O, ref, rtol):
    if O is None or O.shape != ref.shape:
        chk.check(False, "%s: no output to compare" % name)
        return
    err = np.max(np.abs(O.astype(np.float64) - ref)) / np.max(np.abs(ref))
    chk.check(err <= rtol, "%s: max |O - O_numpy| / max |O_numpy| = %.3e > %.1e" % (name, err, rtol))
    print("ok   [%s] relative difference to NumPy %.2e (tolerance %.0e)" % (name, err, rtol), flush=True)


def read_qkv(path):
    with h5py.File(path, "r") as f:
        return f["Q"][()], f["K"][()], f["V"][()]


n, d, dv = 50, 8, 5
base = ["--reps", "2", "--warmup", "1", "--quiet"]

# ---- gen, then attention from the file, double -------------------------------------------------
in64 = os.path.join(work, "in64.h5")
r = run("gen double", ["gen", "--n", str(n), "--d", str(d), "--dv", str(dv), "--seed", "3", "--bound", "2", "--out", in64])
chk.check(os.path.isfile(in64) and not os.path.exists(in64 + ".partial"), "gen: %s not written cleanly" % in64)
Q, K, V = read_qkv(in64)
chk.check(Q.shape == (n, d) and K.shape == (n, d) and V.shape == (n, dv) and Q.dtype == np.float64,
          "gen: shapes/dtypes %s %s %s %s" % (Q.shape, K.shape, V.shape, Q.dtype))
chk.check(np.all(np.abs(Q) <= 2) and np.all(np.abs(V) <= 2) and np.std(Q) > 0.5, "gen: entries not uniform in [-2, 2]")
ref_d = softmax_attention(Q, K, V, 1.0 / d)
ref_sqrt = softmax_attention(Q, K, V, 1.0 / math.sqrt(d))

for variant in ("ring", "allgather"):
    out = os.path.join(work, "o64_%s.h5" % variant)
    r = run("attention double %s" % variant, ["attention", "--input", in64, "--variant", variant, "--save-output",
                                             "--validate-rows", "1000"] + base + ["--out", out])
    if r is not None:
        summary = [l for l in r.stdout.splitlines() if l.startswith("attnbench attention")]
        chk.check(len(summary) == 1 and "VALID" in summary[0], "double %s: summary line %r" % (variant, summary))
    O = check_archive("double " + variant, out, n, d, dv, "double", 1.0 / d, variant, 2, rates=variant == "ring")
    compare("double %s, scale 1/d" % variant, O, ref_d, 1e-12)

out = os.path.join(work, "o64_sqrt.h5")
run("attention double 1/sqrt(d)", ["attention", "--input", in64, "--scale", "1/sqrt(d)", "--save-output", "--tile", "7"]
    + base + ["--out", out])
compare("double, scale 1/sqrt(d), tile 7", check_archive("double 1/sqrt(d)", out, n, d, dv, "double", 1 / math.sqrt(d), "ring", 2), ref_sqrt, 1e-12)

out = os.path.join(work, "o64_value.h5")
run("attention double scale 0.3", ["attention", "--input", in64, "--scale", "0.3", "--save-output"] + base + ["--out", out])
compare("double, scale 0.3", check_archive("double scale 0.3", out, n, d, dv, "double", 0.3, "ring", 2),
        softmax_attention(Q, K, V, 0.3), 1e-12)

# Two OpenMP threads per rank over query tiles (the ring drives MPI progress from the main thread).
out = os.path.join(work, "o64_threads.h5")
run("attention double --threads 2", ["attention", "--input", in64, "--threads", "2", "--tile", "4", "--save-output"]
    + base + ["--out", out])
O = check_archive("double --threads 2", out, n, d, dv, "double", 1.0 / d, "ring", 2, threads=2, rates=True)
compare("double, --threads 2, tile 4", O, ref_d, 1e-12)

# Without --save-output there is no /output group.
out = os.path.join(work, "o64_nosave.h5")
run("attention double no output", ["attention", "--input", in64] + base + ["--out", out])
check_archive("double no output", out, n, d, dv, "double", 1.0 / d, "ring", 2, saved=False)

# The synthetic in-memory input is the gen file: same output.
out = os.path.join(work, "o64_synthetic.h5")
run("attention synthetic", ["attention", "--n", str(n), "--d", str(d), "--dv", str(dv), "--seed", "3", "--bound", "2",
                            "--save-output"] + base + ["--out", out])
compare("synthetic input == gen file", check_archive("synthetic", out, n, d, dv, "double", 1.0 / d, "ring", 2), ref_d, 1e-12)

with h5py.File(out, "r") as f:
    chk.check(int(f.attrs["seed"]) == 3 and float(f.attrs["bound"]) == 2.0, "synthetic: seed/bound not recorded")
# The largest seed comes back as itself (not as a negative int64).
out = os.path.join(work, "o_bigseed.h5")
big_seed = 2**64 - 1
run("attention big seed", ["attention", "--n", "8", "--d", "2", "--seed", str(big_seed)] + base + ["--out", out])
if os.path.isfile(out):
    with h5py.File(out, "r") as f:
        chk.check(int(f.attrs["seed"]) == big_seed, "seed %d recorded as %r" % (big_seed, f.attrs["seed"]))

# ---- single precision --------------------------------------------------------------------------
in32 = os.path.join(work, "in32.h5")
run("gen single", ["gen", "--n", str(n), "--d", str(d), "--dv", str(dv), "--seed", "4", "--precision", "single",
                   "--out", in32])
Q32, K32, V32 = read_qkv(in32)
chk.check(Q32.dtype == np.float32, "gen single: dtype %s" % Q32.dtype)
ref32 = softmax_attention(Q32, K32, V32, 1.0 / d)
out = os.path.join(work, "o32.h5")
run("attention single", ["attention", "--input", in32, "--precision", "single", "--save-output"] + base + ["--out", out])
compare("single", check_archive("single", out, n, d, dv, "single", 1.0 / d, "ring", 2, rates=True), ref32, 2e-6)
# A float32 file computed in double: widened exactly on read.
out = os.path.join(work, "o32_as64.h5")
run("attention float32 file in double", ["attention", "--input", in32, "--save-output"] + base + ["--out", out])
compare("float32 file, --precision double", check_archive("float32 file in double", out, n, d, dv, "double", 1.0 / d, "ring", 2), ref32, 1e-12)

# ---- small and unusual shapes: p > n (ranks without rows), cross-attention nq != nk -----------------
for (nq, nk, dd, ddv) in ((2, 2, 3, 3), (7, 20, 3, 2), (20, 7, 4, 1)):
    rng = np.random.default_rng(nq * 100 + nk)
    path = os.path.join(work, "shape_%d_%d.h5" % (nq, nk))
    with h5py.File(path, "w") as f:
        f["Q"] = rng.uniform(-1, 1, (nq, dd))
        f["K"] = rng.uniform(-1, 1, (nk, dd))
        f["V"] = rng.uniform(-1, 1, (nk, ddv))
    Qs, Ks, Vs = read_qkv(path)
    for variant in ("ring", "allgather"):
        out = os.path.join(work, "o_shape_%d_%d_%s.h5" % (nq, nk, variant))
        label = "nq=%d nk=%d d=%d dv=%d %s" % (nq, nk, dd, ddv, variant)
        run(label, ["attention", "--input", path, "--variant", variant, "--save-output", "--tile", "3"] + base +
            ["--out", out])
        compare(label, check_archive(label, out, nq, dd, ddv, "double", 1.0 / dd, variant, 2, nk=nk),
                softmax_attention(Qs, Ks, Vs, 1.0 / dd), 1e-12)

# ---- gen refuses to overwrite, and --overwrite replaces --------------------------------------------
before = open(in64, "rb").read()
r = run("gen existing --out", ["gen", "--n", "4", "--d", "2", "--out", in64], expected=codes["usage"])
chk.check(open(in64, "rb").read() == before, "gen: an existing --out was modified without --overwrite")
out = os.path.join(work, "o64_ring.h5")
r = run("attention --overwrite", ["attention", "--input", in64, "--overwrite", "--scale", "0.5"] + base + ["--out", out])
with h5py.File(out, "r") as f:
    chk.check(float(f.attrs["scale"]) == 0.5 and "output" not in f, "--overwrite did not replace the archive")
chk.check(not os.path.exists(out + ".partial"), "--overwrite left a .partial")

# ---- an INVALID run: exit code 4 on every rank, archive written with valid = 0 ---------------------
# An honest INVALID from the CLI on every CPU: every entry of V is 1e308, so each output row (a
# weighted sum of 48 such rows before the division by the row sum) overflows to Inf in fp64, and a
# non-finite output is never valid (README, "Non-finite is never valid"). A case that relied on
# rounding instead (scores near 1e8 whose kernel and reference rounding differ) was CPU-dependent:
# with OpenBLAS's SkylakeX kernels both evaluations rounded alike and the run was VALID.
rng = np.random.default_rng(0)
ill = os.path.join(work, "ill.h5")
with h5py.File(ill, "w") as f:
    f["Q"] = rng.uniform(-1, 1, (48, 16))
    f["K"] = rng.uniform(-1, 1, (48, 16))
    f["V"] = np.full((48, 16), 1e308)
out = os.path.join(work, "invalid.h5")
invalid_argv = ["attention", "--input", ill, "--save-output", "--reps", "1", "--warmup", "0", "--quiet", "--out"]
r = run("invalid run", invalid_argv + [out], expected=codes["invalid"], rerun_argv=invalid_argv + [out + ".again.h5"])
if r is not None:
    summary = [l for l in r.stdout.splitlines() if l.startswith("attnbench attention")]
    chk.check(len(summary) == 1 and "INVALID" in summary[0], "invalid run: summary line %r" % summary)
check_archive("invalid run", out, 48, 16, 16, "double", 1.0 / 16, "ring", 1, expect_valid=False)
check_archive("invalid run (default mpiexec)", out + ".again.h5", 48, 16, 16, "double", 1.0 / 16, "ring", 1, expect_valid=False)

chk.finish()
