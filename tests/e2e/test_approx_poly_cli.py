#!/usr/bin/python3
"""End-to-end: `attnbench attention --algo poly` through mpiexec, the archive read back with h5py,
and the usage-error paths of the approximate algorithms (exit 2 on every rank, nothing written).
Run by ctest as approx_poly_cli.np<N> with /usr/bin/python3 (Debian's python3-h5py)."""
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

import h5py  # noqa: E402

args = e2e_util.parse_args(__doc__)
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
rcdir = os.path.join(args.workdir, "rc")
codes = e2e_util.documented_exit_codes(args)
c = e2e_util.Checker("approx_poly_cli.np%d" % args.np)


def run(argv):
    r = e2e_util.launch(args, args.np, argv, rcdir, args.timeout)
    c.check(r is not None, "timed out: %s" % " ".join(argv))
    if r is not None:
        # After a non-zero exit mpiexec may kill the slower ranks before they record their code, so
        # only a successful run must have every rank's code; recorded codes must always agree.
        # A killed rank may also leave an empty record (read as -1): not a disagreement.
        recorded = {k: v for k, v in r.rank_codes.items() if v >= 0 or r.returncode == 0}
        c.check(len(set(recorded.values())) == 1 and (r.returncode != 0 or len(recorded) == args.np),
                "ranks disagree on the exit code: %s for %s" % (r.rank_codes, " ".join(argv)))
    return r


def binomial(n, k):
    return math.comb(n, k)


# 1. The brief's command: certified poly run, full errors, archive checked field by field.
out = os.path.join(args.workdir, "poly.h5")
r = run(["attention", "--algo", "poly", "--n", "4096", "--d", "8", "--bound", "0.5", "--tolerance", "1e-6",
         "--out", out, "--quiet"])
if r and c.check(r.returncode == 0, "poly run failed (%s): %s" % (r.returncode, r.stderr)):
    with h5py.File(out, "r") as f:
        a, p, v = f["/"].attrs, f["/parameters"].attrs, f["/validation"].attrs
        c.check(a["algorithm"] == "poly" and a["valid"] == 1, "root attributes: %s" % dict(a))
        g, rank = int(p["degree"]), int(p["rank"])
        c.check(rank == binomial(8 + g, g), "rank %d != C(8+%d, %d)" % (rank, g, g))
        c.check(0 < p["eps_P"] <= 1e-6, "eps_P %g not within the tolerance" % p["eps_P"])
        R = 0.125 * p["max_q_norm"] * p["max_k_norm"]
        c.check(abs(p["R"] - R) <= 1e-12 * R and p["R"] <= 0.125 * 8 * 0.25 + 1e-12, "R = %g" % p["R"])
        bound = 2 * p["eps_P"] / (1 - p["eps_P"]) * p["max_abs_v"]
        c.check(abs(p["certified_bound"] - bound) <= 1e-12 * bound, "certified bound %g vs %g" % (p["certified_bound"], bound))
        c.check(p["basis"] == "taylor" and p["error_mode"] == "full", "basis/error_mode: %s" % dict(p))
        for k in ("max_abs_error", "rel_error", "rel_frobenius_error", "rel_spectral_error"):
            c.check(k in v and math.isfinite(v[k]) and v[k] >= 0, "/validation %s missing or not finite" % k)
        c.check(v["max_abs_error"] <= p["certified_bound"], "measured %g > certified %g" % (v["max_abs_error"], p["certified_bound"]))
        c.check(v["rows_checked"] == 4096 and v["valid"] == 1, "validation: %s" % dict(v))
        c.check(f["/timings/total"].shape == (3, args.np), "timings/total shape %s" % (f["/timings/total"].shape,))

# 2. Chebyshev with sampled errors, single precision, --degree given.
out2 = os.path.join(args.workdir, "cheb.h5")
r = run(["attention", "--algo", "poly", "--poly-basis", "chebyshev", "--degree", "4", "--n", "1000", "--d", "4",
         "--precision", "single", "--error", "sampled", "--validate-rows", "32", "--reps", "1", "--out", out2, "--quiet"])
if r and c.check(r.returncode == 0, "chebyshev run failed (%s): %s" % (r.returncode, r.stderr)):
    with h5py.File(out2, "r") as f:
        p, v = f["/parameters"].attrs, f["/validation"].attrs
        c.check(int(p["degree"]) == 4 and int(p["rank"]) == binomial(8, 4), "degree/rank: %s" % dict(p))
        c.check(p["error_mode"] == "sampled" and v["rows_checked"] == 32, "sampled mode: %s" % dict(v))
        c.check("rel_spectral_error" not in v, "spectral error must be absent (not measured) when sampled")
        c.check(v["max_abs_error"] <= v["tolerance"] and v["valid"] == 1, "validation: %s" % dict(v))

# 3. Bad parameters (usage error) and impossible ranks (does-not-fit, exit 6) on every rank, no archive,
# no .partial.
bad = [
    (["--algo", "poly", "--degree", "-1"], "--degree"),
    (["--algo", "poly", "--tolerance", "0"], "--tolerance"),
    (["--algo", "poly", "--bound", "3", "--tolerance", "1e-6", "--memory-budget", "256MiB"], "largest degree that fits",
     6),
    (["--algo", "poly", "--bound", "40"], "too large for the polynomial method"),
    (["--algo", "poly", "--samples", "3"], "--samples applies to"),
    (["--algo", "exact", "--tolerance", "1e-3"], "--tolerance applies to"),
]
algos = e2e_util.subprocess.run([args.mpiexec, "-n", "1", args.attnbench, "attention", "--help"], text=True,
                                stdout=e2e_util.subprocess.PIPE, env=e2e_util.mpi_env()).stdout
if "kde" in algos:
    bad += [(["--algo", "kde", "--samples", "-1"], "--samples"), (["--algo", "kde", "--bucket-size", "5000"], "bucket")]
if "performer" in algos:
    bad += [(["--algo", "performer", "--features", "0"], "--features")]
for extra, words, *code in bad:
    want = code[0] if code else codes["usage"]
    target = os.path.join(args.workdir, "bad.h5")
    r = run(["attention", "--n", "1024", "--d", "8", "--out", target, "--quiet"] + extra)
    if r is None:
        continue
    c.check(r.returncode == want, "%s: exit %s, expected %d" % (extra, r.returncode, want))
    c.check(words in r.stderr, "%s: message lacks '%s': %s" % (extra, words, r.stderr.strip()))
    c.check(r.stderr.count("attnbench: error:") == 1, "%s: error printed %d times" % (extra, r.stderr.count("attnbench: error:")))
    c.check(not os.path.exists(target) and not os.path.exists(target + ".partial"), "%s: something was written" % extra)

c.finish()
