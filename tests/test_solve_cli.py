#!/usr/bin/python3
"""End-to-end tests of `attnbench solve` through the command line and the archive:

- Solutions against NumPy: an SPD system (cholesky) and a non-symmetric one (lu) written with h5py
  as /A, /B (float64 and float32), run with --input --save-output; /output/X is compared with
  numpy.linalg.solve, the archive's scaled residual recomputed with NumPy, valid = 1, exit 0.
- The synthetic problem gives the same X whatever the grid (1 rank vs np ranks, two grid shapes).
- Bad inputs: each ends with the documented exit code on every rank, one error line naming the
  file, dataset, option or leading minor, and no archive left behind: an indefinite matrix
  (cholesky), a singular one (lu), missing file, missing /B, non-square /A, /B rows != N, NaN in
  /A, --grid that does not match the ranks, --block 0, --condition 1.

Usage: test_solve_cli.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR
"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("solve cli np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
QUICK = ["--reps", "1", "--warmup", "0", "--quiet"]
rng = np.random.default_rng(3)


def h5(name, datasets):
    path = os.path.join(work, name)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


def run(name, argv, np_=None):
    return e2e_util.launch(args, np_ or args.np, ["solve"] + argv, os.path.join(work, "rc", name), args.timeout)


def solve_case(name, A, B, algo, dtype, tol):
    path = h5(name + ".h5", {"A": A.astype(dtype), "B": B.astype(dtype)})
    out = os.path.join(work, name + "-run.h5")
    prec = "single" if dtype == np.float32 else "double"
    r = run(name, ["--input", path, "--algo", algo, "--precision", prec, "--block", "5", "--save-output",
                   "--out", out] + QUICK)
    if not chk.check(r is not None and r.returncode == 0, "%s: exit %s\n%s" % (name, r and r.returncode, r and r.stderr)):
        return
    A64, B64 = A.astype(dtype).astype(np.float64), B.astype(dtype).astype(np.float64)
    X_ref = np.linalg.solve(A64, B64)
    with h5py.File(out, "r") as f:
        X = f["output/X"][...].astype(np.float64)
        valid = int(f.attrs["valid"])
        scaled = float(f["validation"].attrs["scaled_residual"])
        n_attr = int(f.attrs["n"])
    err = np.abs(X - X_ref).max() / np.abs(X_ref).max()
    chk.check(X.shape == B.shape, "%s: X has shape %s, expected %s" % (name, X.shape, B.shape))
    chk.check(err < tol, "%s: max relative error vs NumPy %.3g >= %.3g" % (name, err, tol))
    chk.check(valid == 1 and n_attr == A.shape[0], "%s: valid=%d n=%d" % (name, valid, n_attr))
    eps = np.finfo(dtype).eps
    mine = np.abs(A64 @ X - B64).sum(axis=1).max() / (np.abs(A64).sum(axis=1).max() * np.abs(X).sum(axis=1).max() * A.shape[0] * eps)
    chk.check(scaled < 16 and abs(scaled - mine) <= 0.5 * max(mine, scaled) + 1e-3,
              "%s: archived scaled residual %.3g, NumPy's %.3g" % (name, scaled, mine))
    print("ok   [%s] rel err vs NumPy %.2e, scaled residual %.2e (NumPy %.2e)" % (name, err, scaled, mine), flush=True)


N = 23
G = rng.uniform(-1, 1, (N, N))
SPD = G @ G.T / N + 0.1 * np.eye(N)
GEN = rng.uniform(-1, 1, (N, N)) + 3 * np.eye(N)
B = rng.uniform(-1, 1, (N, 3))
solve_case("cholesky-f64", SPD, B, "cholesky", np.float64, 1e-10)
solve_case("lu-f64", GEN, B, "lu", np.float64, 1e-12)
solve_case("cholesky-f32", SPD, B, "cholesky", np.float32, 1e-3)

# Synthetic: the same X on 1 rank and on np ranks (two grid shapes when np > 1).
def synthetic_x(name, np_, grid):
    out = os.path.join(work, name + ".h5")
    argv = ["--n", "37", "--nrhs", "2", "--block", "4", "--save-output", "--out", out] + QUICK
    if grid:
        argv += ["--grid", grid]
    r = run(name, argv, np_)
    if not chk.check(r is not None and r.returncode == 0, "%s: exit %s %s" % (name, r and r.returncode, r and r.stderr)):
        return None
    with h5py.File(out, "r") as f:
        return f["output/X"][...]

X1 = synthetic_x("synthetic-1", 1, None)
shapes = ["1x%d" % args.np, "%dx1" % args.np] if args.np > 1 else ["1x1"]
for s in shapes:
    Xp = synthetic_x("synthetic-%s" % s, args.np, s)
    if X1 is not None and Xp is not None:
        d = np.abs(X1 - Xp).max() / np.abs(X1).max()
        chk.check(d < 1e-10, "synthetic X on grid %s differs from 1 rank by %.3g" % (s, d))
        print("ok   [synthetic grid %s] same X as on 1 rank (rel diff %.1e)" % (s, d), flush=True)


# ---- bad inputs: exit code on every rank, one message, nothing written ------------------------------
def bad(name, argv, expected, needles):
    out = os.path.join(work, "bad-" + name + ".h5")
    r = e2e_util.launch(args, args.np, ["solve"] + argv + ["--out", out] + QUICK, os.path.join(work, "rc", name),
                        args.timeout, all_ranks_finish=True)
    if not chk.check(r is not None, "%s: hang (no result within %.0f s)" % (name, args.timeout)):
        return
    detail = "\n  stderr: %s" % r.stderr.strip()[:1500]
    ok = chk.check(set(r.rank_codes.values()) == {expected} and len(r.rank_codes) == args.np,
                   "%s: per-rank exit codes %s, expected %d on every rank%s" % (name, r.rank_codes, expected, detail))
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    ok &= chk.check(len(errors) == 1, "%s: %d error lines, expected 1%s" % (name, len(errors), detail))
    for n_ in needles:
        ok &= chk.check(any(n_ in l for l in errors), "%s: error does not name '%s'%s" % (name, n_, detail))
    ok &= chk.check(not os.path.exists(out) and not os.path.exists(out + ".partial"), "%s: archive left behind" % name)
    if ok:
        print("ok   [%s] exit %d on every rank: %s" % (name, expected, errors[0]), flush=True)


INDEF = SPD.copy()
INDEF[6, 6] = -5.0  # leading minor of order 7 is the first that is not positive
p = h5("indefinite.h5", {"A": INDEF, "B": B})
bad("indefinite", ["--input", p, "--block", "2"], 3, ["not positive definite", "leading minor of order 7"])
SING = GEN.copy()
SING[:, 4] = 0.0
p = h5("singular.h5", {"A": SING, "B": B})
bad("singular-lu", ["--input", p, "--algo", "lu", "--block", "2"], 3, ["singular"])
missing = os.path.join(work, "nope.h5")
bad("missing-file", ["--input", missing], 3, [missing])
p = h5("no_b.h5", {"A": SPD})
bad("missing-B", ["--input", p], 3, [p, "/B"])
p = h5("rect.h5", {"A": SPD[:, :-1], "B": B})
bad("non-square-A", ["--input", p], 3, [p, "/A"])
p = h5("rows.h5", {"A": SPD, "B": B[:-2]})
bad("B-rows", ["--input", p], 3, [p, "/B"])
NAN = SPD.copy()
NAN[N - 1, 2] = np.nan
p = h5("nan.h5", {"A": NAN, "B": B})
bad("NaN-in-A", ["--input", p], 3, [p, "/A", "row %d" % (N - 1)])
bad("grid-mismatch", ["--n", "50", "--grid", "%dx2" % (args.np + 1)], 2, ["--grid"])
bad("block-0", ["--n", "50", "--block", "0"], 2, ["--block"])
bad("condition-1", ["--n", "50", "--condition", "1"], 2, ["--condition"])

chk.finish()
