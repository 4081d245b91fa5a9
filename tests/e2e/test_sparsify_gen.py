"""End-to-end test of `attnbench gen --kernel sparsify`: the file it writes (dense /X, anndata CSC
and CSR groups) holds exactly the values of the sparsify kernel's synthetic generator, so
`attnbench sparsify --input FILE` gives the same columns, weights and errors as the synthetic run
with the same --n --d --r --density --coherence --seed, at --np ranks; the file does not depend on
the rank count that wrote it (checked against a file written by 1 rank), it reads back with
scipy as the same matrix in every format, and bad gen options are usage errors (exit 2) on every
rank with nothing written.
"""
import os
import shutil
import sys

import h5py
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("sparsify_gen np%d" % args.np)
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)
W = lambda name: os.path.join(args.workdir, name)  # noqa: E731


def run(np_, argv, label):
    return e2e_util.launch(args, np_, argv, W("rc-" + label), args.timeout, all_ranks_finish=True)


def ok_run(np_, argv, label):
    res = run(np_, argv, label)
    if not chk.check(res is not None, "%s finished" % label):
        return False
    return chk.check(len(res.rank_codes) == np_ and set(res.rank_codes.values()) == {0},
                     "%s: exit 0 on every rank, got %s (%s)" % (label, res.rank_codes, res.stderr.strip()[-400:]))


def read_X(path):
    with h5py.File(path, "r") as f:
        x = f["X"]
        if isinstance(x, h5py.Dataset):
            return "dense", x[...]
        enc = x.attrs["encoding-type"]
        enc = enc.decode() if isinstance(enc, bytes) else enc
        cls = sp.csc_matrix if enc == "csc_matrix" else sp.csr_matrix
        M = cls((x["data"][...], x["indices"][...], x["indptr"][...]), shape=tuple(x.attrs["shape"]))
        chk.check(M.has_sorted_indices and x.attrs["encoding-version"] in ("0.1.0", b"0.1.0"),
                  "%s: sorted indices, encoding-version 0.1.0" % path)
        return enc, M


def read_archive(path):
    with h5py.File(path, "r") as f:
        out = {"columns": f["output/columns"][...], "weights": f["output/weights"][...],
               "Y": f["output/Y"][...] if "output/Y" in f else None,
               "nnz": int(f.attrs["nnz"]), "r": float(f.attrs["r"])}
        for k in ("spectral_low", "spectral_high", "attention_error", "attention_bound"):
            out[k] = float(f["validation"].attrs[k])
    return out


# Two generator settings: fully dense values (the synthetic run stores X dense) and sparse +
# coherent (stored CSC). n and d not divisible by 2, 3 or 4; d small enough that p = 4 ranks hold
# uneven blocks.
specs = {
    "densevals": ["--n", "11", "--d", "389", "--r", "0.06", "--seed", "5"],
    "sparsevals": ["--n", "13", "--d", "301", "--r", "0.08", "--density", "0.3", "--coherence", "0.4", "--seed", "9"],
}
# leverage-sketch runs with its default (oversampled) m, the m its window guarantee is stated for:
# with --m 300 (a third of even the exact-score Chernoff m at n = 13) whether the window is met
# was a coin flip of the draws (about 1 seed in 10 misses, with the former draws as with the
# current ones), and a miss is exit 4, which this test does not exercise.
algos = {"leverage": ["--m", "300"], "leverage-sketch": [], "bss": ["--gamma", "3"], "gaussian": ["--m", "40"]}
for sname, spec in specs.items():
    synthetic_storage = "dense" if sname == "densevals" else "csc"
    dense_ref = None
    for fmt in ["dense", "csc", "csr"]:
        path = W("%s-%s.h5" % (sname, fmt))
        if not ok_run(args.np, ["gen", "--kernel", "sparsify"] + spec + ["--format", fmt, "--out", path], "gen " + path):
            continue
        enc, X = read_X(path)
        dense = X if fmt == "dense" else X.toarray()
        if dense_ref is None:
            dense_ref = dense
        chk.check(np.array_equal(dense, dense_ref), "%s %s: the same matrix as the dense file" % (sname, fmt))
        # The same file from 1 rank: byte-identical datasets (the generator is rank-count invariant).
        path1 = W("%s-%s-1rank.h5" % (sname, fmt))
        if args.np > 1 and ok_run(1, ["gen", "--kernel", "sparsify"] + spec + ["--format", fmt, "--out", path1],
                                  "gen1 " + path1):
            with h5py.File(path, "r") as a, h5py.File(path1, "r") as b:
                names = ["X"] if fmt == "dense" else ["X/data", "X/indices", "X/indptr"]
                chk.check(all(np.array_equal(a[nm][...], b[nm][...]) for nm in names),
                          "%s %s: written by %d ranks = written by 1 rank" % (sname, fmt, args.np))
        # Row norms: |X X^T|_max = r exactly (diagonal r).
        r = float(spec[spec.index("--r") + 1])
        G = dense @ dense.T
        chk.check(abs(np.abs(G).max() - r) <= 1e-12 and np.allclose(np.diag(G), r, rtol=1e-12, atol=0),
                  "%s %s: |X X^T|_max = r = %g (diag %s)" % (sname, fmt, r, np.diag(G)[:3]))
        for algo, opts in algos.items():
            syn, inp = W("syn-%s-%s.h5" % (sname, algo)), W("inp-%s-%s-%s.h5" % (sname, fmt, algo))
            base = ["sparsify", "--algo", algo, "--reps", "1", "--warmup", "0"] + opts
            if not os.path.exists(syn) and not ok_run(args.np, base + spec + ["--out", syn], "synthetic " + syn):
                continue
            if not ok_run(args.np, base + ["--seed", spec[spec.index("--seed") + 1], "--input", path, "--out", inp],
                          "input " + inp):
                continue
            a, b = read_archive(syn), read_archive(inp)
            same_storage = (fmt == "dense") == (synthetic_storage == "dense")
            # The same storage (dense file / dense synthetic, CSC or CSR file / CSC synthetic) runs
            # the same code on the same values: bitwise identical. Across storage kinds the sums
            # are ordered differently: equal to rounding.
            rtol = 0.0 if same_storage else 1e-10
            what = "%s %s %s" % (sname, fmt, algo)
            chk.check(np.array_equal(a["columns"], b["columns"]), "%s: same columns (%d vs %d)" %
                      (what, a["columns"].size, b["columns"].size))
            chk.check(a["weights"].shape == b["weights"].shape and
                      np.allclose(a["weights"], b["weights"], rtol=rtol, atol=0), "%s: same weights" % what)
            if algo == "gaussian":
                chk.check(np.allclose(a["Y"], b["Y"], rtol=1e-10, atol=1e-15), "%s: same Y" % what)
            chk.check(a["nnz"] == b["nnz"] and abs(a["r"] - b["r"]) <= 1e-15, "%s: same nnz and r" % what)
            for k in ("spectral_low", "spectral_high", "attention_error", "attention_bound"):
                chk.check(abs(a[k] - b[k]) <= max(rtol, 1e-12) * abs(a[k]) + 1e-15,
                          "%s: same %s (%.17g vs %.17g)" % (what, k, a[k], b[k]))

# Bad options: exit 2 on every rank, the option named, nothing written.
for label, argv, expect in [
    ("r", ["--kernel", "sparsify", "--r", "1.5"], "--r"),
    ("d<n", ["--kernel", "sparsify", "--n", "16", "--d", "8"], "--d"),
    ("density", ["--kernel", "sparsify", "--density", "0"], "--density"),
    ("coherence", ["--kernel", "sparsify", "--coherence", "1"], "--coherence"),
    ("format", ["--kernel", "sparsify", "--format", "coo"], "--format"),
    ("bound-with-sparsify", ["--kernel", "sparsify", "--bound", "2"], "--bound"),
    ("density-with-attention", ["--density", "0.5"], "--density"),
]:
    out = W("bad-gen.h5")
    res = run(args.np, ["gen"] + argv + ["--out", out], "bad-" + label)
    if not chk.check(res is not None, "%s finished (no hang)" % label):
        continue
    chk.check(set(res.rank_codes.values()) == {2} and len(res.rank_codes) == args.np,
              "%s: exit 2 on every rank, got %s" % (label, res.rank_codes))
    chk.check(expect in res.stderr, "%s: message names %s: %s" % (label, expect, res.stderr.strip()[-300:]))
    chk.check(not os.path.exists(out), "%s: nothing written" % label)
# An existing file is not replaced without --overwrite (exit 2), and is with it.
path = W("densevals-dense.h5")
if os.path.exists(path):
    before = os.path.getmtime(path)
    res = run(args.np, ["gen", "--kernel", "sparsify"] + specs["densevals"] + ["--out", path], "exists")
    chk.check(res is not None and set(res.rank_codes.values()) == {2} and os.path.getmtime(path) == before,
              "existing --out without --overwrite: exit 2, file untouched")
    chk.check(ok_run(args.np, ["gen", "--kernel", "sparsify"] + specs["densevals"] + ["--out", path, "--overwrite"],
                     "overwrite"), "existing --out with --overwrite: replaced")
chk.finish()
