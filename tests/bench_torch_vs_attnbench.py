#!/usr/bin/python3
"""PyTorch CPU attention vs attnbench exact attention, in one script run.

PyTorch (Debian's python3-torch), one thread, fp32, the unfused softmax(Q K^T s) V and its causal
form (the n x n score matrix is materialized: O(n^2) memory), against bench_mha (one rank, one
thread, fp32, O(n) memory) on the same shape. Medians of --reps runs each; the machine may be
shared, so only the ratio measured here means anything.

Usage: bench_torch_vs_attnbench.py --bench build/release/tests/bench_mha [--n 16384] [--d 64] [--reps 3]
"""
import argparse
import os
import resource
import statistics
import subprocess
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--bench", required=True)
ap.add_argument("--n", type=int, default=16384)
ap.add_argument("--d", type=int, default=64)
ap.add_argument("--reps", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(1)
n, d = a.n, a.d
s = 1.0 / d ** 0.5
g = torch.Generator().manual_seed(0)
Q, K, V = (torch.rand(n, d, generator=g, dtype=torch.float32) * 2 - 1 for _ in range(3))
mask = None


def naive(causal):
    S = (Q @ K.T) * s
    if causal:
        S = S.masked_fill(mask, float("-inf"))
    return torch.softmax(S, dim=-1) @ V


results = {}
for causal in (False, True):
    if causal:
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    naive(causal)  # warm-up
    t = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        naive(causal)
        t.append(time.perf_counter() - t0)
    mask = None
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    out = subprocess.run([a.bench, "n=%d" % n, "d=%d" % d, "precision=single", "causal=%d" % causal,
                          "reps=%d" % a.reps], capture_output=True, text=True, env=env, check=True).stdout
    kv = dict(x.split("=", 1) for x in out.split() if "=" in x)
    tt, ta = statistics.median(t), float(kv["time"])
    print("n=%d d=%d fp32 causal=%d: pytorch %.3f s (peak RSS %.2f GiB, n x n scores), attnbench %.3f s "
          "(kernel buffers %.1f MiB), speedup %.2fx" % (n, d, causal, tt, torch_rss / 2**30, ta,
                                                        float(kv["buffer_bytes_per_rank"]) / 2**20, tt / ta))
