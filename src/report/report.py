#!/usr/bin/python3
"""attnbench report: consolidate a study's archives into one table, with plots.

  attnbench report results/<study> [--allow-incomplete] [--allow-invalid] [--no-plots]

Reads results/<study>/plan.json (written by `attnbench study run|submit`) and every
<point>/run<k>.h5 archive (schema_version 1 or 2, any kernel), then writes, in results/<study>/:
  study.h5        /runs: one row per planned run (status, parameters, times, rates, errors,
                  validity, speedup, efficiency); root attributes name the study and its mode
  study.csv       the same table
  study.md        the Markdown table that is also printed on stdout
  time.png        time vs cores with the ideal line of the scaling mode
  efficiency.png  parallel efficiency vs cores (strong or weak, as the mode says)
  rates.png       GFLOP/s and % of the same run's GEMM rate vs cores
                  (these three only when a curve has two core counts or more)
The columns come from the archives themselves: the kernel's problem keys (root problem_keys),
every numeric /metrics and /validation attribute, and /validation primary_error (the error the
table shows; runs whose error has no certificate say so). A study that declares `plot = "..."`
(inputs/studies/poly-transition.toml, kde-accuracy.toml) gets its own plot and table instead of the
three scaling plots (src/report/plot_studies.py); the layout study (inputs/studies/layout.toml) gets
layout-efficiency.png and layout-load-balance.png beside them. Archives that keep a per-iteration history
(/history/<name>: regress) add convergence.png (loss and relative gradient norm per iteration) and,
when a problem key or the rank count varies, phases.png (seconds per phase per iteration, with the
kernel's cost models) and their tables (src/report/plot_history.py). Runs recorded as DOES_NOT_FIT (attnbench's
does_not_fit exit code: over the memory budget, no archive) are listed, not treated as missing.

Every archive is checked before it is used, by one reader (src/study/archives.py read_run, which
reads every dataset in full): a checksum error in any dataset (/output and /history too), a
missing attribute, a wrong type or shape (a size that is not a number, an empty /history column),
an unknown schema_version, another kernel, a stored median_time/gflops that disagrees with the raw
/timings, or valid = 1 with a non-finite error or output makes the run DAMAGED (named, with the
reason). A run without a work model (flops = 0) has no rate (n/a, no efficiency or rate plot
from it). An archive whose problem (size, options
the plan passed, ranks, threads, algorithm) disagrees with plan.json is flagged PLAN MISMATCH.
Failed, invalid, damaged and mismatched runs are shown and flagged in the table and never used as
a baseline. The baseline of each curve is its point with the fewest cores that has a valid run.

Exit codes:
  0  report written; every planned run is VALID, UNCERTIFIED (valid, no certificate; counted apart)
     or DOES_NOT_FIT
  2  not a study folder, empty, or incomplete (a planned run has neither an archive nor a status
     saying it failed) -- nothing is written; --allow-incomplete reports what is there
  3  report written, and an archive is DAMAGED or foreign (named above the table)
  4  report written, and a run is INVALID, FAILED (TIMEOUT, CANCELLED, ...) or a PLAN MISMATCH
  --allow-invalid turns 3 and 4 into 0 (the table still flags every such run).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import math
import os
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean (it may be read-only)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "study"))
sys.path.insert(0, str(HERE))

import archives  # noqa: E402
import described  # noqa: E402
import plot_studies  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_DAMAGED, EXIT_INVALID = 0, 2, 3, 4
SCHEMA_VERSION = 2   # of study.h5
FAILED_STATES = ("FAILED", "TIMEOUT", "CANCELLED", "INVALID")   # a status file without an archive

MODE_TEXT = {
    "strong": ("strong scaling (fixed problem size)",
               "ideal time = T_base * cores_base / cores; efficiency = T_base * cores_base / (T * cores)"),
    "weak-memory": ("weak scaling, memory per rank constant",
                    "the size grows like p^(1/memory_exponent), so work per rank may grow; efficiency = "
                    "(flops/T/cores) / (flops_base/T_base/cores_base)"),
    "weak-compute": ("weak scaling, work per rank constant",
                     "the size grows like p^(1/work_exponent); ideal time is constant; efficiency = "
                     "(flops/T/cores) / (flops_base/T_base/cores_base) (= T_base/T up to rounding)"),
}

# Fixed columns of the study table: (name, kind, description). kind: i = int64 (-1: not known),
# f = float64 (NaN: not known), s = string. Then, from the archives: the problem keys, the other
# numeric /metrics attributes and the /validation errors and counts (see columns()).
BASE_COLUMNS = [
    ("point", "s", "point directory"), ("run", "i", "repetition k of run<k>.h5"),
    ("series", "s", "curve the point belongs to"),
    ("status", "s", "VALID, UNCERTIFIED (valid, no certificate), INVALID, FAILED, TIMEOUT, CANCELLED, DAMAGED or PLAN_MISMATCH"),
    ("reason", "s", "why a run is not VALID"), ("kernel", "s", ""), ("algorithm", "s", ""),
    ("variant", "s", ""), ("precision", "s", ""), ("size", "f", "the kernel's size key (size_key)"),
    ("ranks", "i", ""), ("threads_per_rank", "i", ""), ("cores", "i", "ranks x threads_per_rank"),
    ("reps", "i", "timed repetitions in the run"),
    ("median_time", "f", "s, median over reps of the slowest rank, recomputed from /timings/total"),
    ("min_time", "f", "s"), ("max_time", "f", "s"), ("comm_wait_median", "f", "s, exposed communication"),
    ("flops", "f", "work model"), ("gflops", "f", "flops / median_time"),
    ("primary_error", "s", "name of the error shown (/validation primary_error)"),
    ("error", "f", "value of the primary error"), ("tolerance", "f", "NaN: no tolerance"),
    ("valid", "i", "1 if the run validated"), ("certified", "i", "1 if the error is bounded by a certificate"),
    ("oversubscribed", "i", "1 if ranks x threads exceeded the cores (timing meaningless)"),
    ("speedup", "f", "rate / baseline rate (NaN without a valid baseline)"),
    ("efficiency", "f", "speedup * cores_base / cores"),
    ("baseline_point", "s", ""), ("seed", "i", ""), ("schema_version", "i", "of the run archive"),
    ("git_sha", "s", ""), ("slurm_job_id", "s", ""), ("created", "s", ""),
    ("problem", "s", "JSON of the problem attributes"), ("parameters", "s", "JSON of /parameters"),
    ("archive", "s", "relative path"),
]


class ReportError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_plan(sdir: Path) -> dict:
    if not sdir.is_dir():
        raise ReportError(f"'{sdir}' is not a directory")
    pfile = sdir / "plan.json"
    if not pfile.is_file():
        has_h5 = any(sdir.rglob("*.h5"))
        raise ReportError(f"'{sdir}' is not a study folder: no plan.json"
                          + (" (it has archives, but not from `attnbench study run|submit`)" if has_h5 else
                             " (empty, or not produced by `attnbench study run|submit`)"))
    try:
        plan = json.loads(pfile.read_text())
        for key in ("study", "mode", "points"):
            if key not in plan:
                raise KeyError(key)
        for p in plan["points"]:
            p.setdefault("repeat", 1)
            p["ranks"], p["name"], p["series"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ReportError(f"cannot read {pfile}: {type(e).__name__}: {e}") from None
    return plan


def read_status(path: Path) -> dict:
    try:
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return {}


def _arg_values(args: list) -> dict:
    """--name value pairs of a point's argument list (flags -> True)."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                out[a[2:]] = args[i + 1]
                i += 2
                continue
            out[a[2:]] = True
        i += 1
    return out


def plan_mismatch(p: dict, rec: dict, plan: dict) -> str:
    """How the archive disagrees with its point in plan.json ('' if it does not): the size, every
    problem attribute the plan passed as an option, ranks, threads, algorithm, precision, variant,
    kernel."""
    diffs = []
    if p.get("n") is not None and str(rec["size"]) != str(p["n"]):
        diffs.append(f"{rec['size_key']} = {rec['size']} in the archive, {p['n']} in plan.json")
    if int(rec["ranks"]) != int(p["ranks"]):
        diffs.append(f"ranks = {rec['ranks']} in the archive, {p['ranks']} in plan.json")
    if "threads" in p and int(rec["threads_per_rank"]) != int(p["threads"]):
        diffs.append(f"threads_per_rank = {rec['threads_per_rank']} in the archive, {p['threads']} in plan.json")
    args = _arg_values(p.get("args", []))
    aliases = {"fp64": "double", "fp32": "single", "float": "single"}   # spellings of --precision
    for opt, key in (("algo", "algorithm"), ("precision", "precision"), ("variant", "variant")):
        if opt in args and str(rec[key]) != aliases.get(str(args[opt]), str(args[opt])):
            diffs.append(f"{key} = {rec[key]} in the archive, {args[opt]} in plan.json")
    if plan.get("kernel") and rec["kernel"] != plan["kernel"]:
        diffs.append(f"kernel = {rec['kernel']} in the archive, {plan['kernel']} in plan.json")
    for key, value in rec["problem"].items():
        opt = key.replace("_", "-")
        if opt not in args or key == rec["size_key"]:
            continue
        given = args[opt]
        if given is True:   # a flag (e.g. --causal): the archive records it as 0/1
            ok = bool(value)
        elif isinstance(value, int):
            ok = str(value) == str(given)
        elif isinstance(value, float):
            try:
                ok = math.isclose(value, float(given), rel_tol=1e-12)
            except ValueError:   # e.g. --scale 1/d: the archive holds the number (scale_rule the rule)
                ok = True
        else:
            ok = str(value) == str(given)
        if not ok:
            diffs.append(f"{key} = {value} in the archive, {given} in plan.json")
    return "; ".join(diffs)


def _nan():
    return float("nan")


def empty_row(p: dict, k: int, plan: dict) -> dict:
    """A row for a run with no usable archive (failed or damaged): what the plan knows."""
    return {"point": p["name"], "run": k, "series": p["series"], "kernel": plan.get("kernel", "attention"),
            "algorithm": p.get("algorithm", "") or str(_arg_values(p.get("args", [])).get("algo", "")),
            "variant": "", "precision": str(_arg_values(p.get("args", [])).get("precision", "")),
            "size": float(p["n"]) if p.get("n") is not None else _nan(), "ranks": int(p["ranks"]),
            "threads_per_rank": int(p.get("threads", 1)), "cores": int(p["ranks"]) * int(p.get("threads", 1)),
            "reps": -1, "median_time": _nan(), "min_time": _nan(), "max_time": _nan(), "comm_wait_median": _nan(),
            "flops": _nan(), "gflops": _nan(), "primary_error": "", "error": _nan(), "tolerance": _nan(),
            "valid": 0, "certified": 0, "oversubscribed": int(bool(p.get("oversubscribed"))),
            "seed": -1, "schema_version": -1, "git_sha": "", "slurm_job_id": "", "created": "",
            "problem": "{}", "parameters": "{}", "archive": "", "usable": False,
            "extra": {}}


def collect(sdir: Path, plan: dict, allow_incomplete: bool, unfit: list | None = None) -> list[dict]:
    """One row per planned run that has an archive or a final status. Raises ReportError when
    nothing is there, or when runs are missing (not run yet) without allow_incomplete. Runs recorded
    as DOES_NOT_FIT (no archive) are results, not gaps: they go to `unfit`."""
    rows, missing = [], []
    kernel = plan.get("kernel", "attention")
    for p in plan["points"]:
        for k in range(int(p["repeat"])):
            pdir = sdir / p["name"]
            path = pdir / f"run{k}.h5"
            rel = str(path.relative_to(sdir))
            if not os.path.lexists(path):
                status = read_status(pdir / f"run{k}.status")
                st = status.get("state", "")
                if st == "DOES_NOT_FIT":
                    if unfit is not None:
                        unfit.append({"point": p["name"], "run": k, "case": p.get("case", ""), "args": p["args"],
                                      "n": p.get("n"), "ranks": p["ranks"], "reason": status.get("reason", "")})
                    continue
                if st in FAILED_STATES:
                    row = empty_row(p, k, plan)
                    row.update(status="FAILED" if st == "INVALID" else st,
                               reason=f"{st} (exit {status.get('exit_code', '?')}), no archive"
                               + (f": {status['reason']}" if status.get("reason") else ""),
                               slurm_job_id=status.get("slurm_job_id", ""))
                    rows.append(row)
                    continue
                unfinished = list(pdir.glob(f".run{k}.*.h5*")) + list(pdir.glob(f"run{k}.h5.partial"))
                missing.append(f"{rel}: " + ("unfinished (a temporary archive exists: running, or killed)"
                                             if unfinished else "missing (not run yet)"))
                continue
            try:
                rec = archives.read_run(path, kernel)
            except archives.Damaged as e:
                row = empty_row(p, k, plan)
                row.update(status="DAMAGED", reason=e.reason, archive=rel)
                rows.append(row)
                continue
            rec = dict(rec)
            mismatch = plan_mismatch(p, rec, plan)
            status = "PLAN_MISMATCH" if mismatch else rec["state"]
            reason = mismatch or ("" if rec["valid"] else "the run failed its validation (valid = 0)")
            extra = {}
            extra.update({k2: v for k2, v in rec["problem"].items()})
            extra.update({k2: v for k2, v in rec["metrics"].items() if k2 not in ("flops", "gflops", "median_time")})
            extra.update(rec["errors"])
            extra.update(rec["counts"])
            rows.append({
                # the problem attributes by name first (the study plots read r["n"]); fixed keys win
                **rec["problem"],
                "point": p["name"], "run": k, "series": p["series"], "status": status, "reason": reason,
                "kernel": rec["kernel"], "algorithm": rec["algorithm"], "variant": rec["variant"],
                "precision": rec["precision"], "size": float(rec["size"]), "size_key": rec["size_key"],
                "ranks": rec["ranks"], "threads_per_rank": rec["threads_per_rank"],
                "cores": rec["ranks"] * rec["threads_per_rank"], "reps": rec["reps"],
                "median_time": rec["median_time"], "min_time": rec["min_time"], "max_time": rec["max_time"],
                "comm_wait_median": rec["comm_wait_median"], "flops": rec["flops"], "gflops": rec["gflops"],
                "gemm_gflops": rec["metrics"].get("gemm_gflops", _nan()),
                "gemm_fraction": rec["metrics"].get("gemm_fraction", _nan()),
                "primary_error": rec["primary_error"], "error": rec["error"], "tolerance": rec["tolerance"],
                "valid": int(rec["valid"]) if not mismatch else 0, "certified": rec["certified"],
                "oversubscribed": int(bool(p.get("oversubscribed"))), "seed": rec["seed"],
                "schema_version": rec["schema_version"], "git_sha": rec["git_sha"],
                "slurm_job_id": rec["slurm_job_id"], "created": rec["created"],
                "problem": json.dumps(rec["problem"], sort_keys=True),
                "parameters": json.dumps(rec["parameters"], sort_keys=True), "archive": rel,
                "usable": not mismatch, "problem_keys": rec["problem_keys"], "extra": extra,
                "record": rec,   # the checked archive: the study and history plots read it, not the file
            })
    if not rows and not unfit:
        raise ReportError(f"'{sdir}' has no finished archives"
                          + (f" ({len(missing)} planned runs: " + "; ".join(missing[:3]) + ")" if missing else ""))
    if missing:
        total = len(missing) + len(rows) + (len(unfit) if unfit else 0)
        msg = f"'{sdir}' is incomplete: {len(missing)} of {total} planned runs have no archive yet:"
        msg += "".join(f"\n  {x}" for x in missing[:20]) + ("\n  ..." if len(missing) > 20 else "")
        if not allow_incomplete:
            raise ReportError(msg + "\nnothing was written; wait for the runs (or resume the study), or pass "
                              "--allow-incomplete to report what is there")
        log("warning: " + msg)
    return rows


def add_scaling(rows: list[dict]):
    """speedup and efficiency against each series' baseline: the valid point with the fewest cores
    (median rate over its valid runs). Invalid, failed, damaged runs are never baselines."""
    def rate(r):
        # A kernel without a work model (flops 0, e.g. uniform sampling) has no rate: no speedup.
        ok = r["median_time"] > 0 and r["flops"] > 0
        return r["flops"] / r["median_time"] if ok else float("nan")

    for r in rows:
        r.update(speedup=_nan(), efficiency=_nan(), baseline_point="")
    for series in {r["series"] for r in rows}:
        members = [r for r in rows if r["series"] == series and r["usable"]]
        valid = [r for r in members if r["valid"] and not r["oversubscribed"]]
        if not valid:
            continue
        base_cores = min(r["cores"] for r in valid)
        base_runs = [r for r in valid if r["cores"] == base_cores]
        base_rate = median([rate(r) for r in base_runs])
        if not (base_rate > 0):  # NaN or 0: nothing to normalize by
            continue
        for r in members:
            s = rate(r) / base_rate
            r.update(speedup=s, efficiency=s * base_cores / r["cores"], baseline_point=base_runs[0]["point"])


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def status_of(r):
    s = r["status"]
    if s in archives.ok_states():   # VALID, or UNCERTIFIED: valid output whose error nothing bounds
        return s + (" (oversubscribed)" if r["oversubscribed"] else "")
    if s == described.state(valid=False, certified=False):
        return "**INVALID**" + ("" if r["certified"] else " (no certificate)")
    if s == "PLAN_MISMATCH":
        return f"**PLAN MISMATCH**: {r['reason']}"
    return f"**{s}**: {r['reason']}"


def fmt(x, spec):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(plan: dict, rows: list[dict]) -> str:
    mode = plan["mode"]
    title, rule = MODE_TEXT[mode]
    out = io.StringIO()
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    size_key = plan.get("size_key") or next((r.get("size_key") for r in rows if r.get("size_key")), "size")
    errs = sorted({r["primary_error"] for r in rows if r["primary_error"]})
    err_head = errs[0] if len(errs) == 1 else "error (name)"
    has_gemm = any(not math.isnan(r.get("gemm_fraction", _nan())) for r in rows)
    out.write(f"## Study `{plan['study']}` (kernel {plan.get('kernel', 'attention')}): {title}\n\n")
    if plan.get("description"):
        out.write(f"{plan['description']}\n\n")
    out.write(f"{len(rows)} runs: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items()))
              + f". Baseline of each curve: its valid point with the fewest cores; {rule}.\n\n")
    out.write(f"| point | run | {size_key} | ranks | threads | precision | time (s) | GFLOP/s | "
              + ("% of GEMM | " if has_gemm else "") + f"speedup | efficiency | {err_head} | status |\n")
    out.write("|---|---:|---:|---:|---:|---|---:|---:|" + ("---:|" if has_gemm else "") + "---:|---:|---:|---|\n")
    for r in rows:
        err = fmt(r["error"], ".2e") + ("" if len(errs) <= 1 or not r["primary_error"] else f" ({r['primary_error']})")
        size = r["size"]
        size_txt = "n/a" if isinstance(size, float) and math.isnan(size) else f"{size:g}"
        out.write(f"| {r['point']} | {r['run']} | {size_txt} | {r['ranks']} | {r['threads_per_rank']} | "
                  f"{r['precision']} | {fmt(r['median_time'], '.4g')} | {fmt(r['gflops'], '.2f')} | "
                  + (f"{fmt(100 * r.get('gemm_fraction', _nan()), '.1f')} | " if has_gemm else "")
                  + f"{fmt(r['speedup'], '.2f')} | {fmt(100 * r['efficiency'], '.1f')}{'' if math.isnan(r['efficiency']) else '%'} | {err} | {status_of(r)} |\n")
    bad = [r for r in rows if r["status"] not in archives.ok_states()]
    if bad:
        out.write(f"\n{len(bad)} run(s) not VALID or UNCERTIFIED (shown, never used as a baseline):\n\n")
        for r in bad:
            out.write(f"- {r['point']}/run{r['run']}.h5: {r['status']}: {r['reason']}\n")
    uncert = [r for r in rows if r["status"] == described.state(valid=True, certified=False)]
    if uncert:
        out.write(f"\n{len(uncert)} run(s) UNCERTIFIED: no certificate bounds their error; it was measured, not "
                  "bounded (their output and errors are finite). Not a failure, not a pass.\n")
    return out.getvalue()


def columns(rows: list[dict]) -> list[tuple]:
    """The fixed columns, then every key the archives brought (problem keys, metrics, errors,
    counts), typed from their values."""
    cols = [c for c in BASE_COLUMNS]
    names = {c for c, _, _ in cols}
    extra = {}
    for r in rows:
        for k, v in r["extra"].items():
            extra.setdefault(k, []).append(v)
    for k in sorted(extra):
        if k in names:
            continue
        vals = extra[k]
        if all(isinstance(v, int) for v in vals):
            kind = "i"
        elif all(isinstance(v, (int, float)) for v in vals):
            kind = "f"
        else:
            kind = "s"
        cols.append((k, kind, "from the archives"))
        names.add(k)
    return cols


def cell(r: dict, name: str, kind: str):
    v = r.get(name, r["extra"].get(name))
    if v is None:
        return -1 if kind == "i" else (float("nan") if kind == "f" else "")
    if kind == "i":
        return int(v)
    if kind == "f":
        return float(v)
    return str(v)


def write_csv(path: Path, rows, cols):
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c for c, _, _ in cols])
        for r in rows:
            w.writerow([cell(r, c, k) for c, k, _ in cols])
    os.replace(tmp, path)


def write_h5(path: Path, plan: dict, rows, cols):
    import h5py
    import numpy as np

    fields = []
    for name, kind, _ in cols:
        if kind == "s":
            width = max([1] + [len(str(cell(r, name, kind)).encode()) for r in rows])
            fields.append((name, f"S{width}"))
        else:
            fields.append((name, "<i8" if kind == "i" else "<f8"))
    table = np.zeros(len(rows), dtype=np.dtype(fields))
    for i, r in enumerate(rows):
        table[i] = tuple(cell(r, c, k).encode() if k == "s" else cell(r, c, k) for c, k, _ in cols)
    tmp = path.with_name(path.name + ".partial")
    with h5py.File(tmp, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["suite"] = "attnbench"
        f.attrs["kind"] = "study"
        f.attrs["study"] = plan["study"]
        f.attrs["description"] = plan.get("description", "")
        f.attrs["kernel"] = plan.get("kernel", "attention")
        f.attrs["size_key"] = plan.get("size_key", "n")
        f.attrs["mode"] = plan["mode"]
        f.attrs["mode_description"] = " ; ".join(MODE_TEXT[plan["mode"]])
        f.attrs["created"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        f.attrs["n_runs"] = len(rows)
        f.attrs["n_invalid"] = sum(1 for r in rows if r["status"] not in archives.ok_states())
        f.attrs["n_uncertified"] = sum(1 for r in rows if r["status"] == described.state(valid=True, certified=False))
        f.attrs["n_damaged"] = sum(1 for r in rows if r["status"] == "DAMAGED")
        f.attrs["plan_json"] = json.dumps(plan)
        ds = f.create_dataset("runs", data=table, chunks=True, fletcher32=True)
        ds.attrs["columns"] = json.dumps({c: d for c, _, d in cols if d})
        ds.attrs["units"] = "times in seconds, rates in GFLOP/s; -1 / NaN / empty: not known"
    os.replace(tmp, path)


def ideal_times(pts, base, mode: str):
    """The ideal time of each point (cores, time, valid, flops) from the baseline point: its time
    scaled by the work ratio and the core ratio. Without a work model (flops 0: uniform sampling
    counts none) the ratio is unknown, except in strong scaling, where the problem is the same:
    then t0 c0 / c; otherwise None (no ideal line rather than a division by zero)."""
    c0, t0, _, f0 = base
    if f0 > 0 and all(f > 0 for *_, f in pts):
        return [(c, t0 * (f / f0) * (c0 / c)) for c, _, _, f in pts]
    if mode == "strong":
        return [(c, t0 * c0 / c) for c, *_ in pts]
    return None


def plot(sdir: Path, plan: dict, rows) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    mode = plan["mode"]
    title, _ = MODE_TEXT[mode]
    first_n = {}
    for r in rows:
        first_n[r["series"]] = min(r["size"], first_n.get(r["series"], r["size"]))
    series = sorted(first_n, key=lambda s: (first_n[s], s))
    cmap = plt.get_cmap("tab10")
    files = []

    def per_point(members, key):
        """(cores, value, valid) per point: median over valid runs, or over all if none is valid."""
        pts = {}
        for r in members:
            pts.setdefault(r["point"], []).append(r)
        out = []
        for runs in pts.values():
            ok = [r for r in runs if r["valid"] and not r["oversubscribed"]]
            use = ok or runs
            out.append((use[0]["cores"], median([r[key] for r in use]), bool(ok), median([r["flops"] for r in use])))
        return sorted(out)

    def decorate(ax, ylabel, logy=False):
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("cores (ranks x threads per rank)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        xs = sorted({r["cores"] for r in rows})
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if logy:
            lo, hi = ax.get_ylim()
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
            # Minor labels only when the axis spans less than a decade (they collide otherwise).
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.3g") if hi / lo < 10
                                         else matplotlib.ticker.NullFormatter())

    def line(ax, pts, i, label):
        """A curve through the valid points only; invalid ones get a red cross (mark_invalid)."""
        ok = [p for p in pts if p[2]]
        ax.plot([p[0] for p in ok], [p[1] for p in ok], "o-", color=cmap(i % 10), label=label)

    def invalid_legend(ax):
        if any(not r["valid"] for r in rows):
            ax.plot([], [], "x", color="red", mew=2.5, label="INVALID run")

    def mark_invalid(ax, pts):
        bad = [(c, v) for c, v, ok, _ in pts if not ok]
        if bad:
            ax.plot([c for c, _ in bad], [v for _, v in bad], "x", color="red", markersize=11, mew=2.5)

    # time vs cores, with the ideal line from each curve's baseline
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, s in enumerate(series):
        pts = per_point([r for r in rows if r["series"] == s], "median_time")
        line(ax, pts, i, s)
        base = [p for p in pts if p[2]]
        ideal = ideal_times(pts, base[0], mode) if base else None
        if ideal:
            ax.plot([c for c, _ in ideal], [t for _, t in ideal], "--", color=cmap(i % 10), alpha=0.6)
        mark_invalid(ax, pts)
    ax.plot([], [], "k--", alpha=0.6, label="ideal")
    if any(not r["valid"] for r in rows):
        ax.plot([], [], "x", color="red", mew=2.5, label="INVALID run")
    decorate(ax, "time per run (s, median)", logy=True)
    ax.set_title(f"{plan['study']}: time vs cores\n{title}", fontsize=10)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    files.append(plot_studies.save_figure(fig, sdir / "time.png"))

    # Efficiency and rates need a work model: a kernel that counts no flops (uniform sampling)
    # has neither, and an axis of NaN cannot be drawn (a log axis without data raises).
    def finite(key):
        return any(math.isfinite(r[key]) for r in rows)

    if finite("efficiency"):
        # parallel efficiency
        fig, ax = plt.subplots(figsize=(9, 5))
        for i, s in enumerate(series):
            pts = per_point([r for r in rows if r["series"] == s], "efficiency")
            line(ax, [(c, 100 * v, ok, f) for c, v, ok, f in pts], i, s)
            mark_invalid(ax, [(c, 100 * v, ok, f) for c, v, ok, f in pts])
        ax.axhline(100, color="k", ls="--", alpha=0.6, label="ideal")
        invalid_legend(ax)
        decorate(ax, "parallel efficiency (%)")
        ax.set_ylim(bottom=0)
        label = {"strong": "strong-scaling efficiency T_base*c_base/(T*c)",
                 "weak-memory": "weak-scaling (n/p const) efficiency, work-normalized",
                 "weak-compute": "weak-scaling (n^2/p const) efficiency, work-normalized"}[mode]
        ax.set_title(f"{plan['study']}: {label}", fontsize=10)
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
        files.append(plot_studies.save_figure(fig, sdir / "efficiency.png"))
    else:
        log("efficiency.png skipped: no run has a work model (flops = 0), so there is no rate to compare")

    if finite("gflops"):
        # rates
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
        for i, s in enumerate(series):
            members = [r for r in rows if r["series"] == s]
            pts = per_point(members, "gflops")
            line(ax1, pts, i, s)
            mark_invalid(ax1, pts)
            pts = [x for x in per_point(members, "gemm_fraction") if not math.isnan(x[1])]
            line(ax2, [(c, 100 * v, ok, f) for c, v, ok, f in pts], i, s)
            mark_invalid(ax2, [(c, 100 * v, ok, f) for c, v, ok, f in pts])
        decorate(ax1, "GFLOP/s (the kernel's work model)")
        decorate(ax2, "% of the same run's GEMM rate x cores")
        ax1.set_ylim(bottom=0)
        ax2.set_ylim(0, max([110.0] + [105.0 * r["gemm_fraction"] for r in rows if not math.isnan(r["gemm_fraction"])]))
        ax1.set_title(f"{plan['study']}: GFLOP/s", fontsize=10)
        ax2.set_title(f"{plan['study']}: % of GEMM", fontsize=10)
        invalid_legend(ax1)
        ax1.legend(fontsize=7)
        files.append(plot_studies.save_figure(fig, sdir / "rates.png"))
    else:
        log("rates.png skipped: no run has a work model (flops = 0): no GFLOP/s")
    return files


def build(sdir: Path, allow_incomplete: bool, unfit: list | None = None):
    plan = load_plan(sdir)
    if plan.get("mode") not in MODE_TEXT:
        raise ReportError(f"{sdir}/plan.json: unknown scaling mode {plan.get('mode')!r}")
    rows = collect(sdir, plan, allow_incomplete, unfit)
    add_scaling(rows)
    # Curves by problem size (numerically), then the rest of their name; within a curve by cores.
    smallest = {}
    for r in rows:
        s = r["size"] if not math.isnan(r["size"]) else float("inf")
        smallest[r["series"]] = min(s, smallest.get(r["series"], s))
    rows.sort(key=lambda r: (smallest[r["series"]], r["series"], r["cores"], r["run"]))
    return plan, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="attnbench report", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("study_dir", metavar="STUDY_DIR", help="results/<study>/")
    ap.add_argument("--allow-incomplete", action="store_true", help="report the finished runs of an unfinished study")
    ap.add_argument("--allow-invalid", action="store_true",
                    help="exit 0 even when runs are invalid, failed, damaged or mismatched (they are still flagged)")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ap.add_argument("--network", metavar="alpha=S,bandwidth=B[,eta=F]",
                    help="the network the performance model (model.md, model.png; studies with two or more rank "
                    "counts) also predicts for: latency in seconds, bandwidth in bytes/s, achieved fraction eta "
                    "(default: alpha=2e-6,bandwidth=1.25e10)")
    args = ap.parse_args(argv)
    sdir = Path(args.study_dir)
    import model
    try:
        network = model.parse_network(args.network or model.DEFAULT_NETWORK)
    except model.ModelError as e:
        log(f"attnbench report: error: {e}")
        return EXIT_USAGE
    unfit = []
    try:
        described.suite()  # the run states, exit codes and plots, asked before anything is read
        plan, rows = build(sdir, args.allow_incomplete, unfit)
    except (ReportError, described.DescribeError) as e:
        log(f"attnbench report: error: {e}")
        return EXIT_USAGE
    damaged = [r for r in rows if r["status"] == "DAMAGED"]
    for r in damaged:
        log(f"attnbench report: DAMAGED archive {sdir / r['archive']}: {r['reason']}")
    md = markdown(plan, rows)
    if unfit:
        md += (f"\n{len(unfit)} run(s) DO NOT FIT the memory budget (exit {described.exit_code('does_not_fit')}, no archive; "
               "recorded by the runner):\n\n"
               + "".join(f"- {u['point']} run{u['run']}: {u['reason']}\n" for u in unfit))
    usable = [r for r in rows if r["usable"]]
    files = []
    if plan.get("plot"):
        # A study-specific plot and table (src/report/plot_studies.py) replace the scaling plots
        # (except those the binary's study_plots mark keeps_scaling_plots, drawn beside them).
        smd, sfiles = plot_studies.make(plan["plot"], sdir, plan, usable, unfit, plots=not args.no_plots)
        md += "\n" + smd
        files += sfiles
    # Per-iteration histories (/history/<name>, e.g. regress): convergence and per-phase cost
    # plots, for any study whose archives keep them (src/report/plot_history.py).
    import plot_history
    hmd, hfiles = plot_history.make(sdir, plan, usable, plots=not args.no_plots)
    if hmd:
        md += "\n" + hmd
        files += hfiles
    # The performance model (src/report/model.py), for studies with two or more rank counts.
    try:
        mmd, mfiles = model.make(sdir, plan, usable, network, plots=not args.no_plots)
    except model.ModelError as e:
        log(f"attnbench report: no performance model: {e}")
        mmd, mfiles = "", []
    if mmd:
        md += "\nPerformance model: model.md" + (", model.png" if len(mfiles) > 1 else "") + "\n"
        files += mfiles
    cols = columns(rows)
    write_h5(sdir / "study.h5", plan, rows, cols)
    write_csv(sdir / "study.csv", rows, cols)
    (sdir / "study.md").write_text(md)
    keep_scaling = not plan.get("plot") or described.study_plots()[plan["plot"]]["keeps_scaling_plots"]
    if not args.no_plots and keep_scaling and usable:
        # Time, efficiency and rate against cores need a curve with two core counts at least; a
        # study at one rank count (regress-convergence, regress-cost) would get a column of dots.
        cores_per_series = {}
        for r in usable:
            cores_per_series.setdefault(r["series"], set()).add(r["cores"])
        if any(len(c) > 1 for c in cores_per_series.values()):
            files += plot(sdir, plan, usable)
        else:
            log("scaling plots (time, efficiency, rates vs cores) skipped: every curve has a single core count")
    print(md)
    log(f"wrote {sdir}/study.h5, study.csv, study.md" + "".join(f", {f.name}" for f in files))
    bad = [r for r in rows if r["status"] not in archives.ok_states()]
    if args.allow_invalid or not bad:
        return EXIT_OK
    if damaged:
        log(f"attnbench report: {len(damaged)} damaged or foreign archive(s) (exit {EXIT_DAMAGED}; "
            "--allow-invalid to accept)")
        return EXIT_DAMAGED
    log(f"attnbench report: {len(bad)} run(s) invalid, failed or not matching the plan (exit {EXIT_INVALID}; "
        "--allow-invalid to accept)")
    return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
