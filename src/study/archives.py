"""Reading attnbench run archives with h5py: schema_version 1 (attention only) and 2 (every kernel).

read_run() is the one place an archive is read, for the study runner (is a run done?), `attnbench
report` (and its study plots, src/report/plot_studies.py and plot_history.py) and `attnbench
compare`: nothing else opens a run archive. The columns come from the archive itself: its
problem_keys (root attributes that define the problem), its /metrics and /validation attributes,
and /validation primary_error (the error the summary and the report show). For schema 1 the
attention defaults apply (SCHEMA1_* below).

Nothing here trusts an archive it has not checked:
- every dataset is read in full (chunk by chunk), so HDF5 verifies every Fletcher32 checksum,
  /output and /history included, and a damaged chunk names its dataset;
- types, shapes and values are checked where the tools use them: /timings/<phase> [rows, ranks]
  finite and >= 0; /history/<name> one column, non-empty, all of one length; the size key, ranks,
  threads, seed, valid and certified of the right type; flops finite and >= 0;
- a run that says it is valid must be what the harness calls valid: every /validation error and
  the tolerance finite (the harness makes a run with a non-finite error INVALID), and every float
  in /output and /history finite;
- median_time (and gflops) are recomputed from the raw /timings/total and compared with the
  stored attributes; a run without a work model (flops = 0, e.g. uniform sampling) has no rate
  (gflops and the GEMM fractions NaN), never a division by zero.
Every way an archive can be unusable - not HDF5, a checksum error, a missing group or attribute,
a wrong type or shape, an unknown schema_version, another suite or kernel, a stored summary that
disagrees with the raw timings, a valid run with a non-finite error - raises Damaged with a
one-line reason; never a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

import described

KNOWN_SCHEMAS = (1, 2)
SCHEMA1_PROBLEM_KEYS = ["n", "n_keys", "d", "dv", "scale", "scale_rule", "bound", "tile_q", "tile_k"]
SCHEMA1_SIZE_KEY = "n"
SCHEMA1_PRIMARY_ERROR = "rel_error"
SCHEMA1_CERTIFIED = ("poly", "exact")   # schema 1 has no `certified`: these algorithms have a bound
# A stored summary and its recomputation agree to rounding (they are the same float64 arithmetic).
SUMMARY_RTOL = 1e-9
# Rate metrics that are flops / time: meaningless without a work model (flops = 0).
RATE_METRICS = ("gflops", "gemm_fraction", "gemm_peak_fraction")
# Rows of a contiguous (unchunked, so unchecksummed) dataset read at a time: bounded memory.
BLOCK_ELEMENTS = 1 << 20


class Damaged(Exception):
    """An archive that cannot be used; str() is the reason (the path is in .path)."""

    def __init__(self, path, reason: str):
        super().__init__(reason)
        self.path = str(path)
        self.reason = reason


# The verdict of a run (the root attribute `state`) is the binary's: its run states (`attnbench
# --describe`, "run_states"; core/run_record.hpp) name VALID (bounded by a certificate or
# tolerance), UNCERTIFIED (valid in the only sense a baseline has - finite, consistent output - with
# nothing bounding its error: exit ok, not a failure, but not a pass either) and INVALID.
def ok_states() -> tuple[str, ...]:
    """The states of runs that count as done (those that end with exit code ok)."""
    return described.ok_states()


def run_state(valid, certified) -> str:
    return described.state(valid, certified)


@dataclasses.dataclass
class ArchiveState:
    exists: bool
    readable: bool = False
    valid: bool = False
    problem: str = ""   # why it is not readable, when it is not
    certified: bool = False


def state(path, kernel: str | None = None) -> ArchiveState:
    """Is `path` a complete, undamaged attnbench archive (of `kernel`), and did its run validate?"""
    if not os.path.lexists(path):
        return ArchiveState(False)
    try:
        rec = read_run(path, kernel)
    except Damaged as e:
        return ArchiveState(True, problem=f"damaged: {e.reason}")
    return ArchiveState(True, True, bool(rec["valid"]), certified=bool(rec["certified"]))


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


def _need_int(attrs, name: str, where: str, lo: int, hi: int | None = None) -> int:
    """An integer attribute in [lo, hi]; a float, a string or a value out of range is malformed."""
    v = _need(attrs, name, where)
    if not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise Damaged(None, f"malformed: attribute {where}{'' if where.endswith('/') else ' '}{name} = {v!r} "
                            f"is not an integer {rng}")
    return v


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
    """One archive as a flat record (the columns of the study table), checked as the module says.
    Raises Damaged."""
    try:
        import h5py
        with h5py.File(path, "r") as f:
            return _read(f, path, kernel)
    except Damaged as e:
        raise Damaged(path, e.reason) from None
    except OSError as e:
        text = str(e)
        low = text.lower()
        if "signature" in low or "file signature" in low or "not an hdf5" in low:
            reason = "not an HDF5 file (truncated, or not an archive)"
        else:
            reason = f"unreadable: {text}"
        raise Damaged(path, reason) from None
    except KeyError as e:
        raise Damaged(path, str(e.args[0]) if e.args else "missing key") from None
    except (ValueError, TypeError, IndexError, AttributeError, RuntimeError, OverflowError) as e:
        raise Damaged(path, f"malformed: {e}") from None


# ---- datasets ----------------------------------------------------------------------------------

def _blocks(ds):
    """The dataset's values, one stored chunk at a time (each chunk's Fletcher32 is verified when
    it is read); an unchunked dataset (no filters, nothing to verify) in bounded row blocks."""
    if ds.shape is None or ds.size == 0:
        return
    if ds.shape == ():
        yield np.asarray(ds[()])
    elif ds.chunks:
        for sel in ds.iter_chunks():
            yield np.asarray(ds[sel])
    else:
        row = max(1, ds.size // ds.shape[0])
        step = max(1, BLOCK_ELEMENTS // row)
        for i in range(0, ds.shape[0], step):
            yield np.asarray(ds[i:i + step])


def _read_datasets(f, keep=("timings", "history", "metrics")) -> tuple[dict, set]:
    """Read every dataset of the file in full. Returns (name -> array for the datasets under the
    groups in `keep`, the names of datasets holding a non-finite float). Raises Damaged naming the
    dataset that cannot be read (a checksum error, most likely)."""
    import h5py
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    kept, non_finite = {}, set()
    for name in sorted(names):
        ds = f[name]
        keep_it = name.split("/", 1)[0] in keep
        parts = []
        try:
            for block in _blocks(ds):
                if block.dtype.kind in "fc" and not np.all(np.isfinite(block)):
                    non_finite.add(name)
                if keep_it:
                    parts.append(block)
        except OSError as e:
            low = str(e).lower()
            what = ("checksum error (Fletcher32)" if "checksum" in low or "fletcher" in low
                    else "read error (a damaged chunk or filter)")
            raise Damaged(None, f"{what} in dataset /{name}: {e}") from None
        if keep_it:
            kept[name] = _assemble(ds, parts)
    return kept, non_finite


def _assemble(ds, parts: list) -> np.ndarray:
    """The whole dataset from the blocks _blocks() read (a second, unfiltered read is not needed:
    small groups only)."""
    if ds.shape is None or ds.size == 0 or not parts:
        return np.zeros(ds.shape or (0,), dtype=ds.dtype)
    if ds.shape == ():
        return parts[0]
    out = np.empty(ds.shape, dtype=ds.dtype)
    if ds.chunks:
        for sel, block in zip(ds.iter_chunks(), parts):
            out[sel] = block
    else:
        out[:] = np.concatenate(parts, axis=0)
    return out


def _numeric(data: dict, group: str):
    """(name, float64 array) of every numeric dataset under /<group>; another type is malformed."""
    for name, x in data.items():
        if name.startswith(group + "/"):
            if x.dtype.kind not in "iuf":
                raise Damaged(None, f"malformed: /{name} is not numeric ({x.dtype})")
            yield name[len(group) + 1:], x.astype(np.float64)


def _timings(data: dict, ranks: int) -> dict:
    """/timings/<phase> as float64 [rows, ranks] (reps rows; set-up phases may have one row)."""
    out = {}
    for phase, x in _numeric(data, "timings"):
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != ranks:
            raise Damaged(None, f"malformed: /timings/{phase} has shape {x.shape}, expected [reps, {ranks}]")
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise Damaged(None, f"malformed: /timings/{phase} holds a negative or non-finite time")
        out[phase] = x
    if "total" not in out:
        raise Damaged(None, "incomplete: /timings/total is missing")
    return out


def _history(data: dict) -> dict:
    """/history/<name> as 1-D float64 arrays: one column each, non-empty, all of one length (one
    row per iteration, row 0 = the start)."""
    out = {}
    for key, x in _numeric(data, "history"):
        if not (x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)):
            raise Damaged(None, f"malformed: /history/{key} has shape {x.shape}, expected one column")
        if x.shape[0] < 1:
            raise Damaged(None, f"malformed: /history/{key} is empty (row 0, the start, is always recorded)")
        out[key] = x.ravel()
    if len({len(v) for v in out.values()}) > 1:
        raise Damaged(None, "malformed: the /history datasets have different lengths ("
                            + ", ".join(f"{k} {len(v)}" for k, v in sorted(out.items())) + ")")
    return out


def _metric_datasets(data: dict, ranks: int) -> dict:
    """/metrics/<name> datasets (peak_rss_bytes, kernel_buffer_bytes: one value per rank): the
    largest value over ranks."""
    out = {}
    for key, x in _numeric(data, "metrics"):
        if x.ndim != 1 or len(x) != ranks or not np.all(np.isfinite(x)) or np.any(x < 0):
            raise Damaged(None, f"malformed: /metrics/{key} must be {ranks} finite values >= 0 (one per rank), "
                                f"got shape {x.shape}")
        out[key] = float(np.max(x))
    return out


# ---- the record --------------------------------------------------------------------------------

def _identity(f, path, kernel: str | None) -> tuple[int, str]:
    """(schema_version, kernel name) of an attnbench archive; Damaged if it is foreign."""
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
    kname = _s(a.get("kernel", "attention")) if schema == 1 else str(_need(a, "kernel", "/"))
    if schema == 1 and kname != "attention":
        raise Damaged(path, f"foreign: schema_version 1 is attention only, but kernel = {kname!r}")
    if kernel is not None and kname != kernel:
        raise Damaged(path, f"foreign: kernel {kname!r}, but this study's kernel is {kernel!r}")
    for group in ("timings", "metrics", "validation"):
        if group not in f:
            raise Damaged(path, f"incomplete: group /{group} is missing")
    return schema, kname


def _problem(a, schema: int) -> tuple[list, str, dict]:
    """(problem_keys, size_key, problem attributes); the size must be a finite positive number."""
    if schema == 1:
        problem_keys, size_key = list(SCHEMA1_PROBLEM_KEYS), SCHEMA1_SIZE_KEY
    else:
        problem_keys = [k.strip() for k in str(_need(a, "problem_keys", "/")).split(",") if k.strip()]
        size_key = str(_need(a, "size_key", "/"))
        if size_key not in problem_keys:
            raise Damaged(None, f"malformed: size_key {size_key!r} is not one of problem_keys {','.join(problem_keys)}")
    problem = {k: _need(a, k, "/") for k in problem_keys}
    size = problem[size_key]
    if isinstance(size, str) or not (math.isfinite(size) and size > 0):
        raise Damaged(None, f"malformed: the size attribute /{size_key} = {size!r} is not a positive number")
    return problem_keys, size_key, problem


def _rates(m, metrics: dict, per_rep: np.ndarray) -> tuple[float, float]:
    """(flops, gflops) after checking the stored median_time and gflops against /timings/total.
    Without a work model (flops = 0) there is no rate: gflops and the GEMM fractions are NaN."""
    if "flops" not in metrics or "median_time" not in metrics:
        raise Damaged(None, "missing attribute /metrics " + ("flops" if "flops" not in metrics else "median_time"))
    flops, stored = metrics["flops"], metrics["median_time"]
    if not (math.isfinite(flops) and flops >= 0):
        raise Damaged(None, f"malformed: /metrics flops = {flops!r} is not a finite number >= 0")
    if not any(_close(stored, c) for c in _median_candidates(per_rep)):
        raise Damaged(None, f"inconsistent: stored /metrics median_time = {stored:.6g} s, but /timings/total gives "
                            f"{float(np.median(per_rep)):.6g} s")
    if flops == 0 or not stored > 0:
        for k in RATE_METRICS:
            if k in metrics:
                metrics[k] = float("nan")
        return flops, float("nan")
    gflops = flops / stored * 1e-9
    if "gflops" in metrics and not _close(metrics["gflops"], gflops):
        raise Damaged(None, f"inconsistent: stored /metrics gflops = {metrics['gflops']:.6g}, but flops / median_time "
                            f"gives {gflops:.6g}")
    return flops, gflops


def _validation(f, a, schema: int, valid: int) -> dict:
    """The verdict: errors (floats), counts (ints), notes (strings), certified, the primary error.
    A valid run's errors and tolerance are finite (the harness's rule)."""
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
    if schema == 2:
        if _need_int(v, "valid", "/validation", 0, 1) != valid:
            raise Damaged(None, "inconsistent: root valid and /validation valid disagree")
        certified = _need_int(v, "certified", "/validation", 0, 1)
        primary = str(_need(v, "primary_error", "/validation"))
    else:
        certified = int(_s(a["algorithm"]) in SCHEMA1_CERTIFIED)
        primary = SCHEMA1_PRIMARY_ERROR
    if primary not in errors:
        raise Damaged(None, f"missing attribute /validation {primary} (the primary error)"
                      + (f" (it is {type(_scalar(v[primary])).__name__}, not a float)" if primary in v else ""))
    bad = sorted(k for k, x in errors.items() if not math.isfinite(x))
    if valid and bad:
        raise Damaged(None, "inconsistent: valid = 1, but /validation " + ", ".join(bad)
                            + (" is" if len(bad) == 1 else " are") + " not finite (a non-finite error is never valid)")
    tolerance = errors.pop("tolerance", float("nan"))
    return {"errors": errors, "counts": counts, "notes": notes, "certified": certified, "primary": primary,
            "tolerance": tolerance}


def _flat_attrs(f) -> dict:
    """Root, /parameters, /validation and /metrics attributes, flattened ('', 'param.', 'val.',
    'met.' prefixes), as plain values (for the study plots)."""
    out = {}
    for prefix, group in (("", f), ("param.", f.get("parameters")), ("val.", f.get("validation")),
                          ("met.", f.get("metrics"))):
        if group is None:
            continue
        for k, v in group.attrs.items():
            try:
                out[prefix + k] = _scalar(v)
            except ValueError:   # an array attribute: kept as a list
                out[prefix + k] = np.asarray(v).tolist()
    return out


def _read(f, path, kernel: str | None) -> dict:
    schema, kname = _identity(f, path, kernel)
    a = f.attrs
    problem_keys, size_key, problem = _problem(a, schema)
    ranks = _need_int(a, "ranks", "/", 1)
    valid = _need_int(a, "valid", "/", 0, 1)

    # Every dataset, read in full (a checksum error anywhere surfaces here, naming the dataset).
    data, non_finite = _read_datasets(f)
    timings = _timings(data, ranks)
    history = _history(data)
    total = timings["total"]
    per_rep = total.max(axis=1)   # the slowest rank decides each repetition
    if valid:
        bad = sorted(n for n in non_finite if n.split("/", 1)[0] in ("output", "history"))
        if bad:
            raise Damaged(path, "inconsistent: valid = 1, but /" + ", /".join(bad) + " hold(s) a non-finite value")

    m = f["metrics"].attrs
    metrics = {}
    for k, v in m.items():
        x = _scalar(v)
        if isinstance(x, (int, float)):
            metrics[k] = float(x)
    flops, gflops = _rates(m, metrics, per_rep)
    metrics.update(_metric_datasets(data, ranks))
    val = _validation(f, a, schema, valid)
    # The state from valid and certified, the attributes every schema has (the root `state` the
    # harness writes since UNCERTIFIED exists says the same; archives before it have none).
    state = run_state(valid, val["certified"])

    params = {}
    if "parameters" in f:
        params = {k: _scalar(x) for k, x in f["parameters"].attrs.items()}
    prov = f["provenance"].attrs if "provenance" in f else {}
    comm = timings.get("comm_wait")
    comm_med = float(np.median(comm.max(axis=1))) if comm is not None else float("nan")
    phases = {k: float(np.median(x.max(axis=1))) for k, x in timings.items()}
    return {
        "schema_version": schema,
        "kernel": kname,
        "algorithm": str(_need(a, "algorithm", "/")),
        "variant": _s(a.get("variant", "")),
        "ranks": ranks,
        "threads_per_rank": _need_int(a, "threads_per_rank", "/", 1),
        "precision": str(_need(a, "precision", "/")),
        "seed": _need_int(a, "seed", "/", -(1 << 63)),
        "input": _s(a.get("input", "")),
        "reps": int(total.shape[0]),
        "valid": valid,
        "certified": val["certified"],
        "state": state,
        "problem_keys": problem_keys,
        "size_key": size_key,
        "problem": problem,
        "size": problem[size_key],
        "median_time": float(np.median(per_rep)),
        "min_time": float(per_rep.min()),
        "max_time": float(per_rep.max()),
        "comm_wait_median": comm_med,
        "phases": phases,
        "flops": flops,
        "gflops": gflops,
        "work_model": _s(m.get("work_model", "")),
        "metrics": metrics,
        "method": val["notes"].pop("method", ""),
        "primary_error": val["primary"],
        "error": val["errors"][val["primary"]],
        "tolerance": val["tolerance"],
        "errors": val["errors"],
        "counts": val["counts"],
        "notes": val["notes"],
        "parameters": params,
        "history": history,
        "attrs": _flat_attrs(f),
        "git_sha": _s(prov.get("git_sha", "")),
        "slurm_job_id": _s(prov.get("slurm_job_id", "")),
        "created": _s(a.get("created", "")),
    }


def _typed(text: str, typ: str):
    """A declared default as the value an archive would hold."""
    return int(text) if typ in ("int64", "uint64") else float(text) if typ == "float64" else text


def _point_and_tuning(rec: dict, contract: list | None) -> tuple[dict, dict, dict]:
    """(point problem keys, point parameters, tuning keys) of a run record. Without a contract
    every stored problem key and parameter is a point key. With the kernel's archive contract (the
    keys of `attnbench <kernel> --describe`, studyfile.Kernel.archive): point keys only, a point or
    tuning key an older archive lacks taking its declared default; tuning keys apart; results
    (derived constants) and run keys left out; a key the contract does not know stays a point key."""
    params = rec.get("parameters") or {}
    problem = rec.get("problem") or {}
    if isinstance(params, str):  # a study table stores them as JSON
        params = json.loads(params)
    if isinstance(problem, str):
        problem = json.loads(problem)
    if contract is None:
        return dict(problem), dict(params), {}
    algo = rec.get("algorithm")
    declared = {}
    for k in contract:
        if not k.get("algorithms") or algo in k["algorithms"]:
            declared.setdefault((k["group"], k["name"]), k)
    out = ({}, {}, {})
    for group, values in (("/", dict(problem)), ("/parameters", dict(params))):
        for (g, name), k in declared.items():
            if g == group and name not in values and "default" in k and k.get("role") in ("point", "tuning"):
                values[name] = _typed(k["default"], k.get("type", "string"))
        for name, v in values.items():
            role = declared.get((group, name), {}).get("role", "point")
            if role == "point":
                out[0 if group == "/" else 1][name] = v
            elif role == "tuning":
                out[2][name] = v
    return out


def point_key(rec: dict, contract: list | None = None) -> tuple:
    """What makes two runs the same benchmark point (for compare): everything but the results, or,
    with the kernel's archive contract, its point keys (see _point_and_tuning)."""
    problem, params, _ = _point_and_tuning(rec, contract)
    params = tuple(sorted((k, str(v)) for k, v in params.items()))
    problem = tuple(sorted((k, str(v)) for k, v in problem.items()))
    return (rec["kernel"], rec["algorithm"], rec["variant"], problem, int(rec["ranks"]),
            int(rec["threads_per_rank"]), rec["precision"], params)


def tuning_key(rec: dict, contract: list | None) -> tuple:
    """The run's tuning keys ((name, value) sorted; empty without a contract): how the point was run
    (tile, block, grid sizes), which compare reports beside the comparison."""
    return tuple(sorted((k, str(v)) for k, v in _point_and_tuning(rec, contract)[2].items()))


def describe_key(key: tuple) -> str:
    kernel, algo, variant, problem, ranks, threads, precision, params = key
    shown = "".join(f" {k}={v}" for k, v in problem)
    extra = "".join(f" {k}={v}" for k, v in params)
    return f"{kernel} {algo}{'/' + variant if variant else ''}{shown} ranks={ranks} threads={threads} {precision}{extra}"


def sort_key(key: tuple) -> tuple:
    kernel, algo, variant, problem, ranks, threads, precision, params = key
    return (kernel, precision, algo, variant, problem, ranks, threads, params)
