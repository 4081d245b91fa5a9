#!/usr/bin/python3
"""Clustered (peaked-attention) Q, K, V for the accuracy-vs-cost study (kde-accuracy.toml).

  clustered_qkv.py --n 8192 --d 64 --clusters 16 --radius 6 --out FILE.h5

Keys and queries sit near `clusters` random centres of norm `radius` (Gaussian spread `spread` x
radius / sqrt(d) per coordinate), so with the logit scale 1/sqrt(d) each query puts most of its
softmax mass on the keys of its own cluster: attention is peaked, not uniform as with the synthetic
[-B, B] inputs of `attnbench attention`. Rows are shuffled (clusters are not contiguous blocks of
the row distribution across ranks).

V is a fair target: each key cluster c has its own value centre u_c (standard normal,
dv entries), V = u_c(key) + noise * uniform[-1, 1], and then every column of V is centred, so
mean(V) = 0 exactly. The exact output of a query is then close to the value centre of its own
cluster (large), while a method that returns mean(V) for every row - what a near-uniform
attention estimate degenerates to - scores a relative error of 1 (with a non-zero-mean V, as
before, that trivial answer scored 7.9e-3 and made performer look good). --v-mean adds a constant
back, to reproduce the old, unfair target.

Also computes the exact output in float64 (blocks of rows) and stores, as attributes, the relative
spectral and Frobenius errors of that trivial answer (`mean_v_rel_spectral_error`, ...), which the
accuracy-vs-cost table prints as its reference line. Writes /Q (n x d), /K (n x d), /V (n x dv) as
float64; deterministic in --seed. The study makes it at run time under results/<study>/ (nothing
large is committed).
"""
import argparse
import os
import sys

import h5py
import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8192, help="rows of Q, K, V")
    ap.add_argument("--d", type=int, default=64, help="columns of Q and K")
    ap.add_argument("--dv", type=int, default=0, help="columns of V (default d)")
    ap.add_argument("--clusters", type=int, default=16, help="number of key/query clusters")
    ap.add_argument("--radius", type=float, default=6.0, help="norm of the cluster centres")
    ap.add_argument("--spread", type=float, default=0.3, help="within-cluster spread, relative to the radius")
    ap.add_argument("--v-noise", type=float, default=0.5, help="within-cluster noise of V (uniform amplitude)")
    ap.add_argument("--v-mean", type=float, default=0.0,
                    help="constant added to V after centring (default 0: the fair, zero-mean target)")
    ap.add_argument("--scale", type=float, default=0.0,
                    help="logit scale for the reference errors of mean(V) (default 1/sqrt(d), the study's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="HDF5 file to write (must not exist)")
    a = ap.parse_args(argv)
    if a.n < 1 or a.d < 1 or a.clusters < 1 or a.radius <= 0 or a.spread < 0:
        print("clustered_qkv.py: --n, --d, --clusters must be >= 1, --radius > 0, --spread >= 0", file=sys.stderr)
        return 2
    if os.path.exists(a.out):
        print(f"clustered_qkv.py: {a.out} exists", file=sys.stderr)
        return 2
    dv = a.dv or a.d
    rng = np.random.default_rng(a.seed)
    centres = rng.standard_normal((a.clusters, a.d))
    centres *= a.radius / np.linalg.norm(centres, axis=1, keepdims=True)
    sigma = a.spread * a.radius / np.sqrt(a.d)
    kc = rng.integers(0, a.clusters, a.n)
    qc = rng.integers(0, a.clusters, a.n)
    K = centres[kc] + sigma * rng.standard_normal((a.n, a.d))
    Q = centres[qc] + sigma * rng.standard_normal((a.n, a.d))
    value_centres = rng.standard_normal((a.clusters, dv))
    V = value_centres[kc] + a.v_noise * rng.uniform(-1.0, 1.0, (a.n, dv))
    V -= V.mean(axis=0)
    V += a.v_mean
    ref = trivial_errors(Q, K, V, a.scale or 1.0 / np.sqrt(a.d))
    with h5py.File(a.out, "w") as f:
        f.create_dataset("Q", data=Q)
        f.create_dataset("K", data=K)
        f.create_dataset("V", data=V)
        f.attrs["generator"] = "inputs/studies/clustered_qkv.py"
        f.attrs["args"] = " ".join(sys.argv[1:] if argv is None else argv)
        for k in ("n", "d", "clusters", "radius", "spread", "v_noise", "v_mean", "seed"):
            f.attrs[k] = getattr(a, k)
        for k, v in ref.items():
            f.attrs[k] = v
    print(f"clustered_qkv.py: {a.out}: returning mean(V) for every row scores relative spectral error "
          f"{ref['mean_v_rel_spectral_error']:.3g}, Frobenius {ref['mean_v_rel_frobenius_error']:.3g}")
    return 0


def exact_attention(Q, K, V, scale, block=1024):
    """softmax(scale Q K^T) V in float64, a block of query rows at a time (never n x n at once)."""
    out = np.empty((Q.shape[0], V.shape[1]))
    for i in range(0, Q.shape[0], block):
        s = scale * (Q[i:i + block] @ K.T)
        s -= s.max(axis=1, keepdims=True)
        w = np.exp(s)
        out[i:i + block] = (w @ V) / w.sum(axis=1, keepdims=True)
    return out


def trivial_errors(Q, K, V, scale) -> dict:
    """Errors of the trivial answer mean(V) on every row, against the exact output."""
    O = exact_attention(Q, K, V, scale)
    D = O - V.mean(axis=0)
    return {"mean_v_rel_spectral_error": float(np.linalg.norm(D, 2) / np.linalg.norm(O, 2)),
            "mean_v_rel_frobenius_error": float(np.linalg.norm(D) / np.linalg.norm(O)),
            "exact_output_rms": float(np.sqrt(np.mean(O * O)))}


if __name__ == "__main__":
    sys.exit(main())
