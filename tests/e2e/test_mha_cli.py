#!/usr/bin/python3
"""End-to-end test of exact attention as models run it through `attnbench attention`:
causal masks, heads, grouped-query heads, batches and the contiguous/striped/zigzag layouts and the
ulysses variant, each with --save-output compared with an independent NumPy computation in float64
(the synthetic tensors are regenerated here from the documented counter-based generator, and a 2-D
input is written by `attnbench gen`); the archive's new root attributes and /metrics load_balance;
and the bad inputs, each a usage (2) or input (3) error with the same code on every rank and no
archive left behind.

Usage: test_mha_cli.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR
"""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
P = args.np
chk = e2e_util.Checker("mha cli np=%d" % P)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
M64 = (1 << 64) - 1


def run(name, argv, expected=0):
    r = e2e_util.launch(args, P, argv, os.path.join(work, "rc", name), args.timeout, all_ranks_finish=True)
    if not chk.check(r is not None, "%s: no result within %.0f s" % (name, args.timeout)):
        return None
    detail = "\n  argv: %s\n  stderr: %s\n  stdout: %s" % (" ".join(argv), r.stderr[-2000:], r.stdout[-1000:])
    chk.check(set(r.rank_codes.values()) == {expected} and len(r.rank_codes) == P,
              "%s: per-rank exit codes %s, expected %d%s" % (name, r.rank_codes, expected, detail))
    return r


# ---- the synthetic generator of src/core/random.hpp, in NumPy uint64 arithmetic -------------------
def mix64(z):
    z = (z + np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def mix64_int(z):
    with np.errstate(over="ignore"):
        return int(mix64(np.array([z & M64], dtype=np.uint64))[0])


def synthetic(seed, stream, shape, bound):
    """Entry with flat row-major index k of a tensor of `shape` for stream Q=1, K=2, V=3."""
    base = mix64_int(seed ^ mix64_int((stream * 0xD1B54A32D192ED03) & M64))
    idx = np.arange(int(np.prod(shape)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = mix64(np.uint64(base) + idx)
    u = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (bound * (2.0 * u - 1.0)).reshape(shape)


def attention(Q, K, V, scale, causal):
    """Q (B, n, H, d), K (B, n_k, Hkv, d), V (B, n_k, Hkv, dv) -> (B, n, H, dv), float64."""
    B, n, H, d = Q.shape
    Hkv = K.shape[2]
    g = H // Hkv
    O = np.zeros((B, n, H, V.shape[3]))
    for b in range(B):
        for h in range(H):
            S = scale * Q[b, :, h, :] @ K[b, :, h // g, :].T
            if causal:
                S = np.where(np.tril(np.ones_like(S, dtype=bool)), S, -np.inf)
            S -= S.max(axis=1, keepdims=True)
            A = np.exp(S)
            O[b, :, h, :] = (A / A.sum(axis=1, keepdims=True)) @ V[b, :, h // g, :]
    return O


def check_saved(name, path, O_ref, attrs):
    if not chk.check(os.path.isfile(path), "%s: archive missing" % name):
        return
    with h5py.File(path, "r") as f:
        for k, want in attrs.items():
            got = f.attrs.get(k)
            got = got.decode() if isinstance(got, bytes) else got
            chk.check(got == want, "%s: root attribute %s = %r, expected %r" % (name, k, got, want))
        chk.check(int(f.attrs["valid"]) == 1, "%s: not valid" % name)
        lb = f["metrics"].attrs.get("load_balance")
        chk.check(lb is not None and 1.0 <= float(lb) < 1e3, "%s: /metrics load_balance %r" % (name, lb))
        B, n, H, dv = O_ref.shape
        for b in range(B):
            key = "output/O" if B == 1 else "output/O_b%d" % b
            if not chk.check(key in f, "%s: /%s missing" % (name, key)):
                continue
            got = f[key][...].reshape(n, H, dv)
            err = np.abs(got - O_ref[b]).max() / np.abs(O_ref[b]).max()
            chk.check(err <= 1e-12, "%s: /%s differs from NumPy by %.3g (relative)" % (name, key, err))


# ---- synthetic multi-head inputs against NumPy -------------------------------------------------
cases = [
    # (label, B, n, H, Hkv, d, variant, layout, causal)
    ("gqa-zigzag-causal", 2, 23, 4, 2, 6, "ring", "zigzag", True),
    ("mha-striped-causal", 1, 17, 3, 3, 4, "allgather", "striped", True),
    ("gqa-ulysses-causal", 1, 19, 5, 1, 4, "ulysses", "contiguous", True),
    ("ulysses-fewer-heads-than-ranks", 1, 11, 2, 2, 3, "ulysses", "contiguous", False),
    ("contiguous-full", 3, 9, 2, 1, 5, "ring", "contiguous", False),
    ("zigzag-without-causal", 1, 13, 1, 1, 4, "ring", "zigzag", False),
]
for label, B, n, H, Hkv, d, variant, layout, causal in cases:
    out = os.path.join(work, label + ".h5")
    argv = ["attention", "--n", str(n), "--d", str(d), "--heads", str(H), "--kv-heads", str(Hkv), "--batch", str(B),
            "--variant", variant, "--layout", layout, "--seed", "5", "--bound", "2", "--scale", "1/sqrt(d)",
            "--tile-q", "4", "--tile-k", "3", "--reps", "1", "--validate-rows", "1000", "--save-output", "--quiet",
            "--out", out] + (["--causal"] if causal else [])
    if run(label, argv) is None:
        continue
    Q = synthetic(5, 1, (B, n, H, d), 2.0)
    K = synthetic(5, 2, (B, n, Hkv, d), 2.0)
    V = synthetic(5, 3, (B, n, Hkv, d), 2.0)
    check_saved(label, out, attention(Q, K, V, 1.0 / np.sqrt(d), causal),
                {"variant": variant, "layout": layout, "causal": int(causal), "heads": H, "kv_heads": Hkv, "batch": B})

# ---- a 2-D file input, redistributed to the striped layout, causal ---------------------------------
inp = os.path.join(work, "in.h5")
if run("gen", ["gen", "--n", "21", "--d", "4", "--seed", "9", "--out", inp]) is not None:
    out = os.path.join(work, "file-striped.h5")
    if run("file-striped", ["attention", "--input", inp, "--causal", "--layout", "striped", "--reps", "1",
                            "--save-output", "--quiet", "--tile", "4", "--out", out]) is not None:
        with h5py.File(inp, "r") as f:
            Q, K, V = (f[k][...].reshape(1, 21, 1, 4) for k in ("Q", "K", "V"))
        check_saved("file-striped", out, attention(Q, K, V, 0.25, True), {"layout": "striped", "causal": 1})

# ---- bad inputs: one clear error, the same code on every rank, nothing written ---------------------
with h5py.File(os.path.join(work, "three-d.h5"), "w") as f:  # 3-D (n, H, d) inputs are read; d disagrees
    f["Q"] = np.zeros((2, 8, 4))
    f["K"] = np.zeros((2, 8, 3))
    f["V"] = np.zeros((2, 8, 4))
with h5py.File(os.path.join(work, "four-d.h5"), "w") as f:
    f["Q"] = np.zeros((1, 8, 2, 4))
    f["K"] = np.zeros((1, 7, 2, 4))
    f["V"] = np.zeros((1, 8, 2, 4))
with h5py.File(os.path.join(work, "cross.h5"), "w") as f:
    f["Q"] = np.ones((8, 4))
    f["K"] = np.ones((6, 4))
    f["V"] = np.ones((6, 4))
bad = [
    ("kv-heads-not-dividing", ["--heads", "6", "--kv-heads", "4"], 2, "--kv-heads 4 must divide --heads 6"),
    ("ulysses-zigzag", ["--variant", "ulysses", "--layout", "zigzag", "--causal"], 2,
     "--layout zigzag does not apply to --variant ulysses"),
    ("unknown-layout", ["--layout", "diagonal"], 2, "--layout"),
    ("heads-with-input", ["--input", os.path.join(work, "cross.h5"), "--heads", "2"], 2, "--heads"),
    ("causal-cross-attention", ["--input", os.path.join(work, "cross.h5"), "--causal"], 2,
     "--causal needs as many keys as queries"),
    ("three-d-shapes-disagree", ["--input", os.path.join(work, "three-d.h5")], 3, "three-d.h5"),
    ("four-d-shapes-disagree", ["--input", os.path.join(work, "four-d.h5")], 3, "four-d.h5"),
    ("causal-with-poly", ["--algo", "poly", "--causal"], 2, "--causal"),
]
for label, extra, code, needle in bad:
    out = os.path.join(work, label + ".h5")
    synthetic_args = [] if "--input" in extra else ["--n", "16", "--d", "4"]
    r = run(label, ["attention"] + synthetic_args + ["--reps", "1", "--quiet", "--out", out] + extra, code)
    if r is None:
        continue
    chk.check(needle in r.stderr + r.stdout, "%s: message does not name %r:\n%s" % (label, needle, r.stderr[-1500:]))
    chk.check(not os.path.exists(out) and not os.path.exists(out + ".partial"), "%s: an archive was written" % label)

sys.exit(chk.finish())
