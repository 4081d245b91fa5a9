#!/usr/bin/python3
"""End-to-end fault tests of `attnbench sparsify` and `attnbench gen --kernel sparsify`:
every fault ends with the documented exit code on every rank, one
readable error naming the file, dataset or option (and the valid range or the bytes), nothing
written, no hang (every launch has a timeout), no crash; and two numerically hard inputs are judged
by what they are, not by an overflow or a fixed rounding allowance.

  1. a Fletcher32 error in a chunk read by one rank only (at 3 ranks): dense /X, CSC data, CSC
     indices, an inner CSC indptr chunk, CSR data, CSR indices; a chunk every rank reads (CSR
     indptr); a truncated file: exit 3, "checksum error (Fletcher32)" / "truncated"
  4. |X X^T|_max = 931: the attention bound e^{2r}... exceeds the double range and the trivial
     bound 1: VALID, bound_vacuous = 1, attention_bound = 1, ln of the bound as NumPy computes it
  5. cond(X X^T) = 1e12, leverage: VALID, the score-sum tolerance scales with the condition number
  6. --jl-cols 2^62, --sketch-rows 2^61 / 1e11, --m 2^62, --gamma 1e300 / 1e15: exit 2 with the
     option's range; --m and --jl-cols whose buffers no node holds: exit 6 naming the bytes
  7. --n 2^20 --d 2^20 (sparsify and gen): exit 6 within seconds; files declaring a 4096 x (2^31-1)
     /X or 2^40 CSC entries: exit 3 naming the dataset and the bytes
 11. --m 0 (and --jl-cols 0): a usage error, not a silent default

Usage: test_sparsify_faults.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR [--timeout S]
"""
import concurrent.futures
import os
import shutil
import sys

import h5py
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("sparsify_faults np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
codes = e2e_util.documented_exit_codes(args)
USAGE, INPUT, INVALID = codes["usage"], codes["input"], codes["invalid"]
DOES_NOT_FIT = 6  # src/core/error.hpp ExitCode::does_not_fit ("does not fit" in --help)
QUICK = ["--reps", "1", "--warmup", "0", "--quiet"]
# Also "not agreed": every error here must be agreed across ranks.
CRASH_MARKS = e2e_util.CRASH_MARKS + ("not agreed",)


def run(label, argv):
    """attnbench with every rank running to its own end (each rank's exit code recorded)."""
    return e2e_util.run_to_end(args, chk, label, argv, work)


def expect(label, argv, code, needles=(), directory=None):
    """Exit `code` on every rank, no crash; for an error: one error line naming every needle, and
    `directory` (the --out directory) left empty."""
    r = run(label, argv)
    if r is not None:
        e2e_util.check_exit(chk, r, label, argv, code, args.np, needles, directory, crash_marks=CRASH_MARKS)
    return r


def case_dir(name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return d


def out_dir(name):
    """An empty directory for a run's --out: a failed run must leave it empty."""
    return case_dir(os.path.join("out", name))


def flip_byte(path, dataset, chunk):
    """Flips one byte in the middle of chunk `chunk` of `dataset` (its Fletcher32 no longer matches)."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([b[0] ^ 0x5A]))


# X: n x d, 6 x 96, about half zeros, |X X^T|_max = 0.05. At 3 ranks each rank holds 32 columns
# (d axis) and, for CSR, 2 rows: rank 1 reads columns 32..63 and rows 2..3 only.
N, D = 6, 96
rng = np.random.default_rng(21)
X = rng.standard_normal((N, D)) * (rng.random((N, D)) < 0.5)
X[np.arange(N), (np.arange(N) * D) // N] += 3.0
X *= np.sqrt(0.05 / (X * X).sum(axis=1))[:, None]


def sparse_group(f, M, enc, chunks):
    g = f.create_group("X")
    g.attrs["encoding-type"] = enc
    g.attrs["encoding-version"] = "0.1.0"
    g.attrs["shape"] = np.array(M.shape, dtype=np.int64)
    for name, data in (("data", M.data), ("indices", M.indices.astype(np.int64)), ("indptr", M.indptr.astype(np.int64))):
        g.create_dataset(name, data=data, chunks=(min(chunks[name], len(data)),), fletcher32=True)


def inner_chunk(lo, hi, size):
    """A chunk of `size` entries lying within [lo, hi) (the entries of rank 1 only)."""
    c = -(-lo // size)
    assert (c + 1) * size <= hi, (lo, hi, size)
    return c


# ---- 1. a checksum error read by one rank; by every rank; a truncated file ----------------------
def damaged_inputs():
    d = case_dir("damaged")  # (no "checksum" in any path: the message must say it)
    cases = []
    path = os.path.join(d, "dense.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(N, 32), fletcher32=True)
    flip_byte(path, "X", 1)  # columns 32..63: rank 1's
    cases.append(("dense /X, rank 1's chunk", path, "/X"))
    csc = sp.csc_matrix(X)
    lo, hi = int(csc.indptr[32]), int(csc.indptr[64])  # rank 1's entries
    for dataset in ("data", "indices", "indptr"):
        path = os.path.join(d, "csc_%s.h5" % dataset)
        with h5py.File(path, "w") as f:
            sparse_group(f, csc, "csc_matrix", {"data": 16, "indices": 16, "indptr": 8})
        # indptr: chunk 5 = entries 40..47, inside rank 1's 32..64 (the others read 0..32, 64..96)
        flip_byte(path, "X/" + dataset, 5 if dataset == "indptr" else inner_chunk(lo, hi, 16))
        cases.append(("CSC /X/%s, rank 1's chunk" % dataset, path, "/X/" + dataset))
    csr = sp.csr_matrix(X)
    lo, hi = int(csr.indptr[2]), int(csr.indptr[4])  # rows 2..3: rank 1's entries
    for dataset in ("data", "indices", "indptr"):
        path = os.path.join(d, "csr_%s.h5" % dataset)
        with h5py.File(path, "w") as f:
            sparse_group(f, csr, "csr_matrix", {"data": 16, "indices": 16, "indptr": 8})
        # indptr (7 entries, one chunk) is read by every rank
        flip_byte(path, "X/" + dataset, 0 if dataset == "indptr" else inner_chunk(lo, hi, 16))
        cases.append(("CSR /X/%s, %s" % (dataset, "every rank's chunk" if dataset == "indptr" else "rank 1's chunk"),
                      path, "/X/" + dataset))
    for label, path, dataset in cases:
        o = out_dir(os.path.basename(path))
        expect(label, ["sparsify", "--input", path, "--m", "40", "--out", os.path.join(o, "run.h5")] + QUICK, INPUT,
               [path, dataset, "checksum error (Fletcher32)"], o)
    path = os.path.join(d, "cut.h5")
    with h5py.File(os.path.join(d, "whole.h5"), "w") as f:
        f.create_dataset("X", data=X, chunks=(N, 32), fletcher32=True)
    data = open(os.path.join(d, "whole.h5"), "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[:len(data) - 1000])
    o = out_dir("cut")
    expect("truncated file", ["sparsify", "--input", path, "--m", "40", "--out", os.path.join(o, "run.h5")] + QUICK,
           INPUT, [path, "truncated"], o)


# ---- 4. a bound beyond the double range: vacuous, not INVALID -----------------------------------
def softmax_rows(A):
    E = np.exp(A - A.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def validation_of(path):
    with h5py.File(path, "r") as f:
        return dict(f["validation"].attrs), int(f.attrs["valid"])


def large_r():
    d = case_dir("large_r")
    Xr = np.random.default_rng(4).standard_normal((N, D))
    Xr *= np.sqrt(931.0 / (Xr * Xr).sum(axis=1))[:, None]  # |X X^T|_max = 931 (the diagonal)
    path = os.path.join(d, "r931.h5")
    with h5py.File(path, "w") as f:
        f["X"] = Xr
    out = os.path.join(d, "run.h5")
    r = expect("r = 931: vacuous bound", ["sparsify", "--input", path, "--m", "400", "--out", out] + QUICK[:-1], 0)
    if r is None or not os.path.exists(out):
        chk.check(False, "r = 931: no archive")
        return
    v, valid = validation_of(out)
    M = Xr @ Xr.T
    r_ = np.abs(M).max()
    eps = max(0.0, 1 - v["spectral_low"], v["spectral_high"] - 1)
    x = 2 * eps * r_
    log_bound = x + np.log1p(-np.exp(-x)) + 2 * r_ - np.log(N)  # ln((e^x - 1) e^{2r} / n), x >> 1
    chk.check(valid == 1 and v["valid"] == 1, "r = 931: valid = %s (the window holds)" % valid)
    chk.check(v.get("bound_vacuous") == 1, "r = 931: bound_vacuous = %s, expected 1" % v.get("bound_vacuous"))
    chk.check(v.get("attention_bound") == 1.0 and v.get("tolerance") == 1.0,
              "r = 931: attention_bound %s, tolerance %s: expected the trivial bound 1" %
              (v.get("attention_bound"), v.get("tolerance")))
    chk.check(abs(v.get("log_attention_bound", 0) - log_bound) <= 1e-9 * log_bound,
              "r = 931: log_attention_bound %s, NumPy %s" % (v.get("log_attention_bound"), log_bound))
    chk.check(v["attention_error"] <= 1.0, "r = 931: attention error %s > 1" % v["attention_error"])
    chk.check("bound vacuous" in r.stdout, "r = 931: the summary does not say the bound is vacuous:\n" + r.stdout)


# ---- 5. an ill-conditioned X: the score-sum check scales with cond(X X^T) -------------------------
def ill_conditioned():
    d = case_dir("ill")
    g = np.random.default_rng(7)
    U, _ = np.linalg.qr(g.standard_normal((N, N)))
    V, _ = np.linalg.qr(g.standard_normal((D, N)))
    Xi = (U * np.logspace(0, -6, N)) @ V.T  # singular values 1 .. 1e-6: cond(X X^T) = 1e12
    Xi *= np.sqrt(0.05 / (Xi * Xi).sum(axis=1).max())
    path = os.path.join(d, "ill.h5")
    with h5py.File(path, "w") as f:
        f["X"] = Xi
    out = os.path.join(d, "run.h5")
    r = expect("cond 1e12, leverage", ["sparsify", "--algo", "leverage", "--input", path, "--m", "400", "--out", out]
               + QUICK, 0)
    if r is None or not os.path.exists(out):
        chk.check(False, "cond 1e12: no archive")
        return
    v, valid = validation_of(out)
    M = Xi @ Xi.T
    w = np.linalg.eigvalsh(M)
    cond = w[-1] / w[0]
    tol = N * (1e-8 + N * (N + 1) * 2.0 ** -53 * cond)
    chk.check(valid == 1, "cond 1e12: valid = %d (the window holds)" % valid)
    chk.check(abs(v.get("gram_condition", 0) / cond - 1) < 1e-2,
              "cond 1e12: gram_condition %s, NumPy %g" % (v.get("gram_condition"), cond))
    chk.check(abs(v.get("score_sum_tolerance", 0) / tol - 1) < 1e-2,
              "cond 1e12: score_sum_tolerance %s, expected n (1e-8 + n (n + 1) u cond) = %g" %
              (v.get("score_sum_tolerance"), tol))
    score_sum = v.get("score_sum")
    chk.check(isinstance(score_sum, float) and abs(score_sum - N) <= v.get("score_sum_tolerance", 0),
              "cond 1e12: score_sum %r beyond its tolerance %r" % (score_sum, v.get("score_sum_tolerance")))
    # The small-r bound is still the formula (not vacuous), as NumPy computes it.
    eps = max(0.0, 1 - v["spectral_low"], v["spectral_high"] - 1)
    r_ = np.abs(M).max()
    bound = np.expm1(2 * eps * r_) * np.exp(2 * r_) / N
    chk.check(v.get("bound_vacuous") == 0 and abs(v["attention_bound"] - bound) <= 1e-12 * bound,
              "cond 1e12: attention_bound %s (vacuous %s), NumPy %s" % (v["attention_bound"], v.get("bound_vacuous"),
                                                                         bound))
    if isinstance(score_sum, float):
        print("     cond %.3g: |score_sum - n| = %.3g, tolerance %.3g (1e-8 n = %.3g)" %
              (cond, abs(score_sum - N), v.get("score_sum_tolerance", float("nan")), 1e-8 * N), flush=True)


# ---- 6 and 11. option values: exit 2 with the range, or exit 6 naming the bytes --------------------
def option_values():
    cases = [
        ("--jl-cols 2^62", ["--algo", "leverage-sketch", "--jl-cols", str(2 ** 62)], USAGE, ["--jl-cols", "[1, "]),
        ("--sketch-rows 2^61", ["--algo", "leverage-sketch", "--sketch-rows", str(2 ** 61)], USAGE,
         ["--sketch-rows", "[n, 2^32]"]),
        ("--sketch-rows 1e11", ["--algo", "leverage-sketch", "--sketch-rows", str(10 ** 11)], USAGE,
         ["--sketch-rows", "[n, 2^32]"]),
        ("--m 2^62", ["--m", str(2 ** 62)], USAGE, ["--m", "[1, "]),
        ("--gamma 1e300", ["--algo", "bss", "--gamma", "1e300"], USAGE, ["--gamma", "(1, d / n] = (1, 64]"]),
        ("--gamma 1e15", ["--algo", "bss", "--gamma", "1e15"], USAGE, ["--gamma", "(1, d / n] = (1, 64]"]),
        # Within the 64-bit ranges, but 8e14 bytes per rank: no node has that (exit 6, the bytes).
        ("--m 1e14", ["--m", str(10 ** 14)], DOES_NOT_FIT, ["needs", "the node has"]),
        ("--jl-cols 1e12", ["--algo", "leverage-sketch", "--jl-cols", str(10 ** 12)], DOES_NOT_FIT,
         ["needs", "the node has"]),
        # 11: 0 is not "the default"
        ("--m 0", ["--m", "0"], USAGE, ["--m", ">= 1"]),
        ("--jl-cols 0", ["--algo", "leverage-sketch", "--jl-cols", "0"], USAGE, ["--jl-cols", ">= 1"]),
    ]
    for label, argv, code, needles in cases:
        o = out_dir(label.replace(" ", "_"))
        expect(label, ["sparsify", "--n", "64", "--d", "4096", "--out", os.path.join(o, "run.h5")] + argv + QUICK,
               code, needles, o)


# ---- 7. sizes that do not fit: refused before generating or reading --------------------------------
def huge_sizes():
    d = case_dir("huge")
    big = ["--n", str(2 ** 20), "--d", str(2 ** 20)]
    o = out_dir("synthetic_2e20")
    r = expect("sparsify --n 2^20 --d 2^20", ["sparsify"] + big + ["--out", os.path.join(o, "run.h5")] + QUICK,
               DOES_NOT_FIT, ["--n 1048576 --d 1048576", "needs", "the node has"], o)
    if r is not None:  # refused before generating: the generation alone takes minutes
        chk.check(r.seconds < 30, "sparsify --n 2^20 --d 2^20: %.0f s before the refusal" % r.seconds)
    o = out_dir("gen_2e20")
    r = expect("gen --kernel sparsify --n 2^20 --d 2^20",
               ["gen", "--kernel", "sparsify"] + big + ["--out", os.path.join(o, "X.h5")], DOES_NOT_FIT,
               ["--n 1048576 --d 1048576", "needs", "the node has"], o)
    if r is not None:
        chk.check(r.seconds < 30, "gen --n 2^20 --d 2^20: %.0f s before the refusal" % r.seconds)
    path = os.path.join(d, "declared_dense.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("X", shape=(4096, 2 ** 31 - 1), dtype="f8", chunks=(64, 4096))  # nothing written
    o = out_dir("declared_dense")
    expect("declared /X 4096 x (2^31-1)", ["sparsify", "--input", path, "--out", os.path.join(o, "run.h5")] + QUICK,
           INPUT, [path, "/X [4096 x 2147483647]", "needs", "the node has"], o)
    # CSC with a valid indptr over 2^40 entries (data and indices declared, never written).
    path = os.path.join(d, "declared_csc.h5")
    nd = 2 ** 40
    with h5py.File(path, "w") as f:
        g = f.create_group("X")
        g.attrs["encoding-type"] = "csc_matrix"
        g.attrs["shape"] = np.array([64, 128], dtype=np.int64)
        g.create_dataset("data", shape=(nd,), dtype="f8", chunks=(2 ** 16,))
        g.create_dataset("indices", shape=(nd,), dtype="i8", chunks=(2 ** 16,))
        g.create_dataset("indptr", data=(np.arange(129, dtype=np.int64) * (nd // 128)))
    o = out_dir("declared_csc")
    expect("declared CSC with 2^40 entries", ["sparsify", "--input", path, "--out", os.path.join(o, "run.h5")] + QUICK,
           INPUT, [path, "/X/indices", "needs", "the node has"], o)


def section(fn):
    """One group of cases; an exception in the test itself is a failure of that group only."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        chk.check(False, "%s raised %s: %s" % (fn.__name__, type(e).__name__, e))


with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    for f in [pool.submit(section, fn) for fn in (damaged_inputs, option_values, huge_sizes, large_r,
                                                   ill_conditioned)]:
        f.result()
chk.finish()
