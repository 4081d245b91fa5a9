"""Reading attnbench run archives with h5py: schema_version 1 (attention only) and 2 (every kernel).

Shared by the study runner (is a run done?), `attnbench report` and `attnbench compare`. The
columns come from the archive itself: its problem_keys (root attributes that define the problem),
its /metrics and /validation attributes, and /validation primary_error (the error the summary and
the report show). For schema 1 the attention defaults apply (SCHEMA1_* below).

Nothing here trusts a stored summary that can be recomputed: median_time (and gflops) are
recomputed from the raw, Fletcher32-checksummed /timings/total and compared with the stored
attributes. Every way an archive can be unusable - not HDF5, a checksum error, a missing group or
attribute, an unknown schema_version, another suite or kernel, a stored summary that disagrees
with the raw timings - raises Damaged with a one-line reason; never a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

KNOWN_SCHEMAS = (1, 2)
SCHEMA1_PROBLEM_KEYS = ["n", "n_keys", "d", "dv", "scale", "scale_rule", "bound", "tile_q", "tile_k"]
SCHEMA1_SIZE_KEY = "n"
SCHEMA1_PRIMARY_ERROR = "rel_error"
SCHEMA1_CERTIFIED = ("poly", "exact")   # schema 1 has no `certified`: these algorithms have a bound
# A stored summary and its recomputation agree to rounding (they are the same float64 arithmetic).
SUMMARY_RTOL = 1e-9


class Damaged(Exception):
    """An archive that cannot be used; str() is the reason (the path is in .path)."""

    def __init__(self, path, reason: str):
        super().__init__(reason)
        self.path = str(path)
        self.reason = reason


@dataclasses.dataclass
class ArchiveState:
    exists: bool
    readable: bool = False
    valid: bool = False
    problem: str = ""   # why it is not readable, when it is not


def state(path, kernel: str | None = None) -> ArchiveState:
    """Is `path` a complete, undamaged attnbench archive (of `kernel`), and did its run validate?"""
    if not os.path.lexists(path):
        return ArchiveState(False)
    try:
        rec = read_run(path, kernel)
    except Damaged as e:
        return ArchiveState(True, problem=f"damaged: {e.reason}")
    return ArchiveState(True, True, bool(rec["valid"]))


def _s(v) -> str:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _s(v[()])
    return str(v)


def _scalar(v):
    """An attribute as a plain Python value (int, float or str)."""
    if isinstance(v, (bytes, str)):
        return _s(v)
    if isinstance(v, np.ndarray):
        if v.size != 1:
            raise ValueError(f"expected a scalar, got an array of shape {v.shape}")
        v = v.reshape(())[()]
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.bool_, bool)):
        return int(bool(v))
    return _s(v)


def _need(attrs, name: str, where: str):
    if name not in attrs:
        raise KeyError(f"missing attribute {where}{'' if where.endswith('/') else ' '}{name}")
    return _scalar(attrs[name])


def _median_candidates(x: np.ndarray) -> list[float]:
    """The median, and for an even count both middle values (a writer may take either)."""
    s = np.sort(x)
    m = len(s) // 2
    if len(s) % 2:
        return [float(s[m])]
    return [float(0.5 * (s[m - 1] + s[m])), float(s[m - 1]), float(s[m])]


def _close(a: float, b: float) -> bool:
    return a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= SUMMARY_RTOL * max(abs(a), abs(b)))


def read_run(path, kernel: str | None = None) -> dict:
    """One archive as a flat record (the columns of the study table). Raises Damaged."""
    try:
        import h5py
        with h5py.File(path, "r") as f:
            return _read(f, path, kernel)
    except Damaged:
        raise
    except OSError as e:
        text = str(e)
        low = text.lower()
        if "checksum" in low or "fletcher" in low:
            reason = f"checksum error (Fletcher32) while reading: {text}"
        elif "signature" in low or "file signature" in low or "not an hdf5" in low:
            reason = "not an HDF5 file (truncated, or not an archive)"
        else:
            reason = f"unreadable: {text}"
        raise Damaged(path, reason) from None
    except KeyError as e:
        raise Damaged(path, str(e.args[0]) if e.args else "missing key") from None
    except (ValueError, TypeError, IndexError, AttributeError, RuntimeError) as e:
        raise Damaged(path, f"malformed: {e}") from None


def _read(f, path, kernel: str | None) -> dict:
    a = f.attrs
    if _s(a.get("suite", "")) != "attnbench":
        raise Damaged(path, "foreign: not an attnbench archive (no suite = attnbench attribute)")
    if "schema_version" not in a:
        raise Damaged(path, "foreign: no schema_version attribute")
    try:
        schema = int(_scalar(a["schema_version"]))
    except (TypeError, ValueError):
        raise Damaged(path, f"foreign: schema_version {_s(a['schema_version'])!r} is not an integer") from None
    if schema not in KNOWN_SCHEMAS:
        raise Damaged(path, f"foreign: unknown schema_version {schema} (this reader knows "
                            + " and ".join(map(str, KNOWN_SCHEMAS)) + ")")
    kname = _s(a.get("kernel", "attention")) if schema == 1 else _need(a, "kernel", "/")
    if schema == 1 and kname != "attention":
        raise Damaged(path, f"foreign: schema_version 1 is attention only, but kernel = {kname!r}")
    if kernel is not None and kname != kernel:
        raise Damaged(path, f"foreign: kernel {kname!r}, but this study's kernel is {kernel!r}")
    for group in ("timings", "metrics", "validation"):
        if group not in f:
            raise Damaged(path, f"incomplete: group /{group} is missing")

    if schema == 1:
        problem_keys, size_key = list(SCHEMA1_PROBLEM_KEYS), SCHEMA1_SIZE_KEY
    else:
        problem_keys = [k.strip() for k in str(_need(a, "problem_keys", "/")).split(",") if k.strip()]
        size_key = str(_need(a, "size_key", "/"))
        if size_key not in problem_keys:
            raise Damaged(path, f"malformed: size_key {size_key!r} is not one of problem_keys {','.join(problem_keys)}")
    problem = {k: _need(a, k, "/") for k in problem_keys}
    ranks = int(_need(a, "ranks", "/"))

    # Raw timings, every dataset read in full (a checksum error surfaces here as OSError).
    timings = {}
    for name, ds in f["timings"].items():
        timings[name] = np.asarray(ds[()], dtype=np.float64)
    if "total" not in timings:
        raise Damaged(path, "incomplete: /timings/total is missing")
    total = timings["total"]
    if total.ndim != 2 or total.shape[0] < 1 or total.shape[1] != ranks:
        raise Damaged(path, f"malformed: /timings/total has shape {total.shape}, expected [reps, {ranks}]")
    if not np.all(np.isfinite(total)) or np.any(total < 0):
        raise Damaged(path, "malformed: /timings/total holds a negative or non-finite time")
    per_rep = total.max(axis=1)   # the slowest rank decides each repetition
    median_time = float(np.median(per_rep))

    m = f["metrics"].attrs
    metrics = {}
    for k, v in m.items():
        x = _scalar(v)
        if isinstance(x, (int, float)):
            metrics[k] = float(x)
    work_model = _s(m.get("work_model", ""))
    if "flops" not in metrics or "median_time" not in metrics:
        raise Damaged(path, "missing attribute /metrics " + ("flops" if "flops" not in metrics else "median_time"))
    stored = metrics["median_time"]
    if not any(_close(stored, c) for c in _median_candidates(per_rep)):
        raise Damaged(path, f"inconsistent: stored /metrics median_time = {stored:.6g} s, but /timings/total gives "
                            f"{median_time:.6g} s")
    flops = metrics["flops"]
    gflops = flops / stored * 1e-9 if stored > 0 else float("nan")
    if "gflops" in metrics and stored > 0 and not _close(metrics["gflops"], gflops):
        raise Damaged(path, f"inconsistent: stored /metrics gflops = {metrics['gflops']:.6g}, but flops / median_time "
                            f"gives {gflops:.6g}")
    for name in ("peak_rss_bytes", "kernel_buffer_bytes"):
        if name in f["metrics"]:
            metrics[name] = float(np.max(np.asarray(f["metrics"][name][()])))

    v = f["validation"].attrs
    errors, counts, notes = {}, {}, {}
    for k, x in v.items():
        x = _scalar(x)
        if k in ("valid", "certified", "primary_error"):
            continue
        if isinstance(x, float):
            errors[k] = x
        elif isinstance(x, int):
            counts[k] = x
        else:
            notes[k] = x
    tolerance = errors.pop("tolerance", float("nan"))
    valid = int(_need(a, "valid", "/"))
    if schema == 2:
        if int(_need(v, "valid", "/validation")) != valid:
            raise Damaged(path, "inconsistent: root valid and /validation valid disagree")
        certified = int(_need(v, "certified", "/validation"))
        primary = str(_need(v, "primary_error", "/validation"))
    else:
        certified = int(_s(a["algorithm"]) in SCHEMA1_CERTIFIED)
        primary = SCHEMA1_PRIMARY_ERROR
    if primary not in errors:
        raise Damaged(path, f"missing attribute /validation {primary} (the primary error)")

    params = {}
    if "parameters" in f:
        params = {k: _scalar(x) for k, x in f["parameters"].attrs.items()}
    prov = f["provenance"].attrs if "provenance" in f else {}
    comm = timings.get("comm_wait")
    comm_med = float(np.median(comm.max(axis=1))) if comm is not None and comm.ndim == 2 else float("nan")
    return {
        "schema_version": schema,
        "kernel": kname,
        "algorithm": _need(a, "algorithm", "/"),
        "variant": _s(a.get("variant", "")),
        "ranks": ranks,
        "threads_per_rank": int(_need(a, "threads_per_rank", "/")),
        "precision": str(_need(a, "precision", "/")),
        "seed": int(_need(a, "seed", "/")),
        "input": _s(a.get("input", "")),
        "reps": int(total.shape[0]),
        "valid": valid,
        "certified": certified,
        "problem_keys": problem_keys,
        "size_key": size_key,
        "problem": problem,
        "size": problem[size_key],
        "median_time": median_time,
        "min_time": float(per_rep.min()),
        "max_time": float(per_rep.max()),
        "comm_wait_median": comm_med,
        "phases": sorted(timings),
        "flops": flops,
        "gflops": gflops,
        "work_model": work_model,
        "metrics": metrics,
        "method": notes.pop("method", ""),
        "primary_error": primary,
        "error": errors[primary],
        "tolerance": tolerance,
        "errors": errors,
        "counts": counts,
        "notes": notes,
        "parameters": params,
        "git_sha": _s(prov.get("git_sha", "")),
        "slurm_job_id": _s(prov.get("slurm_job_id", "")),
        "created": _s(a.get("created", "")),
    }


def point_key(rec: dict) -> tuple:
    """What makes two runs the same benchmark point (for compare): everything but the results."""
    params = rec.get("parameters") or {}
    problem = rec.get("problem") or {}
    if isinstance(params, str):  # a study table stores them as JSON
        params = json.loads(params)
    if isinstance(problem, str):
        problem = json.loads(problem)
    params = tuple(sorted((k, str(v)) for k, v in params.items()))
    problem = tuple(sorted((k, str(v)) for k, v in problem.items()))
    return (rec["kernel"], rec["algorithm"], rec["variant"], problem, int(rec["ranks"]),
            int(rec["threads_per_rank"]), rec["precision"], params)


def describe_key(key: tuple) -> str:
    kernel, algo, variant, problem, ranks, threads, precision, params = key
    shown = "".join(f" {k}={v}" for k, v in problem)
    extra = "".join(f" {k}={v}" for k, v in params)
    return f"{kernel} {algo}{'/' + variant if variant else ''}{shown} ranks={ranks} threads={threads} {precision}{extra}"


def sort_key(key: tuple) -> tuple:
    kernel, algo, variant, problem, ranks, threads, precision, params = key
    return (kernel, precision, algo, variant, problem, ranks, threads, params)
