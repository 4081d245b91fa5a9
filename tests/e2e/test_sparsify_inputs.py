"""End-to-end test of the sparsify kernel on inputs written by h5py and scipy (independent of the
C++ code): a dense /X and the same matrix as anndata-style CSC and CSR groups give the same
selection at any rank count; the archived Y, window and attention error agree with NumPy; every
malformed group is an input error (exit 3) on every rank, naming the dataset, with nothing written.

Runs `attnbench sparsify` (--attnbench BIN); with SPARSIFY_SUBCOMMAND="" it runs the sparsify_bench
driver instead (the same case, validation figures as root attributes).
"""
import os
import shutil
import sys

import h5py
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

SUB = os.environ.get("SPARSIFY_SUBCOMMAND", "sparsify")
args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("sparsify_inputs np%d" % args.np)
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
W = lambda name: os.path.join(args.workdir, name)  # noqa: E731

# X: n x d, rows scaled so |X X^T|_max = r, 60% zeros, a few heavy columns.
rng = np.random.default_rng(5)
n, d, r = 7, 157, 0.06
X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.4)
X[:, 10] = 0.0
X[np.arange(n), (np.arange(n) * d) // n] += 3.0
X *= np.sqrt(r / (X * X).sum(axis=1))[:, None]


def write_dense(path, A, dtype="f8"):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=A.astype(dtype))


def write_sparse(path, M, enc, shape=None, mutate=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        parts = {"data": M.data.copy(), "indices": M.indices.astype(np.int32), "indptr": M.indptr.astype(np.int64)}
        attrs = {"encoding-type": enc, "encoding-version": "0.1.0", "shape": np.array(shape or M.shape, dtype=np.int64)}
        if mutate:
            mutate(parts, attrs)
        for k, v in parts.items():
            g.create_dataset(k, data=v)
        for k, v in attrs.items():
            if v is not None:
                g.attrs[k] = v


write_dense(W("dense.h5"), X)
write_sparse(W("csc.h5"), sp.csc_matrix(X), "csc_matrix")
write_sparse(W("csr.h5"), sp.csr_matrix(X), "csr_matrix")

M = X @ X.T
L = np.linalg.cholesky(M)


def softmax_rows(A):
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def run(argv, rc_name):
    base = ([SUB] if SUB else []) + argv
    return e2e_util.launch(args, args.np, base, W("rc-" + rc_name), args.timeout, all_ranks_finish=True)


selections = {}
for algo in ["leverage", "leverage-sketch", "bss", "uniform", "gaussian"]:
    for name in ["dense", "csc", "csr"]:
        out = W("out-%s-%s.h5" % (algo, name))
        opts = [] if algo == "bss" else ["--m", "60", "--eps", "0.9"]
        res = run(["--algo", algo, "--input", W(name + ".h5"), "--reps", "1", "--out", out, "--save-output"] + opts,
                  algo + name)
        if not chk.check(res is not None, "%s %s finished" % (algo, name)):
            continue
        codes = set(res.rank_codes.values())
        chk.check(len(res.rank_codes) == args.np and len(codes) == 1, "%s %s: every rank's code %s" %
                  (algo, name, res.rank_codes))
        if not chk.check(os.path.exists(out), "%s %s wrote %s (stderr %s)" % (algo, name, out, res.stderr[-500:])):
            continue
        with h5py.File(out, "r") as f:
            cols = f["output/columns"][...]
            w = f["output/weights"][...]
            Y = f["output/Y"][...]
            attrs = dict(f["validation"].attrs) if "validation" in f else dict(f.attrs)
        chk.check(np.all(np.diff(cols) > 0), "%s %s: columns ascending" % (algo, name))
        if algo == "gaussian":
            chk.check(cols.size == 0 and Y.shape == (n, 60), "%s %s: gaussian stores Y (n x m)" % (algo, name))
        else:
            chk.check(np.allclose(Y, X[:, cols] * w, rtol=1e-12, atol=0), "%s %s: Y = X[:, columns] w" % (algo, name))
            if algo != "uniform":  # uniform draws any column, zero ones included
                chk.check(10 not in cols, "%s %s: the zero column 10 is never selected" % (algo, name))
        selections.setdefault(algo, {})[name] = cols
        # The window and the attention error, recomputed with NumPy.
        Linv = np.linalg.inv(L)
        ev = np.linalg.eigvalsh(Linv @ (Y @ Y.T) @ Linv.T)
        chk.check(abs(ev[0] - attrs["spectral_low"]) < 1e-9 and abs(ev[-1] - attrs["spectral_high"]) < 1e-9,
                  "%s %s: window [%g, %g] vs NumPy [%g, %g]" % (algo, name, attrs["spectral_low"],
                                                                attrs["spectral_high"], ev[0], ev[-1]))
        err = np.abs(softmax_rows(Y @ Y.T) - softmax_rows(M)).max()
        chk.check(abs(err - attrs["attention_error"]) <= 1e-12 + 1e-9 * err,
                  "%s %s: attention error %g vs NumPy %g" % (algo, name, attrs["attention_error"], err))
        epsr = max(0.0, 1 - ev[0], ev[-1] - 1)
        bound = np.expm1(2 * epsr * r) * np.exp(2 * r) / n
        chk.check(err <= bound * (1 + 1e-9), "%s %s: error %g within the bound %g" % (algo, name, err, bound))
        if algo == "bss":
            kappa = 2 * 2 / 5
            chk.check(1 - kappa - 1e-9 <= ev[0] and ev[-1] <= 1 + kappa + 1e-9, "bss %s: window within kappa" % name)
            chk.check(attrs["columns_kept"] <= 4 * n and attrs["max_invariant_violation"] == 0,
                      "bss %s: at most ceil(gamma n) columns, no invariant violation" % name)
for algo, by_input in selections.items():
    ref = by_input.get("dense")
    for name, cols in by_input.items():
        chk.check(ref is not None and np.array_equal(cols, ref), "%s: %s selects the same columns as dense" % (algo, name))

# Malformed inputs: exit 3 on every rank, a message naming the dataset, nothing written.
C = sp.csc_matrix(X)
R = sp.csr_matrix(X)


def swap_indptr(p, a):
    p["indptr"][3], p["indptr"][4] = p["indptr"][4] + 1, p["indptr"][3]


bad = {
    "indptr-not-monotone": (C, "csc_matrix", None, swap_indptr, "/X/indptr"),
    "index-out-of-range": (C, "csc_matrix", None, lambda p, a: p["indices"].__setitem__(0, n), "/X/indices"),
    "unsorted-indices": (R, "csr_matrix", None, lambda p, a: p["indices"].__setitem__(slice(0, 2), p["indices"][1::-1]),
                         "/X/indices"),
    "lengths-disagree": (C, "csc_matrix", None, lambda p, a: p.__setitem__("data", p["data"][:-1]), "/X/data"),
    "shape-disagrees": (C, "csc_matrix", (n, d + 3), None, "/X/indptr"),
    "no-encoding": (C, "csc_matrix", None, lambda p, a: a.__setitem__("encoding-type", None), "encoding-type"),
    "bad-encoding": (C, "coo_matrix", None, None, "encoding-type"),
}
for label, (mat, enc, shape, mutate, expect) in bad.items():
    path, out = W("bad-%s.h5" % label), W("bad-%s-out.h5" % label)
    write_sparse(path, mat, enc, shape, mutate)
    res = run(["--algo", "leverage", "--input", path, "--out", out], label)
    if not chk.check(res is not None, "%s finished (no hang)" % label):
        continue
    chk.check(set(res.rank_codes.values()) == {3} and len(res.rank_codes) == args.np,
              "%s: exit 3 on every rank, got %s" % (label, res.rank_codes))
    chk.check(expect in res.stderr, "%s: message names %s: %s" % (label, expect, res.stderr.strip()[-300:]))
    chk.check(not os.path.exists(out), "%s: nothing written" % label)
# d < n and a rank-deficient X.
write_dense(W("wide.h5"), X[:, :5])
write_dense(W("deficient.h5"), np.vstack([X[:6], X[0:1] + X[1:2]]))
for label, expect in [("wide", "d = 5"), ("deficient", "rank-deficient")]:
    res = run(["--algo", "bss", "--input", W(label + ".h5")], label)
    if chk.check(res is not None, "%s finished" % label):
        chk.check(set(res.rank_codes.values()) == {3}, "%s: exit 3 on every rank, got %s" % (label, res.rank_codes))
        chk.check(expect in res.stderr, "%s: message mentions '%s': %s" % (label, expect, res.stderr.strip()[-300:]))
# Bad options: a usage error (exit 2) on every rank, the option named, nothing written.
if SUB:
    for label, argv, expect in [
        ("d<n", ["--n", "16", "--d", "10"], "--d"),
        ("r>=1", ["--r", "1.5"], "--r"),
        ("r<=0", ["--r", "0"], "--r"),
        ("gamma<=1", ["--algo", "bss", "--gamma", "1"], "--gamma"),
        ("eps>=1", ["--eps", "1"], "--eps"),
        ("eps<=0", ["--eps", "0"], "--eps"),
        ("delta<=0", ["--delta", "0"], "--delta"),
        ("delta>=1", ["--delta", "1"], "--delta"),
        ("density", ["--density", "0"], "--density"),
        ("coherence", ["--coherence", "1"], "--coherence"),
    ]:
        out = W("usage-out.h5")
        base = [] if label == "d<n" else ["--n", "8", "--d", "64"]
        res = run(base + argv + ["--out", out], "usage")
        if not chk.check(res is not None, "%s finished (no hang)" % label):
            continue
        chk.check(set(res.rank_codes.values()) == {2} and len(res.rank_codes) == args.np,
                  "%s: exit 2 on every rank, got %s" % (label, res.rank_codes))
        chk.check(expect in res.stderr, "%s: message names %s: %s" % (label, expect, res.stderr.strip()[-300:]))
        chk.check(not os.path.exists(out), "%s: nothing written" % label)
chk.finish()
