#!/usr/bin/python3
"""Plots and tables from the per-iteration histories that run archives keep (/history/<name>, one
row per iteration, row 0 = the start), for any kernel whose archives have them (today: regress).

  convergence.png/.md  /history/loss and /history/grad_norm / grad_norm[0] against the iteration,
                       log scale, one line per run (colour = algorithm), so that a quadratic phase
                       (the exponent doubles per step) stands apart from a linear rate. Rejected
                       steps (/history/accepted = 0) are hollow markers. The table gives the
                       iterations each run needed to reach 1e-2 ... 1e-10 relative gradient norm
                       and, for short runs, the whole sequence.
  phases.png/.md       seconds per phase per iteration: the median over the iteration rows
                       (1 .. iterations) of /history/t_<phase>, against every problem key (and
                       against ranks) that varies while the rest of the problem stays the same,
                       one panel per such axis, a line per phase and their total; with the kernel's
                       cost models (COST_MODELS) scaled to the measured total at the largest value
                       of the axis: which term dominates where.

Nothing here is keyed on a kernel name except COST_MODELS (the papers' formulas are a property of
the algorithm, not of the archive); the plots appear for whatever archive has /history.
The history times are rank 0's and the history of the last timed repetition (the archive keeps
one history); /timings keeps every repetition of every rank as sums over the run.

Called by `attnbench report` (src/report/report.py) after the table and the other plots.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from plot_studies import save_figure

sys.dont_write_bytecode = True

# Relative gradient-norm levels of the convergence table.
LEVELS = (1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
# Runs with at most this many iterations get their whole |g|/|g0| sequence in the table.
SEQUENCE_MAX = 12
ALGO_COLOURS = {"newton": "tab:blue", "newton-sketch": "tab:red", "alternating": "tab:orange", "gd": "tab:green"}
# History columns that time verification, not the algorithm (newton-sketch's --check-every): kept
# out of the per-iteration phases and of the seconds to a tolerance.
NOT_ALGORITHM_PHASES = ("check",)
OMEGA = 2.373   # the matrix-multiplication exponent of the paper's d^{2 omega}


def _t_mat(a, b, c):
    """T_mat(a, b, c): flops of an (a x b) by (b x c) product, 2 a b c."""
    return 2.0 * a * b * c


# Per-iteration cost models, in flops (any unit: each curve is scaled to one measured point), as a
# function of the archive's problem attributes. regress: ALGORITHMS.md section 5.
COST_MODELS = {
    "regress": [
        ("paper: T_mat(n,n,d) + T_mat(n,d,d) + d^(2 omega)",
         lambda p: _t_mat(p["n"], p["n"], p["d"]) + _t_mat(p["n"], p["d"], p["d"]) + p["d"] ** (2 * OMEGA)),
        ("exact-Hessian assembly n^2 d^2 (newton)",
         lambda p: float(p["n"]) ** 2 * float(p["d"]) ** 2),
        ("sampled-Hessian assembly m n d^2, m fixed (newton-sketch)",
         lambda p: float(p["n"]) * float(p["d"]) ** 2),
    ],
}


def _g(x, spec=".3g"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _median(xs):
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return float("nan")
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def read_histories(sdir: Path, rows: list[dict]) -> list[dict]:
    """The usable runs whose archive has /history, each {row, hist: name -> 1-D numpy array}.
    One run per point: the first valid run (or the first run when none is valid). The histories
    come from the checked record report.collect read (archives.read_run: non-empty columns of one
    length, checksums verified), not from the file again."""
    by_point = {}
    for r in rows:
        by_point.setdefault(r["point"], []).append(r)
    out = []
    for runs in by_point.values():
        runs = sorted(runs, key=lambda r: (not r["valid"], r["run"]))
        r = runs[0]
        hist = r["record"]["history"]
        if "loss" not in hist and "grad_norm" not in hist:
            continue
        tol = r["record"]["parameters"].get("tolerance")
        out.append({"row": r, "hist": hist,
                    "tolerance": float(tol) if isinstance(tol, (int, float)) else r.get("tolerance")})
    return out


def _labels(runs: list[dict]) -> dict:
    """A short legend label per point: the algorithm when that names the point, else the point."""
    algos = [h["row"]["algorithm"] for h in runs]
    unique = len(set(algos)) == len(algos)
    return {h["row"]["point"]: (h["row"]["algorithm"] if unique else h["row"]["point"]) for h in runs}


# ---------------------------------------------------------------------------------------------
# convergence

def _first_below(rel, level):
    for k, v in enumerate(rel):
        if v <= level:
            return k
    return None


def convergence(sdir: Path, plan: dict, runs: list[dict], plots: bool):
    import numpy as np

    labels = _labels(runs)
    md = ["## convergence: loss and relative gradient norm per iteration\n",
          "From each run's /history (row 0 = the start; rank 0's record of the last repetition). "
          "`it. to 1e-k`: the first iteration with |g|/|g0| <= 1e-k (- = not reached). A damped step that "
          "was rejected counts as an iteration.\n",
          "| run | algorithm | iterations | converged | final loss | final abs(g)/abs(g0) | "
          + " | ".join(f"it. to {lv:.0e}" for lv in LEVELS) + " | rejected | status |",
          "|---|---|---:|---|---:|---:|" + "---:|" * len(LEVELS) + "---:|---|"]
    seqs = []
    for h in runs:
        r, hist = h["row"], h["hist"]
        g = hist.get("grad_norm")
        rel = g / g[0] if g is not None and len(g) and g[0] > 0 else None
        its = len(hist.get("loss", g)) - 1
        acc = hist.get("accepted")
        rejected = int(np.sum(acc[1:] == 0)) if acc is not None and len(acc) > 1 else 0
        conv = r["extra"].get("converged")
        md.append(f"| {r['point']} | {r['algorithm']} | {its} | "
                  + ("yes" if conv == 1 else "no" if conv == 0 else "?")
                  + f" | {_g(float(hist['loss'][-1]), '.3e') if 'loss' in hist else 'n/a'} | "
                  + (f"{rel[-1]:.3e}" if rel is not None else "n/a") + " | "
                  + " | ".join(str(_first_below(rel, lv)) if rel is not None and _first_below(rel, lv) is not None
                               else "-" for lv in LEVELS)
                  + f" | {rejected} | {r['status']} |")
        if rel is not None and its <= SEQUENCE_MAX:
            seqs.append(f"- {labels[r['point']]}: |g|/|g0| = " + ", ".join(f"{v:.1e}" for v in rel)
                        + _order_note(rel))
    md.append("")
    md += seqs
    md_text = "\n".join(md) + "\n"
    files = []
    if plots:
        files.append(_plot_convergence(sdir, plan, runs, labels))
    return md_text, files


def _order_note(rel) -> str:
    """The observed order of convergence q_k = log(e_{k+1}/e_k) / log(e_k/e_{k-1}) of the last three
    values above the rounding floor (q ~ 2: quadratic, ~ 1: linear)."""
    e = [v for v in rel if v > 1e-14]
    if len(e) < 3 or not (e[-1] < e[-2] < e[-3]):
        return ""
    q = math.log(e[-1] / e[-2]) / math.log(e[-2] / e[-3])
    return f" (observed order {q:.2f} over the last three values above 1e-14)"


def _plot_convergence(sdir: Path, plan: dict, runs: list[dict], labels: dict) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    styles = ["-", "--", ":", "-."]
    tab10 = plt.get_cmap("tab10")
    algos = [h["row"]["algorithm"] for h in runs]
    one_each = len(set(algos)) == len(algos)
    order = sorted(set(algos), key=algos.index)
    longest = 1
    tolerances = set()
    nth = {}
    for i, h in enumerate(runs):
        r, hist = h["row"], h["hist"]
        algo = r["algorithm"]
        k = nth.get(algo, 0)
        nth[algo] = k + 1
        lw = 2.4 - 0.5 * min(k, 3)   # later runs thinner: identical trajectories stay visible
        if one_each:
            # one run per algorithm: its colour (newton blue, alternating orange, gd green)
            colour = ALGO_COLOURS.get(algo) or tab10((order.index(algo) + 3) % 10)
            ls = "-"
        else:
            # several runs of an algorithm (sizes, ranks): a colour per run, a line style per algorithm
            colour = tab10(i % 10)
            ls = styles[order.index(algo) % len(styles)]
        acc = hist.get("accepted")
        for ax, key in ((ax1, "loss"), (ax2, "grad_norm")):
            y = hist.get(key)
            if y is None or not len(y):
                continue
            if key == "grad_norm":
                y = y / y[0] if y[0] > 0 else y
            y = np.where(y > 0, y, np.nan)   # log scale: an exact 0 is not drawn
            x = np.arange(len(y))
            longest = max(longest, len(y) - 1)
            many = len(y) > 60
            ax.plot(x, y, ls, color=colour, marker=None if many else "o", ms=4, lw=lw,
                    label=f"{labels[r['point']]} ({len(y) - 1} it.)" + ("" if r["valid"] else ", INVALID"))
            if acc is not None and len(acc) == len(y):
                rej = [i for i in range(1, len(y)) if acc[i] == 0]
                if rej and len(rej) <= 50:
                    ax.plot(rej, y[rej], "o", color=colour, mfc="white", ms=6)
        if h.get("tolerance") and h["tolerance"] == h["tolerance"]:
            tolerances.add(float(h["tolerance"]))
    for tol in sorted(tolerances):
        ax2.axhline(tol, color="red", ls="--", lw=1, alpha=0.7, label=f"tolerance {tol:.0e}")
    if any(h["hist"].get("accepted") is not None and (h["hist"]["accepted"][1:] == 0).any() for h in runs):
        ax1.plot([], [], "o", color="gray", mfc="white", label="rejected step")
    for ax, ylab in ((ax1, "loss L(X, Y)"), (ax2, "relative gradient norm |g_k| / |g_0|")):
        ax.set_yscale("log")
        # Iterations span 3 (newton) to 1000 (gd): linear up to 10, logarithmic beyond, so the
        # quadratic phase and the slow tail are both readable.
        if longest > 20:
            ax.set_xscale("symlog", linthresh=10, linscale=1.2)
            ax.set_xlim(0, longest * 1.1)
            ticks = [t for t in (0, 1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
                     if t <= longest * 1.1]
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        else:
            ax.set_xlim(0, longest + 0.5)
            ax.set_xticks(range(0, longest + 1))
        ax.set_xlabel("iteration" + (" (linear to 10, log beyond)" if longest > 20 else ""))
        ax.set_ylabel(ylab)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    # the title names what all the runs share (of the first problem keys, and the rank count)
    some = runs[0]["row"]
    common = [k for k in some.get("problem_keys", [])[:2] + ["ranks"]
              if isinstance(some.get(k), (int, float)) and all(h["row"].get(k) == some[k] for h in runs)]
    what = ", ".join(f"{some[k]:g} ranks" if k == "ranks" else f"{k} = {some[k]:g}" for k in common)
    ax1.set_title("loss per iteration" + (f" ({what})" if what else ""), fontsize=10)
    ax2.set_title("relative gradient norm per iteration", fontsize=10)
    fig.suptitle(f"{plan['study']}: convergence", fontsize=11)
    out = save_figure(fig, sdir / "convergence.png")
    return out


# ---------------------------------------------------------------------------------------------
# seconds per phase per iteration

def _phase_names(runs):
    names = []
    for h in runs:
        for k in h["hist"]:
            if k.startswith("t_") and k[2:] not in names and k[2:] not in NOT_ALGORITHM_PHASES:
                names.append(k[2:])
    return names


def _per_iteration(h, phases) -> dict:
    """Median over the iteration rows (1..) of each phase's seconds; row 0 (the start: one
    evaluation, no step) is left out unless it is the only row, and so are rows whose Cholesky
    failed (/history/cholesky_info != 0: the step was not taken, nothing was evaluated). No such
    row: NaN (the point is shown as not measured)."""
    info = h["hist"].get("cholesky_info")
    out = {}
    for ph in phases:
        col = h["hist"].get("t_" + ph)
        if col is None or not len(col):
            out[ph] = float("nan")
            continue
        if len(col) == 1:
            rows = list(col)
        else:
            rows = [col[i] for i in range(1, len(col)) if info is None or len(info) != len(col) or info[i] == 0]
        out[ph] = _median([float(x) for x in rows])
    vals = [v for v in out.values() if v == v]
    out["total"] = sum(vals) if vals else float("nan")
    return out


def _axes(runs) -> list[tuple]:
    """(axis key, curves): for every numeric problem key (and ranks) that varies, the groups of runs
    in which only it (and keys it determines, like unknowns = 2 d^2) changes; groups of 2+ values."""
    recs = []
    for h in runs:
        r = h["row"]
        keys = {k: r[k] for k in r.get("problem_keys", []) if isinstance(r.get(k), (int, float))}
        keys["ranks"] = r["ranks"]
        recs.append((h, keys, (r["algorithm"], r["variant"], r["precision"], r["threads_per_rank"])))
    all_keys = []
    for _, keys, _ in recs:
        all_keys += [k for k in keys if k not in all_keys]

    def determines(a, b):
        """Every value of key a comes with one value of key b."""
        seen = {}
        for _, keys, _ in recs:
            if a in keys and b in keys and seen.setdefault(keys[a], keys[b]) != keys[b]:
                return False
        return True

    axes, taken = [], []
    for k in all_keys:
        values = {keys.get(k) for _, keys, _ in recs}
        if len(values) < 2 or any(determines(k, t) and determines(t, k) for t in taken):
            continue   # constant, or the same axis as an earlier key (d and unknowns = 2 d^2)
        taken.append(k)
        fixed = [j for j in all_keys if j != k and not determines(k, j)]
        # what tells the curves apart (for their titles): the fixed keys that vary in the study
        shown = [j for j in fixed if len({keys.get(j) for _, keys, _ in recs}) > 1]
        groups = {}
        for h, keys, other in recs:
            gkey = (other, tuple((j, keys.get(j)) for j in fixed))
            groups.setdefault(gkey, {"label": [(j, keys.get(j)) for j in shown], "pts": {}})
            groups[gkey]["pts"].setdefault(keys.get(k), []).append(h)
        curves = [((gkey[0], g["label"]), g["pts"]) for gkey, g in groups.items() if len(g["pts"]) >= 2]
        if curves:
            axes.append((k, curves))
    return axes


def phases(sdir: Path, plan: dict, runs: list[dict], plots: bool):
    names = _phase_names(runs)
    if not names:
        return "", []
    axes = _axes(runs)
    if not axes:
        return "", []
    kernel = runs[0]["row"]["kernel"]
    models = COST_MODELS.get(kernel, [])
    md = ["## seconds per phase per iteration\n",
          "Median over the iteration rows of /history/t_<phase> (rank 0, last repetition); a curve "
          "holds everything but its axis fixed. "
          + (f"Models: {'; '.join(name for name, _ in models)} (flops, each scaled to the measured total at "
             "the largest value of the axis; omega = " + f"{OMEGA}); " if models else "")
          + "against ranks: ideal strong scaling from the fewest ranks.\n"]
    panels = []
    for k, curves in axes:
        for (other, shown), pts in curves:
            fixed_txt = ", ".join(f"{j} = {v:g}" for j, v in shown)
            xs = sorted(pts)
            per = {x: {ph: _median([_per_iteration(h, names)[ph] for h in pts[x]]) for ph in names + ["total"]}
                   for x in xs}
            model_vals = []
            if k == "ranks":
                # Against the rank count the problem's cost is constant: the reference is ideal
                # strong scaling from the fewest ranks measured, T(p0) p0 / p.
                base = [x for x in xs if per[x]["total"] > 0]
                if base:
                    p0 = base[0]
                    model_vals.append((f"ideal strong scaling T({p0:g}) {p0:g} / p",
                                       {x: per[p0]["total"] * p0 / x for x in xs}))
            for name, f in (models if k != "ranks" else []):
                try:
                    raw = {x: f({kk: pts[x][0]["row"][kk] for kk in pts[x][0]["row"].get("problem_keys", [])})
                           for x in xs}
                except (KeyError, TypeError):
                    continue
                # scaled to the measured total at the largest x that was measured
                top = [x for x in xs if per[x]["total"] > 0]
                if not top:
                    continue
                scale = per[top[-1]]["total"] / raw[top[-1]] if raw[top[-1]] > 0 else float("nan")
                model_vals.append((name, {x: raw[x] * scale for x in xs}))
            title = f"vs {k} ({other[0]}" + (f", {fixed_txt}" if fixed_txt else "") + ")"
            panels.append((k, title, xs, per, model_vals))
            md.append(f"### {title}\n")
            md.append(f"| {k} | " + " | ".join(f"{ph} (s)" for ph in names) + " | total (s) | largest phase | "
                      + " | ".join(f"model {i + 1} (s)" for i in range(len(model_vals))) + " |")
            md.append("|---:|" + "---:|" * (len(names) + 2) + "---:|" * len(model_vals))
            for x in xs:
                big = max(names, key=lambda ph: per[x][ph] if per[x][ph] == per[x][ph] else -1)
                share = per[x][big] / per[x]["total"] if per[x]["total"] > 0 else float("nan")
                big_txt = f"{big} ({100 * share:.0f}%)" if share == share else "not measured (every step's Cholesky failed)"
                md.append(f"| {x:g} | " + " | ".join(_g(per[x][ph], ".3g") for ph in names)
                          + f" | {_g(per[x]['total'], '.3g')} | {big_txt} | "
                          + " | ".join(_g(vals[x], ".3g") for _, vals in model_vals) + " |")
            md.append("")
            for i, (name, vals) in enumerate(model_vals):
                lo, hi = xs[0], xs[-1]
                meas = per[hi]["total"] / per[lo]["total"] if per[lo]["total"] > 0 else float("nan")
                md.append(f"- model {i + 1}, {name}: grows x{_g(vals[hi] / vals[lo])} from {k} = {lo:g} to {hi:g} "
                          f"(measured total: x{_g(meas)})")
            md.append("")
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and panels:
        files.append(_plot_phases(sdir, plan, panels, names))
    return md_text, files


def _plot_phases(sdir, plan, panels, names) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axs = plt.subplots(rows, cols, figsize=(7.2 * cols, 5.4 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    model_styles = [("--", "dimgray"), (":", "black"), ("-.", "gray")]
    for i, (k, title, xs, per, model_vals) in enumerate(panels):
        ax = axs[i // cols][i % cols]
        for j, ph in enumerate(names):
            ys = [per[x][ph] for x in xs]
            if all(not (y > 0) for y in ys):
                continue
            ax.plot(xs, [y if y > 0 else float("nan") for y in ys], "o-", color=cmap(j % 10), lw=1.4, ms=4, label=ph)
        ax.plot(xs, [per[x]["total"] for x in xs], "s-", color="black", lw=2.2, ms=5, label="total per iteration")
        for m, (name, vals) in enumerate(model_vals):
            ls, col = model_styles[m % len(model_styles)]
            ax.plot(xs, [vals[x] for x in xs], ls, color=col, lw=1.8,
                    label=name + ("" if k == "ranks" else " (scaled)"))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.minorticks_off() if hasattr(ax, "minorticks_off") else None
        ax.set_xlabel(k)
        ax.set_ylabel("seconds per iteration (median over iterations)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for i in range(len(panels), rows * cols):
        axs[i // cols][i % cols].set_visible(False)
    fig.suptitle(f"{plan['study']}: seconds per phase per iteration", fontsize=11)
    out = save_figure(fig, sdir / "phases.png")
    return out


# ---------------------------------------------------------------------------------------------
# newton vs newton-sketch: seconds to a tolerance and the predicted crossover

SKETCH_LEVEL = 1e-10
# Flops per iteration by phase group (regress/case.cpp's work model, per evaluation): the exact
# loss and gradient (both algorithms; newton-sketch adds the row bounds), the Hessian (exact
# assembly, or m sampled rows), and the (2 d^2)^3 / 3 solve.
def _sketch_flops(algo, n, d, m):
    grad = 14.0 * n * n * d + 8.0 * n * d * d + (8.0 * n * n if algo == "newton-sketch" else 0.0)
    hess = (6.0 * n * n * d * d + 6.0 * n * d ** 4) if algo == "newton" else m * (10.0 * n * d + 6.0 * n * d * d + 6.0 * d ** 4)
    return {"grad": grad, "hess": hess, "solve": (2.0 * d * d) ** 3 / 3.0}


PHASE_GROUPS = {"grad": ("forward", "gradient", "reduce"), "hess": ("hessian",), "solve": ("solve",)}


def _seconds_to(h, level):
    """(iterations, seconds) to the first row with |g|/|g0| <= level (rows 0..k, every algorithm
    phase), or None when not reached."""
    g = h["hist"].get("grad_norm")
    if g is None or not len(g) or not g[0] > 0:
        return None
    k = _first_below(g / g[0], level)
    if k is None:
        return None
    cols = [h["hist"][c] for c in h["hist"] if c.startswith("t_") and c[2:] not in NOT_ALGORITHM_PHASES]
    return k, float(sum(float(c[i]) for c in cols for i in range(k + 1)))


def sketch_crossover(runs: list[dict]) -> str:
    """Markdown comparing newton and newton-sketch where a study has both at the same (n, d, ranks):
    measured seconds to SKETCH_LEVEL, and a prediction beyond the measured sizes from seconds per
    flop of each phase group (median over the measured points of each algorithm) times the
    measured iterations to the level (median over n at that d: the sampled Hessian's accuracy
    depends on m, not on n)."""
    pts = {}
    for h in runs:
        r = h["row"]
        if r["algorithm"] not in ("newton", "newton-sketch") or not isinstance(r.get("n"), (int, float)):
            continue
        m = float(r["record"]["parameters"].get("sample_rows", 0) or 0)
        pts.setdefault((r["algorithm"], int(r["n"]), int(r["d"]), r["ranks"]), (h, m))
    pairs = sorted({(n, d, p) for (a, n, d, p) in pts if a == "newton"} & {(n, d, p) for (a, n, d, p) in pts if a == "newton-sketch"})
    if not pairs:
        return ""
    md = ["## newton vs newton-sketch: seconds to |g|/|g0| <= 1e-10\n",
          "Measured: the sum of every algorithm phase of the history rows 0..k, k the first row at the level "
          "(rank 0, one repetition; --check-every's exact Hessians excluded). m: rows per sampled Hessian.\n",
          "| n | d | ranks | m | newton it. | newton s | sketch it. | sketch s | sketch / newton | "
          "hessian s/it newton | hessian s/it sketch |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    spf = {}       # (algo, d) -> (n, {group: seconds per flop}) at the largest n measured
    iters = {}     # (algo, d) -> iteration counts
    ms = {}
    for (algo, n, d, p), (h, m) in pts.items():
        per = _per_iteration(h, [ph for grp in PHASE_GROUPS.values() for ph in grp])
        fl = _sketch_flops(algo, n, d, m)
        rates = {}
        for grp, names in PHASE_GROUPS.items():
            t = sum(per[ph] for ph in names if per.get(ph) == per.get(ph))
            if t > 0 and fl[grp] > 0:
                rates[grp] = t / fl[grp]
        if n >= spf.get((algo, d), (0, {}))[0]:
            spf[(algo, d)] = (n, rates)
        st = _seconds_to(h, SKETCH_LEVEL)
        if st:
            iters.setdefault((algo, d), []).append(st[0])
        if algo == "newton-sketch":
            ms.setdefault(d, m)
    for n, d, p in pairs:
        hn, _ = pts[("newton", n, d, p)]
        hs, m = pts[("newton-sketch", n, d, p)]
        a, b = _seconds_to(hn, SKETCH_LEVEL), _seconds_to(hs, SKETCH_LEVEL)
        hn_it = _per_iteration(hn, ["hessian"])["hessian"]
        hs_it = _per_iteration(hs, ["hessian"])["hessian"]
        md.append(f"| {n} | {d} | {p} | {m:g} | " + (f"{a[0]} | {a[1]:.3g}" if a else "- | -") + " | "
                  + (f"{b[0]} | {b[1]:.3g}" if b else "- | -") + " | "
                  + (f"{b[1] / a[1]:.2f}" if a and b and a[1] > 0 else "-") + f" | {_g(hn_it)} | {_g(hs_it)} |")
    md.append("")
    if not any(a == "newton" for a, _ in spf) or not any(a == "newton-sketch" for a, _ in spf):
        return "\n".join(md) + "\n"
    md.append("Fitted seconds per Gflop, per phase group at the largest n measured at each d (nearest the "
              "large-n regime; small n pays overheads the flop counts leave out): "
              + "; ".join(f"{a} d = {d} (n = {n}): " + ", ".join(f"{g} {1e9 * v:.3g}" for g, v in sorted(r.items()))
                          for (a, d), (n, r) in sorted(spf.items())) + ".\n")
    md.append("Predicted seconds to 1e-10 ((iterations + 1) evaluations, the iterations the measured median at "
              "that d; phases: those rates times regress's flop counts), and where newton-sketch wins:\n")
    md.append("| d | m | newton it. | sketch it. | " + " | ".join(f"n = {2 ** k}" for k in range(11, 19))
              + " | sketch wins from | limit sketch / newton (n -> inf) |")
    md.append("|---:|---:|---:|---:|" + "---:|" * 8 + "---|---:|")
    for d in sorted({d for (_, d, _) in pairs}):
        kn, ks = iters.get(("newton", d)), iters.get(("newton-sketch", d))
        rn, rs = spf.get(("newton", d), (0, {}))[1], spf.get(("newton-sketch", d), (0, {}))[1]
        if not kn or not ks or "grad" not in rn or "hess" not in rn or "grad" not in rs:
            continue
        kn, ks, m = _median(kn), _median(ks), ms.get(d, 0.0)

        def t(algo, n, k, r):
            # k iterations plus the start's evaluation (row 0: a gradient and a Hessian, no step)
            fl = _sketch_flops(algo, n, d, m)
            return (k + 1) * sum(fl[g] * r.get(g, 0.0) for g in fl)
        cells, wins = [], None
        for e in range(11, 31):
            n = 2 ** e
            tn, ts = t("newton", n, kn, rn), t("newton-sketch", n, ks, rs)
            if e <= 18:
                cells.append(f"{tn:.3g} / {ts:.3g}")
            if wins is None and ts < tn and n > m:
                wins = n
        # As n grows at fixed m, newton-sketch's iteration tends to its gradient (14 n^2 d + 8 n^2)
        # and newton's to its gradient and assembly (14 n^2 d + 6 n^2 d^2).
        lim = (ks + 1) * (14.0 * d + 8.0) * rs["grad"] / ((kn + 1) * (14.0 * d * rn["grad"] + 6.0 * d * d * rn["hess"]))
        md.append(f"| {d} | {m:g} | {kn:g} | {ks:g} | " + " | ".join(cells) + " | "
                  + (f"n = {wins}" if wins else "not up to n = 2^30") + f" | {lim:.2f} |")
    # The d beyond which the limit falls below 1 (the rates and iteration counts of the largest d
    # measured held fixed): newton's assembly 6 n^2 d^2 outgrows the sketch's extra iterations.
    dmax = max(d for (_, d, _) in pairs)
    kn, ks = iters.get(("newton", dmax)), iters.get(("newton-sketch", dmax))
    rn, rs = spf.get(("newton", dmax), (0, {}))[1], spf.get(("newton-sketch", dmax), (0, {}))[1]
    if kn and ks and "grad" in rn and "hess" in rn and "grad" in rs:
        kn, ks = _median(kn), _median(ks)
        dstar = next((dd for dd in range(1, 4097)
                      if (ks + 1) * (14.0 * dd + 8.0) * rs["grad"] < (kn + 1) * (14.0 * dd * rn["grad"] + 6.0 * dd * dd * rn["hess"])), None)
        md.append("")
        md.append(f"- With the rates and iteration counts measured at d = {dmax} (newton {kn:g}, newton-sketch {ks:g} "
                  f"iterations), newton-sketch wins for large n once d >= {dstar}" if dstar else
                  f"- With the rates and iteration counts measured at d = {dmax}, newton-sketch does not win at any d <= 4096")
        md.append("")
    md.append("\nEach cell: newton / newton-sketch seconds. Since a sampled Hessian's accuracy depends on m and "
              "not on n, newton-sketch's iteration count stays while newton's assembly grows as n^2 d^2 against its "
              "n^2 d gradient: newton-sketch wins once (sketch iterations) / (newton iterations) < (time of a newton "
              "iteration) / (time of a newton-sketch iteration), which tends to 1 + 3 d / 7 in flops.\n")
    return "\n".join(md) + "\n"


def make(sdir: Path, plan: dict, rows: list[dict], plots: bool = True):
    """The history plots and tables of a study, when its archives have /history: returns
    (Markdown, written files); writes convergence.md and phases.md too. ('', []) otherwise."""
    sdir = Path(sdir)
    runs = read_histories(sdir, rows)
    if not runs:
        return "", []
    order = list(ALGO_COLOURS)
    def problem_order(r):
        return tuple(float(r[k]) for k in r.get("problem_keys", []) if isinstance(r.get(k), (int, float)))
    runs.sort(key=lambda h: (order.index(h["row"]["algorithm"]) if h["row"]["algorithm"] in order else len(order),
                             h["row"]["algorithm"], problem_order(h["row"]), h["row"]["cores"], h["row"]["point"]))
    md, files = convergence(sdir, plan, runs, plots)
    (sdir / "convergence.md").write_text(md)
    pmd, pfiles = phases(sdir, plan, runs, plots)
    if pmd:
        (sdir / "phases.md").write_text(pmd)
    smd = sketch_crossover(runs)
    if smd:
        (sdir / "sketch.md").write_text(smd)
    return md + ("\n" + pmd if pmd else "") + ("\n" + smd if smd else ""), files + pfiles
