#!/usr/bin/python3
"""Clustered (peaked-attention) Q, K, V for the accuracy-vs-cost study (kde-accuracy.toml).

  clustered_qkv.py --n 8192 --d 64 --clusters 16 --radius 6 --out FILE.h5

Keys and queries sit near `clusters` random centres of norm `radius` (Gaussian spread `spread` x
radius / sqrt(d) per coordinate), so with the logit scale 1/sqrt(d) each query puts most of its
softmax mass on the keys of its own cluster: attention is peaked, not uniform as with the synthetic
[-B, B] inputs of `attnbench attention`. Rows are shuffled (clusters are not contiguous blocks of
the row distribution across ranks). V = v_mean + uniform[-1, 1] (non-zero mean, as in the KDEformer
and HyperAttention experiments: with zero-mean V the exact output is nearly 0 and relative errors
are meaningless). Writes /Q (n x d), /K (n x d), /V (n x dv) as float64; deterministic in --seed.
The study makes it at run time under results/<study>/ (nothing large is committed).
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
    ap.add_argument("--v-mean", type=float, default=1.0, help="mean of the entries of V")
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
    V = a.v_mean + rng.uniform(-1.0, 1.0, (a.n, dv))
    with h5py.File(a.out, "w") as f:
        f.create_dataset("Q", data=Q)
        f.create_dataset("K", data=K)
        f.create_dataset("V", data=V)
        f.attrs["generator"] = "inputs/studies/clustered_qkv.py"
        f.attrs["args"] = " ".join(sys.argv[1:] if argv is None else argv)
        for k in ("n", "d", "clusters", "radius", "spread", "v_mean", "seed"):
            f.attrs[k] = getattr(a, k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
