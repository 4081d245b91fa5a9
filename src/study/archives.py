"""Reading attnbench run archives (schema: README "Results archive", issue 2) with h5py.

Shared by the study runner (is a point done?), `attnbench report` and `attnbench compare`.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np


@dataclasses.dataclass
class ArchiveState:
    exists: bool
    readable: bool = False
    valid: bool = False
    problem: str = ""   # why it is not readable, when it is not


def state(path) -> ArchiveState:
    """Is `path` a complete attnbench archive, and did its run validate?"""
    if not os.path.exists(path):
        return ArchiveState(False)
    try:
        import h5py
        with h5py.File(path, "r") as f:
            if f.attrs.get("suite") not in ("attnbench", b"attnbench"):
                return ArchiveState(True, problem="not an attnbench archive (no suite=attnbench attribute)")
            for group in ("timings/total", "metrics", "validation"):
                if group not in f:
                    return ArchiveState(True, problem=f"incomplete archive: /{group} is missing")
            return ArchiveState(True, True, int(f.attrs["valid"]) == 1)
    except (OSError, KeyError, ValueError) as e:
        return ArchiveState(True, problem=f"unreadable: {e}")


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_run(path) -> dict:
    """One archive as a flat record (the columns of the study table). Raises OSError/KeyError."""
    import h5py
    with h5py.File(path, "r") as f:
        a, m, v, prov = f.attrs, f["metrics"].attrs, f["validation"].attrs, f["provenance"].attrs
        total = np.asarray(f["timings/total"])           # [reps, ranks]
        per_rep = total.max(axis=1)                      # the slowest rank decides
        comm = np.asarray(f["timings/comm_wait"]).max(axis=1) if "timings/comm_wait" in f else np.zeros_like(per_rep)
        params = {}
        if "parameters" in f:
            params = {k: (_s(x) if isinstance(x, (bytes, str)) else float(x)) for k, x in f["parameters"].attrs.items()}
        rec = {
            "kernel": _s(a.get("kernel", "attention")),
            "algorithm": _s(a["algorithm"]),
            "variant": _s(a["variant"]),
            "n": int(a["n"]),
            "d": int(a["d"]),
            "dv": int(a["dv"]),
            "ranks": int(a["ranks"]),
            "threads_per_rank": int(a["threads_per_rank"]),
            "precision": _s(a["precision"]),
            "scale": float(a["scale"]),
            "seed": int(a["seed"]),
            "reps": int(total.shape[0]),
            "median_time": float(m["median_time"]) if "median_time" in m else float(np.median(per_rep)),
            "min_time": float(per_rep.min()),
            "max_time": float(per_rep.max()),
            "comm_wait_median": float(np.median(comm)),
            "flops": float(m["flops"]),
            "gflops": float(m["gflops"]),
            "gemm_gflops": float(m["gemm_gflops"]),
            "gemm_fraction": float(m["gemm_fraction"]),
            "rel_error": float(v["rel_error"]),
            "max_abs_error": float(v["max_abs_error"]),
            "tolerance": float(v["tolerance"]),
            "valid": int(a["valid"]),
            "git_sha": _s(prov.get("git_sha", "")),
            "slurm_job_id": _s(prov.get("slurm_job_id", "")),
            "created": _s(a.get("created", "")),
            "parameters": params,
        }
    return rec


def point_key(rec: dict) -> tuple:
    """What makes two runs the same benchmark point (for compare): everything but the results."""
    params = rec.get("parameters") or {}
    if isinstance(params, str):  # a study table stores them as JSON
        params = json.loads(params)
    params = tuple(sorted((k, str(v)) for k, v in params.items()))
    return (rec["kernel"], rec["algorithm"], rec["variant"], rec["n"], rec["d"], rec["dv"], rec["ranks"],
            rec["threads_per_rank"], rec["precision"], params)


def describe_key(key: tuple) -> str:
    kernel, algo, variant, n, d, dv, ranks, threads, precision, params = key
    extra = "".join(f" {k}={v}" for k, v in params)
    return f"{algo}/{variant} n={n} d={d} ranks={ranks} threads={threads} {precision}{extra}"
