#!/usr/bin/python3
"""attnbench report: consolidate a study's archives into one table, with plots.

  attnbench report results/<study> [--allow-incomplete] [--no-plots]

Reads results/<study>/plan.json (written by `attnbench study run|submit`) and every
<point>/run<k>.h5 archive, then writes, in results/<study>/:
  study.h5        /runs: one row per run (parameters, times, rates, errors, validity, speedup,
                  efficiency); root attributes name the study and its scaling mode
  study.csv       the same table
  study.md        the Markdown table that is also printed on stdout
  time.png        time vs cores with the ideal line of the scaling mode
  efficiency.png  parallel efficiency vs cores (strong or weak, as the mode says)
  rates.png       GFLOP/s and % of the same run's GEMM rate vs cores
A study that declares `plot = "..."` (inputs/studies/poly-transition.toml, kde-accuracy.toml) gets
its own plot and table instead of the three scaling plots (src/report/plot_studies.py:
<plot>.png, <plot>.md, appended to study.md). Runs the runner recorded as DOES_NOT_FIT (over
--memory-budget, no archive) are listed, not treated as missing.
Invalid runs are shown and flagged and never used as a baseline. The baseline of each curve is
its point with the fewest cores that has a valid run.

Exit codes: 0 report written; 2 not a study folder, empty, or incomplete (a planned run has no
archive, or an archive is unfinished/unreadable) -- nothing is written then; --allow-incomplete
reports what is there and lists what is missing.
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

EXIT_OK, EXIT_USAGE = 0, 2
SCHEMA_VERSION = 1

MODE_TEXT = {
    "strong": ("strong scaling (fixed n)",
               "ideal time = T_base * cores_base / cores; efficiency = T_base * cores_base / (T * cores)"),
    "weak-memory": ("weak scaling, memory per rank constant (n/p constant)",
                    "work per rank grows like p, so the ideal time grows like p; efficiency = "
                    "(flops/T/cores) / (flops_base/T_base/cores_base)"),
    "weak-compute": ("weak scaling, work per rank constant (n^2/p constant)",
                     "ideal time is constant; efficiency = (flops/T/cores) / (flops_base/T_base/cores_base) "
                     "(= T_base/T up to the rounding of n)"),
}

# Columns of the study table: (name, kind, description). kind: i = int64, f = float64, s = string.
COLUMNS = [
    ("point", "s", "point directory"), ("run", "i", "repetition k of run<k>.h5"),
    ("series", "s", "curve the point belongs to"), ("kernel", "s", ""), ("algorithm", "s", ""),
    ("variant", "s", ""), ("precision", "s", ""), ("n", "i", ""), ("d", "i", ""), ("dv", "i", ""),
    ("ranks", "i", ""), ("threads_per_rank", "i", ""), ("cores", "i", "ranks x threads_per_rank"),
    ("reps", "i", "timed repetitions in the run"),
    ("median_time", "f", "s, median over reps of the slowest rank"), ("min_time", "f", "s"),
    ("max_time", "f", "s"), ("comm_wait_median", "f", "s, exposed communication"),
    ("flops", "f", "work model"), ("gflops", "f", ""), ("gemm_gflops", "f", "per core, same run"),
    ("gemm_fraction", "f", "gflops / (cores * gemm_gflops)"),
    ("rel_error", "f", ""), ("max_abs_error", "f", ""), ("tolerance", "f", ""),
    ("valid", "i", "1 if the run validated"),
    ("oversubscribed", "i", "1 if ranks x threads exceeded the cores (timing meaningless)"),
    ("speedup", "f", "rate / baseline rate (NaN without a valid baseline)"),
    ("efficiency", "f", "speedup * cores_base / cores"),
    ("baseline_point", "s", ""), ("seed", "i", ""), ("git_sha", "s", ""), ("slurm_job_id", "s", ""),
    ("created", "s", ""), ("parameters", "s", "JSON of /parameters"), ("archive", "s", "relative path"),
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
        return json.loads(pfile.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"cannot read {pfile}: {e}") from None


def read_status(path: Path) -> dict:
    try:
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return {}


def collect(sdir: Path, plan: dict, allow_incomplete: bool, unfit: list | None = None) -> list[dict]:
    """One record per archived run of the plan. Raises ReportError when empty or incomplete.
    Runs recorded as DOES_NOT_FIT (the configuration exceeds --memory-budget; no archive) are
    results, not gaps: they go to `unfit` (point, run, case, args, reason) when it is given."""
    rows, problems = [], []
    for p in plan["points"]:
        for k in range(p["repeat"]):
            path = sdir / p["name"] / f"run{k}.h5"
            partial = Path(str(path) + ".partial")
            st = archives.state(path)
            status = read_status(sdir / p["name"] / f"run{k}.status") if not st.exists else {}
            if status.get("state") == "DOES_NOT_FIT":
                if unfit is not None:
                    unfit.append({"point": p["name"], "run": k, "case": p.get("case", ""), "args": p["args"],
                                  "n": p.get("n"), "ranks": p["ranks"], "reason": status.get("reason", "")})
                continue
            if not st.exists:
                problems.append(f"{p['name']}/run{k}.h5: " +
                                ("unfinished (only run%d.h5.partial: running, or killed)" % k if partial.exists()
                                 else "missing (not run yet, or the run failed before archiving)"))
                continue
            if not st.readable:
                problems.append(f"{p['name']}/run{k}.h5: {st.problem}")
                continue
            rec = archives.read_run(path)
            rec.update(point=p["name"], run=k, series=p["series"], cores=rec["ranks"] * rec["threads_per_rank"],
                       oversubscribed=int(bool(p.get("oversubscribed"))), archive=str(path.relative_to(sdir)),
                       parameters=json.dumps(rec["parameters"], sort_keys=True))
            rows.append(rec)
    if not rows:
        raise ReportError(f"'{sdir}' has no finished archives"
                          + (f" ({len(problems)} planned runs: " + "; ".join(problems[:3]) + ")" if problems else ""))
    if problems:
        msg = f"'{sdir}' is incomplete: {len(problems)} of {len(problems) + len(rows)} planned runs have no usable archive:"
        msg += "".join(f"\n  {x}" for x in problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        if not allow_incomplete:
            raise ReportError(msg + "\nnothing was written; wait for the runs (or resume the study), or pass "
                              "--allow-incomplete to report what is there")
        log("warning: " + msg)
    return rows


def add_scaling(rows: list[dict]):
    """speedup and efficiency against each series' baseline: the valid point with the fewest cores
    (median rate over its valid runs). Invalid runs are never baselines."""
    def rate(r):
        return r["flops"] / r["median_time"] if r["median_time"] > 0 else float("nan")

    for series in {r["series"] for r in rows}:
        members = [r for r in rows if r["series"] == series]
        valid = [r for r in members if r["valid"] and not r["oversubscribed"]]
        if not valid:
            for r in members:
                r.update(speedup=float("nan"), efficiency=float("nan"), baseline_point="")
            continue
        base_cores = min(r["cores"] for r in valid)
        base_runs = [r for r in valid if r["cores"] == base_cores]
        base_rate = median([rate(r) for r in base_runs])
        for r in members:
            s = rate(r) / base_rate
            r.update(speedup=s, efficiency=s * base_cores / r["cores"], baseline_point=base_runs[0]["point"])


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def status_of(r):
    if not r["valid"]:
        return "**INVALID**"
    return "VALID (oversubscribed)" if r["oversubscribed"] else "VALID"


def fmt(x, spec):
    return "n/a" if isinstance(x, float) and math.isnan(x) else format(x, spec)


def markdown(plan: dict, rows: list[dict]) -> str:
    mode = plan["mode"]
    title, rule = MODE_TEXT[mode]
    out = io.StringIO()
    n_invalid = sum(1 for r in rows if not r["valid"])
    out.write(f"## Study `{plan['study']}`: {title}\n\n")
    if plan.get("description"):
        out.write(f"{plan['description']}\n\n")
    out.write(f"{len(rows)} runs, {n_invalid} invalid. Baseline of each curve: its valid point with the fewest cores; "
              f"{rule}.\n\n")
    out.write("| point | run | n | ranks | threads | precision | time (s) | GFLOP/s | % of GEMM | speedup | "
              "efficiency | rel. error | validation |\n")
    out.write("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
    for r in rows:
        out.write(f"| {r['point']} | {r['run']} | {r['n']} | {r['ranks']} | {r['threads_per_rank']} | {r['precision']} | "
                  f"{r['median_time']:.4g} | {r['gflops']:.2f} | {100 * r['gemm_fraction']:.1f} | "
                  f"{fmt(r['speedup'], '.2f')} | {fmt(100 * r['efficiency'], '.1f')}% | {r['rel_error']:.2e} | "
                  f"{status_of(r)} |\n")
    if n_invalid:
        out.write(f"\n{n_invalid} run(s) INVALID: shown, never used as a baseline.\n")
    return out.getvalue()


def write_csv(path: Path, rows):
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c for c, _, _ in COLUMNS])
        for r in rows:
            w.writerow([r[c] for c, _, _ in COLUMNS])
    os.replace(tmp, path)


def write_h5(path: Path, plan: dict, rows):
    import h5py
    import numpy as np

    fields = []
    for name, kind, _ in COLUMNS:
        if kind == "s":
            width = max([1] + [len(str(r[name]).encode()) for r in rows])
            fields.append((name, f"S{width}"))
        else:
            fields.append((name, "<i8" if kind == "i" else "<f8"))
    table = np.zeros(len(rows), dtype=np.dtype(fields))
    for i, r in enumerate(rows):
        table[i] = tuple(str(r[c]).encode() if k == "s" else r[c] for c, k, _ in COLUMNS)
    tmp = path.with_name(path.name + ".partial")
    with h5py.File(tmp, "w") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["suite"] = "attnbench"
        f.attrs["kind"] = "study"
        f.attrs["study"] = plan["study"]
        f.attrs["description"] = plan.get("description", "")
        f.attrs["kernel"] = plan.get("kernel", "attention")
        f.attrs["mode"] = plan["mode"]
        f.attrs["mode_description"] = " ; ".join(MODE_TEXT[plan["mode"]])
        f.attrs["created"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        f.attrs["n_runs"] = len(rows)
        f.attrs["n_invalid"] = sum(1 for r in rows if not r["valid"])
        f.attrs["plan_json"] = json.dumps(plan)
        ds = f.create_dataset("runs", data=table, chunks=True, fletcher32=True)
        ds.attrs["columns"] = json.dumps({c: d for c, _, d in COLUMNS if d})
        ds.attrs["units"] = "times in seconds, rates in GFLOP/s"
    os.replace(tmp, path)


def plot(sdir: Path, plan: dict, rows) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    mode = plan["mode"]
    title, _ = MODE_TEXT[mode]
    first_n = {}
    for r in rows:
        first_n[r["series"]] = min(r["n"], first_n.get(r["series"], r["n"]))
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
        if base:
            c0, t0, _, f0 = base[0]
            ideal = [(c, t0 * (f / f0) * (c0 / c)) for c, _, _, f in pts]
            ax.plot([c for c, _ in ideal], [t for _, t in ideal], "--", color=cmap(i % 10), alpha=0.6)
        mark_invalid(ax, pts)
    ax.plot([], [], "k--", alpha=0.6, label="ideal")
    if any(not r["valid"] for r in rows):
        ax.plot([], [], "x", color="red", mew=2.5, label="INVALID run")
    decorate(ax, "time per run (s, median)", logy=True)
    ax.set_title(f"{plan['study']}: time vs cores\n{title}", fontsize=10)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    files.append(sdir / "time.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

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
    fig.tight_layout()
    files.append(sdir / "efficiency.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    # rates
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    for i, s in enumerate(series):
        members = [r for r in rows if r["series"] == s]
        pts = per_point(members, "gflops")
        line(ax1, pts, i, s)
        mark_invalid(ax1, pts)
        pts = per_point(members, "gemm_fraction")
        line(ax2, [(c, 100 * v, ok, f) for c, v, ok, f in pts], i, s)
        mark_invalid(ax2, [(c, 100 * v, ok, f) for c, v, ok, f in pts])
    decorate(ax1, "GFLOP/s (effective, 4 n^2 d model)")
    decorate(ax2, "% of the same run's GEMM rate x cores")
    ax1.set_ylim(bottom=0)
    ax2.set_ylim(0, max([110.0] + [105.0 * r["gemm_fraction"] for r in rows]))
    ax1.set_title(f"{plan['study']}: GFLOP/s", fontsize=10)
    ax2.set_title(f"{plan['study']}: % of GEMM", fontsize=10)
    invalid_legend(ax1)
    ax1.legend(fontsize=7)
    fig.tight_layout()
    files.append(sdir / "rates.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


def build(sdir: Path, allow_incomplete: bool, unfit: list | None = None):
    plan = load_plan(sdir)
    if plan.get("mode") not in MODE_TEXT:
        raise ReportError(f"{sdir}/plan.json: unknown scaling mode {plan.get('mode')!r}")
    rows = collect(sdir, plan, allow_incomplete, unfit)
    add_scaling(rows)
    # Curves by problem size (numerically), then the rest of their name; within a curve by cores.
    smallest_n = {}
    for r in rows:
        smallest_n[r["series"]] = min(r["n"], smallest_n.get(r["series"], r["n"]))
    rows.sort(key=lambda r: (smallest_n[r["series"]], r["series"], r["cores"], r["run"]))
    return plan, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="attnbench report", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("study_dir", metavar="STUDY_DIR", help="results/<study>/")
    ap.add_argument("--allow-incomplete", action="store_true", help="report the finished runs of an unfinished study")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = ap.parse_args(argv)
    sdir = Path(args.study_dir)
    unfit = []
    try:
        plan, rows = build(sdir, args.allow_incomplete, unfit)
    except ReportError as e:
        log(f"attnbench report: error: {e}")
        return EXIT_USAGE
    md = markdown(plan, rows)
    if unfit:
        md += (f"\n{len(unfit)} run(s) DO NOT FIT the memory budget (no archive; recorded by the runner):\n\n"
               + "".join(f"- {u['point']} run{u['run']}: {u['reason']}\n" for u in unfit))
    files = []
    if plan.get("plot"):
        # A study-specific plot and table (src/report/plot_studies.py) replace the scaling plots.
        import plot_studies
        smd, sfiles = plot_studies.make(plan["plot"], sdir, plan, rows, unfit, plots=not args.no_plots)
        md += "\n" + smd
        files += sfiles
    write_h5(sdir / "study.h5", plan, rows)
    write_csv(sdir / "study.csv", rows)
    (sdir / "study.md").write_text(md)
    if not args.no_plots and not plan.get("plot"):
        files += plot(sdir, plan, rows)
    print(md)
    log(f"wrote {sdir}/study.h5, study.csv, study.md" + "".join(f", {f.name}" for f in files))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
