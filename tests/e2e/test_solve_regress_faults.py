#!/usr/bin/python3
"""End-to-end fault tests of `attnbench solve` and `attnbench regress` through the command line: each case ends
with the documented exit code on every rank, one message (printed once) naming what is wrong, and
no archive nor temporary left behind; runs that succeed are checked against NumPy.

  *   solve --algo cholesky on an /A whose upper triangle differs from its lower one: exit 3 naming
      the asymmetry and --algo lu; a rounding-level asymmetry is accepted and the archived residual
      is that of the matrix given (recomputed with NumPy); --algo lu solves the asymmetric one.
  *   A, B scaled by 2^1020 (|A|_inf |X|_inf N overflows a double): the archived scaled residual is
      the one NumPy computes on scaled copies, not 0; a_norm is finite and rcond near NumPy's.
  *   solve --condition 1e300: exit 2 naming --condition and its range. LU on a numerically singular
      A: rcond below eps in /validation and one warning on stderr. regress --grid / --block with the
      replicated solver: exit 2 naming the option (a grid that does not match the ranks is
      test_regress_cli.py's "bad grid").
  *   solve --n 1000000 (exit 6), a declared 2^22 x 2^22 input (exit 3), regress --n 2^40 within a
      1e18-byte budget (exit 6): refused before allocating, naming the bytes and the node's memory.

Usage: test_solve_regress_faults.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR [--timeout S]
"""
import concurrent.futures
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("solve/regress faults np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
inputs = os.path.join(work, "inputs")
os.makedirs(inputs)
QUICK = ["--reps", "1", "--warmup", "0", "--quiet"]
CRASH_MARKS = ("Segmentation fault", "Signal:", "internal error", "MPI_ABORT", "HDF5-DIAG", "terminate called",
               "Traceback", "bad_alloc")
rng = np.random.default_rng(21)
N = 12


def h5(name, datasets):
    path = os.path.join(inputs, name)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def launch(label, argv):
    """Every rank runs to its own end (each rank's exit code recorded); None on a hang."""
    r = e2e_util.launch(args, args.np, argv, os.path.join(work, "rc", label.replace(" ", "_")), args.timeout,
                        all_ranks_finish=True)
    chk.check(r is not None, "%s: no result within %.0f s (hang)" % (label, args.timeout))
    return r


def detail(r, argv):
    return "\n  argv: %s\n  rank codes: %s\n  stderr: %s" % (" ".join(argv), r.rank_codes, r.stderr.strip()[-2000:])


def common_checks(label, r, argv, code):
    ok = chk.check(len(r.rank_codes) == args.np and set(r.rank_codes.values()) == {code},
                   "%s: exit codes %s, expected %d on each of %d ranks%s" % (label, r.rank_codes, code, args.np,
                                                                            detail(r, argv)))
    for bad in CRASH_MARKS:
        ok &= chk.check(bad not in r.stderr, "%s: stderr contains '%s'%s" % (label, bad, detail(r, argv)))
    return ok


def expect_error(label, argv, code, needles):
    """Exit `code` on every rank, one error line naming every needle, nothing left in the output's
    directory (neither the archive nor a .partial)."""
    d = os.path.join(work, label.replace(" ", "_"))
    os.makedirs(d)
    argv = argv + QUICK + ["--out", os.path.join(d, "run.h5")]
    r = launch(label, argv)
    if r is None:
        return
    ok = common_checks(label, r, argv, code)
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    ok &= chk.check(len(errors) == 1, "%s: %d error lines, expected 1%s" % (label, len(errors), detail(r, argv)))
    for needle in needles:
        ok &= chk.check(any(needle in l for l in errors), "%s: the error does not name '%s'%s" % (label, needle,
                                                                                                  detail(r, argv)))
    ok &= chk.check(os.listdir(d) == [], "%s: left behind in the output directory: %s" % (label, os.listdir(d)))
    if ok:
        print("ok   [%s] exit %d on every rank: %s" % (label, code, errors[0][:200]), flush=True)


def expect_run(label, argv):
    """Exit 0 on every rank and a whole archive; returns (archive path, Result) or None."""
    out = os.path.join(work, label.replace(" ", "_") + ".h5")
    argv = argv + QUICK + ["--save-output", "--out", out]
    r = launch(label, argv)
    if r is None or not common_checks(label, r, argv, 0):
        return None
    if not chk.check(os.path.isfile(out), "%s: no archive %s" % (label, out)):
        return None
    return out, r


def hpl_scaled(A, X, B, eps):
    """|A X - B|_inf / (|A|_inf |X|_inf N eps) in NumPy, on copies scaled by powers of two (exact)
    so that nothing overflows; returns (scaled residual, |A|_inf)."""
    ea = np.frexp(np.abs(A).max())[1]
    ex = np.frexp(np.abs(X).max())[1]
    As, Xs, Bs = np.ldexp(A, -ea), np.ldexp(X, -ex), np.ldexp(B, -(ea + ex))
    inf = lambda M: np.abs(M).sum(axis=1).max()  # noqa: E731
    return inf(As @ Xs - Bs) / (inf(As) * inf(Xs) * A.shape[0] * eps), np.ldexp(inf(As), ea)


G = rng.uniform(-1, 1, (N, N))
SPD = G @ G.T / N + 0.1 * np.eye(N)
GEN = rng.uniform(-1, 1, (N, N)) + 3 * np.eye(N)
B = rng.uniform(-1, 1, (N, 2))
EPS = np.finfo(np.float64).eps


# ---- an asymmetric /A for cholesky ----------------------------------------------------------------
def asymmetric():
    ASY = SPD.copy()
    ASY[np.triu_indices(N, 1)] += rng.uniform(0.5, 1.0, N * (N - 1) // 2)  # far from rounding: ~0.8
    path = h5("asymmetric.h5", {"A": ASY, "B": B})
    expect_error("cholesky asymmetric A", ["solve", "--input", path, "--block", "4"], 3,
                 [path, "/A is not symmetric", "max|A - A^T| / max|A| =", "--algo lu"])
    # --algo lu solves the matrix as it is: X against NumPy.
    res = expect_run("lu asymmetric A", ["solve", "--input", path, "--algo", "lu", "--block", "4"])
    if res:
        with h5py.File(res[0], "r") as f:
            X = f["output/X"][...]
        err = np.abs(X - np.linalg.solve(ASY, B)).max() / np.abs(X).max()
        if chk.check(err < 1e-12, "lu asymmetric A: X is %.2g off numpy.linalg.solve" % err):
            print("ok   [lu asymmetric A] X within %.1e of NumPy" % err, flush=True)
    # An asymmetry just inside the rounding bound: every upper entry 0.9 * 2 N eps max|A| above its
    # lower one, X positive. Accepted, and the archived residual is that of the matrix given: the
    # upper triangle's excess makes |A X - B| about ten times the rounding noise, which a residual
    # against the lower triangle alone (what cholesky factors) would not show.
    RND = SPD.copy()
    RND[np.triu_indices(N, 1)] += 0.9 * 2 * N * EPS * np.abs(SPD).max()
    Bp = SPD @ rng.uniform(1, 2, (N, 2))
    path = h5("rounding.h5", {"A": RND, "B": Bp})
    res = expect_run("cholesky asymmetry within rounding", ["solve", "--input", path, "--block", "4"])
    if res:
        with h5py.File(res[0], "r") as f:
            X = f["output/X"][...]
            scaled = float(f["validation"].attrs["scaled_residual"])
            asym = float(f["parameters"].attrs["input_asymmetry"])
            valid = int(f.attrs["valid"])
        given, _ = hpl_scaled(RND, X, Bp, EPS)
        lower, _ = hpl_scaled(np.tril(RND) + np.tril(RND, -1).T, X, Bp, EPS)
        ok = chk.check(valid == 1 and 0 < asym <= 2 * N * EPS, "within rounding: valid=%d asymmetry %.3g" % (valid, asym))
        ok &= chk.check(given > 4 * lower, "within rounding: test data too weak (given %.3g, lower %.3g)" % (given, lower))
        ok &= chk.check(given / 1.5 < scaled < 1.5 * given,
                        "within rounding: archived scaled residual %.4g, NumPy's against the given A %.4g (against "
                        "its lower triangle %.4g)" % (scaled, given, lower))
        if ok:
            print("ok   [cholesky asymmetry within rounding] accepted (%.1e), residual %.3g (NumPy: given A %.3g, "
                  "lower triangle %.3g)" % (asym, scaled, given, lower), flush=True)


# ---- the scaled residual near the top of the exponent range ----------------------------------
def huge_values():
    for algo, A in (("lu", GEN),):
        label = "%s A, B x 2^1020" % algo
        s = 2.0 ** 1020
        path = h5("huge-%s.h5" % algo, {"A": A * s, "B": B * s})
        res = expect_run(label, ["solve", "--input", path, "--algo", algo, "--block", "4"])
        if not res:
            continue
        with h5py.File(res[0], "r") as f:
            X = f["output/X"][...]
            v = f["validation"].attrs
            scaled, a_norm, rcond = float(v["scaled_residual"]), float(v["a_norm"]), float(v.get("rcond", -1))
            valid = int(f.attrs["valid"])
        mine, a_mine = hpl_scaled(A * s, X, B * s, EPS)
        # The test data must exercise the overflow: the old denominator |A|_inf |X|_inf N is Inf.
        with np.errstate(over="ignore"):
            ok = chk.check(not np.isfinite(a_mine * np.abs(X).sum(axis=1).max() * N),
                           "%s: test data does not overflow |A| |X| N" % label)
        # (Both are rounding noise of the same size; their summation orders differ: a factor 4.)
        ok &= chk.check(0 < scaled < 16 and mine / 4 < scaled < 4 * mine,
                        "%s: archived scaled residual %.4g, NumPy's %.4g (0 means the denominator overflowed)" %
                        (label, scaled, mine))
        ok &= chk.check(np.isfinite(a_norm) and abs(a_norm - a_mine) <= 1e-12 * a_mine,
                        "%s: archived a_norm %r, NumPy's %r" % (label, a_norm, a_mine))
        cond = np.linalg.cond(A, 1)
        ok &= chk.check(valid == 1 and 1 / (3 * cond) < rcond <= N / cond,
                        "%s: valid=%d rcond %r, NumPy 1/cond_1 %.3g" % (label, valid, rcond, 1 / cond))
        if ok:
            print("ok   [%s] scaled residual %.3g (NumPy %.3g), a_norm %.4g, rcond %.3g (NumPy %.3g)" %
                  (label, scaled, mine, a_norm, rcond, 1 / cond), flush=True)


# ---- the condition: requested beyond the precision, estimated from the factor ----------------
def condition():
    expect_error("solve condition 1e300", ["solve", "--n", "64", "--block", "8", "--condition", "1e300"], 2,
                 ["--condition", "1 < condition <=", "N = 64", "double"])
    S = GEN.copy()
    S[:, 4] = S[:, 3] * 1.25 + S[:, 2] * 0.75  # dependent in real arithmetic, not exactly in float64
    path = h5("numerically-singular.h5", {"A": S, "B": B})
    res = expect_run("lu numerically singular", ["solve", "--input", path, "--algo", "lu", "--block", "4"])
    if res:
        with h5py.File(res[0], "r") as f:
            rcond = float(f["validation"].attrs.get("rcond", -1))
            note = f["validation"].attrs.get("condition_warning", "")
        warnings = [l for l in res[1].stderr.splitlines() if "attnbench: warning" in l]
        ok = chk.check(0 <= rcond < EPS, "numerically singular: rcond %r, expected below eps %.3g" % (rcond, EPS))
        ok &= chk.check(len(warnings) == 1 and "condition number" in warnings[0] and "1/eps" in warnings[0],
                        "numerically singular: warnings %s, expected one naming the condition number" % warnings)
        ok &= chk.check(len(note) > 0, "numerically singular: no condition_warning in /validation")
        if ok:
            print("ok   [lu numerically singular] rcond %.2g, warned once: %s" % (rcond, warnings[0][:160]), flush=True)


def regress_options():
    base = ["regress", "--n", "32", "--d", "2"]
    expect_error("regress grid without scalapack", base + ["--grid", "3x1"], 2, ["--grid 3x1", "--solver scalapack"])
    expect_error("regress block without scalapack", base + ["--block", "8"], 2, ["--block 8", "--solver scalapack"])


# ---- sizes beyond the node -------------------------------------------------------------------------
def sizes():
    expect_error("solve n 1e6", ["solve", "--n", "1000000"], 6, ["solve --n 1000000", "needs", "the node has"])
    path = os.path.join(inputs, "declared-2^22.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("A", shape=(2 ** 22, 2 ** 22), dtype="f8", chunks=(1024, 1024))  # nothing written
        f.create_dataset("B", shape=(2 ** 22, 1), dtype="f8", chunks=(1024, 1))
    expect_error("solve declared 2^22 input", ["solve", "--input", path], 3, [path, "/A", "needs", "the node has"])
    expect_error("regress n 2^40", ["regress", "--n", str(2 ** 40), "--memory-budget", "1e18"], 6,
                 ["regress --n 1099511627776", "needs", "the node has"])


def section(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a failure of the test itself is a failure of its group
        chk.check(False, "%s raised %s: %s" % (fn.__name__, type(e).__name__, e))


with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    for f in [pool.submit(section, fn) for fn in (asymmetric, huge_values, condition, regress_options, sizes)]:
        f.result()
chk.finish()
