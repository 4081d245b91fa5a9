#!/usr/bin/python3
"""End-to-end tests of `attnbench regress` through mpiexec at --np ranks:

1. An input file made here with NumPy (a planted instance: B = softmax(s A1 X* A2^T) A3 Y*, start
   /X0, /Y0 near X*, Y*): the run is VALID (exit 0), the archive has the documented keys, and an
   independent NumPy computation finds the loss at /output/X, /output/Y at rounding level, its
   gradient ~0 and the output at X*, Y*.
2. A run that does not converge within --max-iter: exit 4 on every rank, archive with valid = 0.
3. Bad inputs: every case ends with its documented code identical on every rank, one error
   message naming the option, file or dataset, and nothing written.

Usage: test_regress_cli.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR [--timeout S]
"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("regress cli np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
QUICK = ["--reps", "1", "--warmup", "0", "--quiet"]


def softmax_rows(S):
    S = S - S.max(axis=1, keepdims=True)
    E = np.exp(S)
    return E / E.sum(axis=1, keepdims=True)


def loss_and_grad(A1, A2, A3, B, X, Y, s):
    """The loss and both gradients, written independently from ALGORITHMS.md section 5."""
    F = softmax_rows(s * A1 @ X @ A2.T)
    H = A3 @ Y
    C = F @ H - B
    q = C @ H.T
    P = F * q - (F * q).sum(axis=1, keepdims=True) * F
    return 0.5 * np.sum(C * C), s * A1.T @ P @ A2, (F @ A3).T @ C


def h5(name, datasets):
    path = os.path.join(work, name)
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


# ---- a planted instance made by NumPy ----------------------------------------------------------------
n, d, s = 37, 3, 1.0  # 37 rows: not divisible by 2, 3 or 4
rng = np.random.default_rng(7)
A1, A2, A3 = (rng.uniform(-1, 1, (n, d)) for _ in range(3))
Xs = rng.uniform(-1, 1, (d, d)) * 8.0 / d
Ys = rng.uniform(-1, 1, (d, d))
B = softmax_rows(s * A1 @ Xs @ A2.T) @ A3 @ Ys
X0 = Xs + 1e-3 * rng.uniform(-1, 1, (d, d))
Y0 = Ys + 1e-3 * rng.uniform(-1, 1, (d, d))
good = h5("good.h5", {"A1": A1, "A2": A2, "A3": A3, "B": B, "X0": X0, "Y0": Y0})

out = os.path.join(work, "good-run.h5")
r = e2e_util.launch(args, args.np, ["regress", "--input", good, "--out", out, "--tolerance", "1e-9"] + QUICK,
                    os.path.join(work, "rc-good"), args.timeout)
if chk.check(r is not None, "good run: no result within the timeout"):
    chk.check(r.returncode == 0, "good run: exit %d, expected 0\n%s" % (r.returncode, r.stderr[-2000:]))
    chk.check(os.path.isfile(out), "good run: no archive")
if os.path.isfile(out):
    with h5py.File(out, "r") as f:
        for key in ("n", "d", "unknowns", "scale", "iterations", "converged", "valid"):
            chk.check(key in f.attrs, "archive: root attribute %s missing" % key)
        chk.check(f.attrs.get("kernel") == "regress", "archive: kernel is %r" % f.attrs.get("kernel"))
        chk.check(int(f.attrs.get("n", -1)) == n and int(f.attrs.get("d", -1)) == d, "archive: n, d wrong")
        chk.check(int(f.attrs.get("valid", 0)) == 1, "archive: valid is not 1")
        v = f["validation"].attrs
        for key in ("converged", "grad_check_error", "hessian_symmetry_error", "rel_grad_norm"):
            chk.check(key in v, "archive: /validation %s missing" % key)
        chk.check(float(v.get("grad_check_error", 1.0)) <= 1e-6, "grad_check_error %r > 1e-6" % v.get("grad_check_error"))
        chk.check("x_rel_error" not in v, "x_rel_error reported for a file input (nothing planted is known)")
        iters = int(f.attrs.get("iterations", -1))
        for h in ("loss", "grad_norm", "step_norm", "lambda", "accepted", "cholesky_info", "t_forward", "t_gradient",
                  "t_hessian", "t_reduce", "t_solve"):
            ok = ("history/" + h) in f
            chk.check(ok, "archive: /history/%s missing" % h)
            if ok:
                chk.check(f["history/" + h].shape[0] == iters + 1, "/history/%s has %d rows, expected %d" %
                          (h, f["history/" + h].shape[0], iters + 1))
        X = f["output/X"][...]
        Y = f["output/Y"][...]
        L, gX, gY = loss_and_grad(A1, A2, A3, B, X, Y, s)
        L0, gX0, gY0 = loss_and_grad(A1, A2, A3, B, X0, Y0, s)
        g0 = np.sqrt(np.sum(gX0 ** 2) + np.sum(gY0 ** 2))
        gn = np.sqrt(np.sum(gX ** 2) + np.sum(gY ** 2))
        chk.check(all(f["history/" + h].ndim == 1 for h in f["history"]), "/history: every column 1-D")
        chk.check(abs(f["history/loss"][0] - L0) <= 1e-12 * L0, "history loss[0] %r vs NumPy %r" % (f["history/loss"][0], L0))
        chk.check(L <= 1e-20 * L0, "NumPy loss at the output %.3e (start %.3e)" % (L, L0))
        chk.check(gn <= 1e-8 * g0, "NumPy gradient norm at the output %.3e (start %.3e)" % (gn, g0))
        chk.check(np.linalg.norm(X - Xs) <= 1e-7 * np.linalg.norm(Xs), "output X is not X*: %r" % (X - Xs))
        chk.check(np.linalg.norm(Y - Ys) <= 1e-7 * np.linalg.norm(Ys), "output Y is not Y*")
        print("ok   [good run np=%d] %d iterations, NumPy loss at the output %.2e, |grad| %.2e" % (args.np, iters, L, gn))

# ---- the ScaLAPACK solve on the default grid: the same solution ----------------------------------------
out_s = os.path.join(work, "scalapack-run.h5")
r = e2e_util.launch(args, args.np, ["regress", "--input", good, "--out", out_s, "--tolerance", "1e-9", "--solver",
                                    "scalapack", "--block", "4"] + QUICK, os.path.join(work, "rc-scalapack"), args.timeout)
if chk.check(r is not None and r.returncode == 0, "scalapack run failed: %s" % (r.stderr[-2000:] if r else "timeout")):
    with h5py.File(out_s, "r") as f:
        chk.check(str(f.attrs["variant"]).startswith("scalapack-"), "scalapack run: variant %r" % f.attrs["variant"])
        Xsc = f["output/X"][...]
        chk.check(np.linalg.norm(Xsc - Xs) <= 1e-7 * np.linalg.norm(Xs), "scalapack run: output X is not X*")
    print("ok   [scalapack run np=%d] VALID, X = X*" % args.np)

# ---- not converged: exit 4 on every rank, archive with valid = 0 --------------------------------------
out4 = os.path.join(work, "invalid.h5")
argv4 = ["regress", "--algo", "gd", "--n", "40", "--d", "3", "--max-iter", "2", "--out", out4] + QUICK
r = e2e_util.launch(args, args.np, argv4, os.path.join(work, "rc-invalid"), args.timeout, all_ranks_finish=True)
if chk.check(r is not None, "not converged: no result within the timeout"):
    chk.check(set(r.rank_codes.values()) == {4} and len(r.rank_codes) == args.np,
              "not converged: per-rank codes %s, expected 4 everywhere\n%s" % (r.rank_codes, r.stderr[-1500:]))
    if chk.check(os.path.isfile(out4), "not converged: no archive"):
        with h5py.File(out4, "r") as f:
            chk.check(int(f.attrs["valid"]) == 0 and int(f["validation"].attrs["converged"]) == 0,
                      "not converged: archive valid/converged not 0")
            chk.check(int(f.attrs["iterations"]) == 2, "not converged: iterations %r" % f.attrs["iterations"])
    print("ok   [not converged np=%d] exit 4 on every rank, INVALID archive" % args.np)

# ---- bad inputs: same code on every rank, one message, nothing written --------------------------------
def bad_case(name, argv, expected, needles):
    case_dir = os.path.join(work, "bad", name.replace(" ", "_"))
    os.makedirs(case_dir)
    argv = ["regress"] + argv + ["--out", os.path.join(case_dir, "out.h5")] + QUICK
    r = e2e_util.launch(args, args.np, argv, os.path.join(work, "rc", name.replace(" ", "_")), args.timeout,
                        all_ranks_finish=True)
    label = "%s (np=%d)" % (name, args.np)
    if not chk.check(r is not None, "%s: no result within the timeout (hang?)" % label):
        return
    detail = "\n  argv: %s\n  stderr: %s" % (" ".join(argv), r.stderr.strip()[-1500:])
    ok = chk.check(len(r.rank_codes) == args.np and set(r.rank_codes.values()) == {expected},
                   "%s: per-rank codes %s, expected %d on every rank%s" % (label, r.rank_codes, expected, detail))
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    ok &= chk.check(len(errors) == 1, "%s: %d error lines, expected 1%s" % (label, len(errors), detail))
    for needle in needles:
        ok &= chk.check(any(needle in l for l in errors), "%s: message does not name '%s'%s" % (label, needle, detail))
    for bad in ("internal error", "MPI_ABORT", "HDF5-DIAG", "terminate called"):
        ok &= chk.check(bad not in r.stderr, "%s: stderr contains '%s'%s" % (label, bad, detail))
    ok &= chk.check(os.listdir(case_dir) == [], "%s: files left behind: %s" % (label, os.listdir(case_dir)))
    if ok:
        print("ok   [%s] exit %d on every rank: %s" % (label, expected, errors[0]))


def with_value(a, index, value):
    b = a.copy()
    b[index] = value
    return b


base = {"A1": A1, "A2": A2, "A3": A3, "B": B, "X0": X0, "Y0": Y0}
bad_case("d zero", ["--d", "0"], 2, ["--d"])
bad_case("tolerance zero", ["--tolerance", "0"], 2, ["--tolerance"])
bad_case("tolerance negative", ["--tolerance", "-1"], 2, ["--tolerance"])
bad_case("tolerance vacuous", ["--tolerance", "1"], 2, ["--tolerance"])  # VALID after 0 iterations otherwise
bad_case("max-iter zero", ["--max-iter", "0"], 2, ["--max-iter"])
bad_case("bad scale", ["--scale", "fast", "--n", "16", "--d", "2"], 2, ["--scale"])
bad_case("bad grid", ["--solver", "scalapack", "--grid", "%dx2" % args.np, "--n", "16", "--d", "2"], 2, ["--grid"])
bad_case("single precision", ["--precision", "single", "--n", "16", "--d", "2"], 2, ["single"])
bad_case("hessian over budget", ["--n", "64", "--d", "48", "--memory-budget", "64MiB"], 6,
         ["2 d^2 x 2 d^2 = 4608 x 4608", "largest d that fits"])
bad_case("missing file", ["--input", os.path.join(work, "nope.h5")], 3, ["nope.h5"])
for ds, shape in (("B", (n - 1, d)), ("A2", (n, d + 1)), ("A1", (n, d + 1)), ("X0", (d + 1, d)), ("Y0", (d, 2))):
    f = h5("shape-%s.h5" % ds, dict(base, **{ds: np.zeros(shape)}))
    bad_case("shape mismatch %s" % ds, ["--input", f], 3, ["/" + ds])
for ds, val in (("A3", np.nan), ("B", np.inf), ("A1", -np.inf), ("X0", np.nan)):
    arr = base[ds]
    f = h5("nonfinite-%s.h5" % ds, dict(base, **{ds: with_value(arr, (arr.shape[0] - 1, 0), val)}))
    bad_case("non-finite %s" % ds, ["--input", f], 3, ["/" + ds, "NaN or Inf"])
f = h5("no-A2.h5", {k: v for k, v in base.items() if k != "A2"})
bad_case("missing dataset", ["--input", f], 3, ["/A2"])

chk.finish()
