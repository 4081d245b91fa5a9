"""Study-specific plots and tables (a study declares one with top-level `plot = "..."`).

  poly-transition    inputs/studies/poly-transition.toml: time of poly vs exact ring against n for
                     every bound B, poly's degree and rank against B, the speedup exact/poly, and
                     where poly stops paying off. exact is extrapolated as c n^2 beyond its largest
                     measured size and poly linearly in n beyond its largest (both marked as
                     extrapolated); runs recorded as DOES_NOT_FIT are shown as "does not fit".
  accuracy-vs-cost   inputs/studies/kde-accuracy.toml: relative spectral error against the number of
                     samples m (samples for kde/hyper, features for performer), and against time.
  sparsify-columns, sparsify-error-vs-r, sparsify-time-vs-nnz, sparsify-coherent
                     inputs/studies/sparsify-*.toml: columns kept vs n with the
                     ceil(gamma n) lines and an n log n fit; attention error and its bound vs r;
                     time vs nnz with log-log slopes and phases; error and window vs m on a
                     coherent X.
  layout             inputs/studies/layout.toml: strong-scaling efficiency and /metrics load_balance
                     against ranks per variant/layout/heads curve, causal and non-causal panels
                     (layout-efficiency.png, layout-load-balance.png); the scaling plots are kept.

Called by `attnbench report` (src/report/report.py), which reads the archives: this module imports
none of the other report modules (report -> plot_studies, report -> plot_history -> plot_studies).

Reads only the run archives (root, /parameters, /validation and /metrics attributes) and, for runs
that left no archive because they do not fit, the runner's status file and plan.json. Writes
<plot>.png and <plot>.md (the table, also part of study.md) in the study folder.
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import described

sys.dont_write_bytecode = True


def save_figure(fig, path: Path, title: str | None = None, **tight_layout) -> Path:
    """The tail of every plot in the reports: the figure's title (if any), lay out, write at 110 dpi,
    free the figure."""
    import matplotlib.pyplot as plt
    if title is not None:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(**tight_layout)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _input_attr(path, name: str):
    """An attribute of the run's input file (e.g. the generator's reference errors), None if absent."""
    if not path or path == "synthetic" or not Path(str(path)).is_file():
        return None
    try:
        import h5py
        with h5py.File(path, "r") as f:
            v = f.attrs.get(name)
            return None if v is None else float(v)
    except (OSError, ValueError, TypeError):
        return None


def _arg(args: list, name: str, default=None):
    """Value of --name in a point's argument list."""
    for i, a in enumerate(args[:-1]):
        if a == f"--{name}":
            return args[i + 1]
    return default


def _median(xs):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else 0.5 * (xs[m - 1] + xs[m])


def _g(x, spec=".3g"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _pow2(n: int) -> str:
    e = math.log2(n)
    return f"2^{int(e)}" if e == int(e) else str(n)


# ---------------------------------------------------------------------------------------------
# poly-transition

def _records(sdir: Path, rows: list[dict]) -> list[dict]:
    recs = []
    for r in rows:
        a = dict(r["record"]["attrs"])   # root, param., val., met. attributes of the checked archive
        a["point"], a["valid_run"], a["time"] = r["point"], bool(r["valid"]), r["median_time"]
        a["state"] = r["status"]   # VALID, UNCERTIFIED (valid, no certificate), INVALID, PLAN_MISMATCH
        recs.append(a)
    return recs


def poly_transition(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    recs = _records(sdir, rows)
    exact = {}   # n -> [times]
    poly = {}    # (B, n) -> record (median time over runs)
    for a in recs:
        if a["algorithm"] == "exact":
            exact.setdefault(int(a["n"]), []).append(a["time"])
        elif a["algorithm"] == "poly":
            key = (float(a["bound"]), int(a["n"]))
            poly.setdefault(key, []).append(a)
    exact_t = {n: _median(ts) for n, ts in exact.items()}
    unfit_pts = {}  # (B, n) -> reason
    for u in unfit:
        b, n = _arg(u["args"], "bound"), _arg(u["args"], "n")
        if b is not None and n is not None:
            unfit_pts[(float(b), int(n))] = u["reason"]

    # exact model: c n^2 through the largest measured size (the most compute-bound one)
    c_exact = None
    if exact_t:
        n_big = max(exact_t)
        c_exact = exact_t[n_big] / n_big ** 2
    sizes = sorted({n for _, n in poly} | {n for _, n in unfit_pts} | set(exact_t))
    bounds = sorted({b for b, _ in poly} | {b for b, _ in unfit_pts})

    def exact_at(n):
        if n in exact_t:
            return exact_t[n], False
        return (c_exact * n * n, True) if c_exact else (float("nan"), True)

    def poly_model(b):
        """t = c_b n from the largest measured size of bound b (poly is O(n r d))."""
        pts = [(n, _median([x["time"] for x in v])) for (bb, n), v in poly.items() if bb == b]
        if not pts:
            return None
        n0, t0 = max(pts)
        return t0 / n0

    table, summary = [], []
    for b in bounds:
        cb = poly_model(b)
        measured = sorted(n for (bb, n) in poly if bb == b)
        for n in sizes:
            te, te_extra = exact_at(n)
            if (b, n) in poly:
                runs = poly[(b, n)]
                tp = _median([x["time"] for x in runs])
                a = runs[0]
                row = dict(B=b, n=n, degree=int(a.get("param.degree", -1)), rank=float(a.get("param.rank", float("nan"))),
                           R=a.get("param.R"), t_poly=tp, poly_extra=False, t_exact=te, exact_extra=te_extra,
                           err=a.get("val.rel_error"), bound=a.get("val.certified_bound"),
                           mode=a.get("param.error_mode", ""), valid=all(x["valid_run"] for x in runs))
                row["speedup"] = te / tp if tp > 0 else float("nan")
                row["status"] = ("pays off" if row["speedup"] > 1 else "does not pay off") + \
                                ("" if row["valid"] else ", INVALID")
            elif (b, n) in unfit_pts:
                reason = unfit_pts[(b, n)]
                m = re.search(r"C\(\d+\+(\d+), \d+\) = ([0-9.e+]+) needs ([0-9.]+ \w+)", reason)
                row = dict(B=b, n=n, degree=int(m.group(1)) if m else -1, rank=float(m.group(2)) if m else float("nan"),
                           R=None, t_poly=float("nan"), poly_extra=False, t_exact=te, exact_extra=te_extra,
                           err=None, bound=None, mode="", valid=False, speedup=float("nan"),
                           status=f"DOES NOT FIT ({m.group(3)} of feature buffers per rank)" if m else "DOES NOT FIT")
            elif cb is not None and measured and n > max(measured):
                tp = cb * n
                a = poly[(b, max(measured))][0]
                row = dict(B=b, n=n, degree=int(a.get("param.degree", -1)), rank=float(a.get("param.rank", float("nan"))),
                           R=None, t_poly=tp, poly_extra=True, t_exact=te, exact_extra=te_extra, err=None,
                           bound=None, mode="", valid=True, speedup=te / tp)
                row["status"] = "not run (extrapolated): " + ("pays off" if row["speedup"] > 1 else "does not pay off")
            else:
                continue
            table.append(row)
        # where it stops paying off, per B
        if cb is not None and c_exact:
            n_star = cb / c_exact   # c_exact n^2 = c_b n
            meas = [r for r in table if r["B"] == b and not r["poly_extra"] and r["t_poly"] == r["t_poly"]]
            pays = [r["n"] for r in meas if r["speedup"] > 1]
            slower = [r["n"] for r in meas if r["speedup"] <= 1]
            from_n = min([n for n in pays if all(m < n for m in slower)] or [None], key=lambda x: x or 0)
            degs = sorted({r["degree"] for r in meas})
            summary.append(f"B = {b:g}: degree {'/'.join(map(str, degs)) or '?'}, rank "
                           f"{'/'.join(_g(x) for x in sorted({r['rank'] for r in meas})) or '?'}; "
                           + (f"poly faster than exact at every measured n >= {from_n}"
                              + (f" (slower at n = {', '.join(map(str, slower))})" if slower else "")
                              if from_n else "poly is slower than exact at every measured n")
                           + f"; break-even n* = c_poly / c_exact ~ {n_star:.3g} (poly linear, exact quadratic)")
        elif any(bb == b for bb, _ in unfit_pts):
            summary.append(f"B = {b:g}: DOES NOT FIT the memory budget at any n: poly is not usable")
    b_pay = [b for b in bounds if any(r["B"] == b and r["speedup"] > 1 and not r["poly_extra"] for r in table)]
    b_not = [b for b in bounds if b not in b_pay]
    verdict = ""
    if b_pay and b_not:
        verdict = (f"Poly stops paying off between B = {max(b_pay):g} (faster than exact at measured n) and "
                   f"B = {min(x for x in b_not if x > max(b_pay)) if any(x > max(b_pay) for x in b_not) else min(b_not):g} "
                   "(slower at every measured n, or does not fit).")

    md = ["## poly-transition: poly (tolerance 1e-6) vs exact ring\n",
          "exact is measured up to n = " + (_pow2(max(exact_t)) if exact_t else "-")
          + (f" and extrapolated beyond as c n^2 with c = {c_exact:.3g} s (from the largest measured n); "
             if c_exact else "; ")
          + "poly sizes that were not run are extrapolated linearly in n from the largest measured size. "
          "`*` = extrapolated. Error: measured relative error (rel-in-max) of poly, and its certified bound.\n",
          "| B | n | degree g | rank r | poly time (s) | exact time (s) | speedup exact/poly | rel. error | certified | status |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in table:
        md.append(f"| {r['B']:g} | {r['n']} | {r['degree'] if r['degree'] >= 0 else '?'} | {_g(r['rank'])} | "
                  f"{_g(r['t_poly'], '.4g')}{'*' if r['poly_extra'] else ''} | "
                  f"{_g(r['t_exact'], '.4g')}{'*' if r['exact_extra'] else ''} | {_g(r['speedup'])} | "
                  f"{_g(r['err'], '.2e')} | {_g(r['bound'], '.2e')} | {r['status']} |")
    md.append("")
    md += [f"- {s}" for s in summary]
    if verdict:
        md.append(f"\n**{verdict}**")
    md_text = "\n".join(md) + "\n"

    files = []
    if plots:
        files.append(_plot_poly(sdir, plan, table, exact_t, c_exact, bounds, sizes))
    return md_text, files


def _plot_poly(sdir, plan, table, exact_t, c_exact, bounds, sizes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    color = {b: cmap(i / max(1, len(bounds) - 1) * 0.9) for i, b in enumerate(bounds)}
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 7))

    # (1) time vs n
    ns = sorted(exact_t)
    ax1.plot(ns, [exact_t[n] for n in ns], "s-", color="black", lw=2, label="exact ring (measured)")
    if c_exact and sizes:
        ext = [n for n in sizes if n >= max(ns)]
        if len(ext) > 1:
            ax1.plot(ext, [c_exact * n * n for n in ext], "s--", color="black", mfc="white", lw=1.5,
                     label="exact, extrapolated c n^2")
    top = 0
    for b in bounds:
        meas = [r for r in table if r["B"] == b and not r["poly_extra"] and r["t_poly"] == r["t_poly"]]
        extra = [r for r in table if r["B"] == b and r["poly_extra"]]
        if meas:
            ax1.plot([r["n"] for r in meas], [r["t_poly"] for r in meas], "o-", color=color[b],
                     label=f"poly B={b:g} (g={meas[0]['degree']}, r={meas[0]['rank']:.3g})")
            top = max(top, max(r["t_poly"] for r in meas))
        if extra:
            last = meas[-1:] if meas else []
            ax1.plot([r["n"] for r in last + extra], [r["t_poly"] for r in last + extra], "o:", color=color[b],
                     mfc="white", alpha=0.8)
    ymax = max([top] + [c_exact * max(sizes) ** 2 if c_exact else 0] + list(exact_t.values()))
    unfit = [r for r in table if r["status"].startswith("DOES NOT FIT")]
    if unfit:
        yb = ymax * 3
        ax1.plot([r["n"] for r in unfit], [yb] * len(unfit), "x", color="red", ms=10, mew=2.5,
                 label="poly B=" + ",".join(sorted({f"{r['B']:g}" for r in unfit})) + ": DOES NOT FIT (memory budget)")
        ax1.annotate("B=" + ",".join(sorted({f"{r['B']:g}" for r in unfit})) + ": does not fit", (min(r["n"] for r in unfit), yb),
                     textcoords="offset points", xytext=(0, 9), color="red", fontsize=8)

    ax1.plot([], [], "o:", color="gray", mfc="white", label="poly, extrapolated (linear in n)")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    if unfit:
        ax1.set_ylim(top=ymax * 3 * 8)
    ax1.set_xlabel("n (tokens)")
    ax1.set_ylabel("time per run (s)")
    ax1.set_title("time vs n (d = 8, 2 ranks; hollow/dashed = extrapolated)", fontsize=10)
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)

    # (2) speedup exact/poly vs B, one curve per n
    ncol = plt.get_cmap("plasma")
    for i, n in enumerate(sizes):
        pts = [r for r in table if r["n"] == n and r["speedup"] == r["speedup"]]
        if not pts:
            continue
        meas = [r for r in pts if not r["poly_extra"] and not r["exact_extra"]]
        style = "o-" if meas and len(meas) == len(pts) else "o--"
        ax2.plot([r["B"] for r in pts], [r["speedup"] for r in pts], style, color=ncol(i / max(1, len(sizes) - 1) * 0.85),
                 mfc="white" if len(meas) < len(pts) else None, label=f"n = {_pow2(n)}" + ("" if len(meas) == len(pts) else " (partly extrap.)"))
    ax2.axhline(1.0, color="red", ls="--", lw=1.5, label="break-even (poly stops paying off below)")
    for b in sorted({r["B"] for r in unfit}):
        ax2.axvline(b, color="red", alpha=0.12, lw=14)
        ax2.text(b, 1.0, f"B={b:g}: does not fit", color="red", rotation=90, va="center", ha="center", fontsize=8)
    ax2.set_yscale("log")
    ax2.set_xlabel("B (entries of Q, K, V in [-B, B])")
    ax2.set_ylabel("speedup exact / poly")
    ax2.set_title("where poly pays off (> 1)", fontsize=10)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)

    # (3) degree and rank vs B
    per_b = {}
    for r in table:
        if r["rank"] == r["rank"] and r["B"] not in per_b:
            per_b[r["B"]] = r
    bs = sorted(per_b)
    ok = [b for b in bs if not per_b[b]["status"].startswith("DOES NOT FIT")]
    bad = [b for b in bs if b not in ok]
    ax3.plot(ok, [per_b[b]["rank"] for b in ok], "o-", color="tab:blue", label="rank r = C(d+g, g)")
    if bad:
        ax3.plot(bad, [per_b[b]["rank"] for b in bad], "x", color="red", ms=12, mew=2.5,
                 label="needed rank: DOES NOT FIT")
    for b in bs:
        ax3.annotate(f"g={per_b[b]['degree']}", (b, per_b[b]["rank"]), textcoords="offset points", xytext=(4, -12),
                     fontsize=8)
    ax3.set_yscale("log")
    ax3.set_xlabel("B")
    ax3.set_ylabel("rank r (features per row)")
    ax3.set_title(f"poly's degree g and rank r at tolerance 1e-6 (n = {_pow2(min(sizes))})", fontsize=10)
    ax3.grid(True, which="both", alpha=0.3)
    ax3.legend(fontsize=7)
    return save_figure(fig, sdir / "poly-transition.png", f"{plan['study']}: Alman-Song bounded-entries transition")


# ---------------------------------------------------------------------------------------------
# accuracy-vs-cost

def accuracy_vs_cost(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    recs = _records(sdir, rows)
    data = {}  # algo -> m -> [records]
    for a in recs:
        algo = a["algorithm"]
        m = a.get("param.features") if algo == "performer" else a.get("param.samples")
        if m is None:
            continue
        data.setdefault(algo, {}).setdefault(int(m), []).append(a)
    algos = [x for x in ("kde", "hyper", "performer") if x in data] + sorted(x for x in data if x not in
                                                                           ("kde", "hyper", "performer"))
    ms = sorted({m for d in data.values() for m in d})

    def cell(algo, m, key):
        runs = data.get(algo, {}).get(m, [])
        vals = [float(x[key]) for x in runs if key in x]
        return _median(vals) if vals else float("nan")

    some = recs[0] if recs else {}
    md = ["## accuracy vs cost: relative spectral error vs samples m\n",
          f"Same input for every run: n = {some.get('n', '?')}, d = {some.get('d', '?')}, "
          f"input {Path(str(some.get('input', '?'))).name}, scale {some.get('scale_rule', some.get('scale', '?'))}, "
          f"{some.get('ranks', '?')} ranks. m = samples for kde and hyper (heavy bucket size m/2), random "
          "features for performer. Error: ||O~ - O||_2 / ||O||_2 over all rows (--error full); time: median over reps.\n",
          "| m | " + " | ".join(f"{a} error | {a} time (s)" for a in algos) + " |",
          "|---:|" + "---:|---:|" * len(algos)]
    for m in ms:
        md.append(f"| {m} | " + " | ".join(f"{_g(cell(a, m, 'val.rel_spectral_error'), '.3e')} | "
                                          f"{_g(cell(a, m, 'time'), '.3g')}" for a in algos) + " |")
    md.append("")
    trivial = _input_attr(some.get("input"), "mean_v_rel_spectral_error")
    if trivial is not None:
        md.append(f"- reference: returning mean(V) for every row scores {trivial:.3g} on this input "
                  "(computed by the input's generator); an error near it means the method learned nothing")
    for a in algos:
        xs = [m for m in ms if cell(a, m, "val.rel_spectral_error") > 0]
        if len(xs) >= 2:
            e0, e1 = cell(a, xs[0], "val.rel_spectral_error"), cell(a, xs[-1], "val.rel_spectral_error")
            slope = math.log(e1 / e0) / math.log(xs[-1] / xs[0])
            md.append(f"- {a}: error {e0:.3g} at m = {xs[0]} -> {e1:.3g} at m = {xs[-1]} "
                      f"(log-log slope {slope:.2f}; Monte Carlo would be -0.5)")
    if unfit:
        md.append(f"- {len(unfit)} run(s) did not fit the memory budget")
    md_text = "\n".join(md) + "\n"

    files = []
    if plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        style = {"kde": ("o-", "tab:blue"), "hyper": ("s-", "tab:orange"), "performer": ("^-", "tab:green")}
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        for a in algos:
            st, col = style.get(a, ("d-", None))
            xs = [m for m in ms if cell(a, m, "val.rel_spectral_error") == cell(a, m, "val.rel_spectral_error")]
            err = [cell(a, m, "val.rel_spectral_error") for m in xs]
            tt = [cell(a, m, "time") for m in xs]
            lab = a + (" (m = features)" if a == "performer" else " (m = samples, bucket m/2)")
            ax1.plot(xs, err, st, color=col, label=lab)
            ax2.plot(tt, err, st, color=col, label=a)
            for m, t, e in zip(xs, tt, err):
                ax2.annotate(str(m), (t, e), textcoords="offset points", xytext=(3, 3), fontsize=7, color=col)
        if ms:
            ref = [x for x in ms]
            e0 = max([cell(a, ms[0], "val.rel_spectral_error") for a in algos] + [0])
            if e0 > 0:
                ax1.plot(ref, [e0 * (m / ms[0]) ** -0.5 for m in ref], "k:", alpha=0.5, label="m^-1/2 (reference)")
        for ax in (ax1, ax2):
            ax.set_xscale("log", base=2 if ax is ax1 else 10)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_ylabel("relative spectral error ||O~ - O||_2 / ||O||_2")
            ax.legend(fontsize=8)
        ax1.set_xlabel("m (samples / features)")
        ax1.set_xticks(ms)
        ax1.set_xticklabels([str(m) for m in ms])
        ax2.set_xlabel("time per run (s, median; labels = m)")
        ax1.set_title("error vs m (peaked attention: clustered keys)", fontsize=10)
        ax2.set_title("error vs cost", fontsize=10)
        files.append(save_figure(fig, sdir / "accuracy-vs-cost.png",
                                 f"{plan['study']}: accuracy vs cost, n = {some.get('n', '?')}, d = {some.get('d', '?')}"))
    return md_text, files

# ---------------------------------------------------------------------------------------------
# layout

def _layout_label(r: dict) -> str:
    """The curve of a layout-study run: variant/layout, heads when there are several, and n."""
    h, kv = int(r.get("heads", 1) or 1), int(r.get("kv_heads", 1) or 1)
    heads = "" if h == 1 else (f" H={h}" + ("" if kv == h else f" Hkv={kv}"))
    return f"{r.get('variant', '?')}/{r.get('layout', '?')}{heads} n={_pow2(int(r.get('n', 0)))}"


def layout(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    """inputs/studies/layout.toml: strong-scaling efficiency (each curve against its own 1-rank
    point) and /metrics load_balance (max over mean of the ranks' compute seconds) against ranks,
    for every variant/layout/heads curve, causal and non-causal side by side."""
    curves = {}  # (causal, label) -> {ranks: [rows]}
    for r in rows:
        causal = bool(int(r.get("causal", 0) or 0))
        curves.setdefault((causal, _layout_label(r)), {}).setdefault(int(r["ranks"]), []).append(r)

    def stat(runs, key):
        ok = [x for x in runs if x["valid"]]
        vals = [float(x[key] if key in x else x["extra"].get(key, float("nan"))) for x in (ok or runs)]
        return _median(vals), bool(ok)

    ranks_all = sorted({int(r["ranks"]) for r in rows})
    md = ["## layout: strong scaling and load balance per variant and row layout\n",
          "Efficiency: each curve's rate against its own run with the fewest ranks (for p = 1 every layout "
          "does the same work). Load balance: /metrics load_balance, max over mean of the ranks' median "
          "compute seconds (1 = perfect; contiguous causal: (2p-1)/p). Bytes: received per rank.\n",
          "| mask | curve | " + " | ".join(f"p={p} time (s) | p={p} eff. | p={p} load bal. | p={p} MB recv"
                                        for p in ranks_all) + " |",
          "|---|---|" + "---:|---:|---:|---:|" * len(ranks_all)]
    for (causal, label) in sorted(curves, key=lambda k: (k[0], k[1])):
        cells = []
        for p in ranks_all:
            runs = curves[(causal, label)].get(p)
            if not runs:
                cells += ["-"] * 4
                continue
            t, ok = stat(runs, "median_time")
            e, _ = stat(runs, "efficiency")
            lb, _ = stat(runs, "load_balance")
            mb, _ = stat(runs, "bytes_received_per_rank")
            flag = "" if ok else " INVALID"
            cells += [_g(t, ".4g") + flag, _g(100 * e, ".1f") + "%" if e == e else "n/a", _g(lb, ".3f"),
                      _g(mb / 1e6, ".3g") if mb == mb else "n/a"]
        md.append(f"| {'causal' if causal else 'full'} | {label} | " + " | ".join(cells) + " |")
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and rows:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.lines
        import matplotlib.pyplot as plt
        cmap = plt.get_cmap("tab20")
        labels = sorted({lab for _, lab in curves})
        color = {lab: cmap(i % 20) for i, lab in enumerate(labels)}
        style = {lab: ("--" if " H=" in lab else "-") for lab in labels}  # dashed: multi-head

        def panels(key, scale, ylabel, ideal, fname, title):
            fig, axes = plt.subplots(1, 2, figsize=(15, 5.5), sharey=True)
            for ax, causal in zip(axes, (False, True)):
                for lab in labels:
                    pts = curves.get((causal, lab))
                    if not pts:
                        continue
                    xs = sorted(pts)
                    ys = [stat(pts[p], key) for p in xs]
                    ax.plot(xs, [scale * y for y, _ in ys], "o" + style[lab], color=color[lab], label=lab)
                    bad = [(p, scale * y) for p, (y, ok) in zip(xs, ys) if not ok]
                    if bad:
                        ax.plot([b[0] for b in bad], [b[1] for b in bad], "x", color="red", markersize=11, mew=2.5)
                for y, ls, txt in ideal:
                    ax.axhline(y, color="k", ls=ls, alpha=0.5, label=txt)
                ax.set_xscale("log", base=2)
                ax.set_xticks(ranks_all)
                ax.set_xticklabels([str(p) for p in ranks_all])
                ax.minorticks_off()
                ax.set_xlabel("ranks (1 thread each)")
                ax.grid(True, alpha=0.3)
                ax.set_title(("causal" if causal else "non-causal (full)") + f": {title}", fontsize=10)
                if ax is axes[0]:
                    ax.set_ylabel(ylabel)
            handles, names = {}, []
            for ax in axes:
                for h, nme in zip(*ax.get_legend_handles_labels()):
                    if nme not in handles:
                        handles[nme] = h
                        names.append(nme)
            refs = [txt for _, _, txt in ideal]
            names = sorted(x for x in names if x not in refs) + refs  # the curves, then the references
            if any(not ok for pts in curves.values() for runs in pts.values() for ok in [stat(runs, key)[1]]):
                handles["INVALID run"] = matplotlib.lines.Line2D([], [], ls="", marker="x", color="red", mew=2.5)
                names.append("INVALID run")
            fig.legend([handles[x] for x in names], names, fontsize=7, loc="center left", bbox_to_anchor=(0.78, 0.5))
            files.append(save_figure(fig, sdir / fname, f"{plan['study']}: {title}", rect=(0, 0, 0.78, 0.95)))

        panels("efficiency", 100.0, "strong-scaling efficiency (%)", [(100, "--", "ideal"), (90, ":", "90% target")],
               "layout-efficiency.png", "strong-scaling efficiency vs ranks")
        panels("load_balance", 1.0, "load balance (max / mean compute time)", [(1, "--", "perfect balance")],
               "layout-load-balance.png", "load balance vs ranks")
    return md_text, files


# ---------------------------------------------------------------------------------------------
# sparsify: the four studies of inputs/studies/sparsify-*.toml. Each reads the run
# archives only; a method is the archive's `algorithm` (bss also split by /parameters gamma).

_SP_STYLE = {"leverage": ("o-", "tab:blue"), "leverage-sketch": ("s-", "tab:purple"), "bss": ("^-", "tab:red"),
             "uniform": ("v-", "tab:gray"), "gaussian": ("D-", "tab:green")}
_SP_ORDER = ("leverage", "leverage-sketch", "bss", "uniform", "gaussian")


def _sp_order(names):
    return [a for a in _SP_ORDER if a in names] + sorted(a for a in names if a not in _SP_ORDER)


def _sp_run_notes(recs, by_point: bool) -> list[str]:
    """The invalid runs, and the UNCERTIFIED ones (by point, or by method when every run of a method
    is), as Markdown list items of a sparsify study's table."""
    invalid = [a["point"] for a in recs if not a["valid_run"]]
    out = [f"- invalid runs: {', '.join(invalid) if invalid else 'none'}"]
    uncertified = described.state(valid=True, certified=False)
    uncert = ([a["point"] for a in recs if a["state"] == uncertified] if by_point
              else sorted({a["algorithm"] for a in recs if a["state"] == uncertified}))
    if uncert:
        out.append("- UNCERTIFIED " + ("runs " if by_point else "") + "(valid output, no certificate: the error is "
                   "measured, not bounded): " + ("" if by_point else "every run of ") + ", ".join(uncert))
    return out


def _sp_plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _sp_style(method: str):
    """(line style, colour) of a sparsify method in every plot (a default for unlisted ones)."""
    return _SP_STYLE.get(method, ("d-", None))


def _sp_styled(methods):
    """(method, line style, colour) for each method."""
    return [(m, *_sp_style(m)) for m in methods]


def _sp_two_panels():
    """The sparsify studies' side-by-side figure: (figure, left axes, right axes)."""
    fig, (ax1, ax2) = _sp_plt().subplots(1, 2, figsize=(13, 5.2))
    return fig, ax1, ax2


def _md_grid(corner: str, keys, series, heads, key_text, cells) -> list[str]:
    """A Markdown table, right-aligned: one row per key (key_text(key) in the first column), and per
    series the columns `heads`, filled by cells(series, key) (None: the series has no such point)."""
    lines = ["| " + corner + " | " + " | ".join(f"{s} {h}" for s in series for h in heads) + " |",
             "|---:|" + "---:|" * (len(heads) * len(series))]
    for k in keys:
        row = [" | ".join(cells(s, k) or ["n/a"] * len(heads)) for s in series]
        lines.append(f"| {key_text(k)} | " + " | ".join(row) + " |")
    return lines


def _sp_fit_slope(xs, ys):
    """Least-squares slope of log y against log x (None with fewer than 2 positive points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0 and y == y]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return None if sxx == 0 else sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def sparsify_columns(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    """Study 1: columns kept vs n. Lines: ceil(gamma n) per bss gamma (its guarantee), the draws m
    of the sampling methods (an upper bound on distinct columns), a fit c n ln(2 n / delta) of the
    exact-leverage points (the n log n claim), and d."""
    recs = _records(sdir, rows)
    series = {}  # label -> n -> record
    for a in recs:
        algo = a["algorithm"]
        label = f"bss gamma={_g(float(a['param.gamma']), 'g')}" if algo == "bss" else algo
        series.setdefault(label, {})[int(a["n"])] = a
    labels = sorted(series, key=lambda l: (_SP_ORDER.index(l.split()[0]) if l.split()[0] in _SP_ORDER else 9, l))
    ns = sorted({n for s in series.values() for n in s})
    d = int(recs[0]["d"]) if recs else 0
    delta = next((float(a["param.delta"]) for a in recs if "param.delta" in a), 0.1)
    nlogn = {n: n * math.log(2 * n / delta) for n in ns}
    lev = series.get("leverage", {})
    # The n log n claim is about the draws m = ceil(3 n ln(2n/delta) / eps^2); distinct columns of
    # m draws saturate as m approaches d: with near-uniform probabilities (an incoherent X) the
    # expected count is d (1 - e^{-m/d}). The fit undoes that: m_eff = -d ln(1 - kept/d) is the
    # number of uniform draws that give `kept` distinct columns; m_eff = c n ln(2n/delta) by least
    # squares through the origin (c = 3/eps^2 if the leverage scores were uniform; smaller when
    # some columns carry more leverage and are drawn repeatedly).
    def m_eff(kept):
        return -d * math.log(1 - kept / d) if 0 < kept < d else float("nan")
    pts = [(nlogn[n], m_eff(float(lev[n]["val.columns_kept"]))) for n in sorted(lev)]
    pts = [(x, y) for x, y in pts if y == y]
    c_fit = sum(x * y for x, y in pts) / sum(x * x for x, _ in pts) if pts else None
    slope_lev = _sp_fit_slope([n for n in sorted(lev)], [m_eff(float(lev[n]["val.columns_kept"])) for n in sorted(lev)])
    md = ["## sparsify: columns kept vs n\n",
          f"d = {d}, density {_g(recs[0].get('density') if recs else None)}, {recs[0].get('ranks', '?') if recs else '?'} "
          f"ranks. kept = distinct columns of Y (/validation columns_kept); m = draws (sampling) or steps "
          f"ceil(gamma n) (bss, its bound on kept columns).\n",
          *_md_grid("n", ns, labels, ["kept", "m"], str,
                    lambda l, n: [str(int(series[l][n]["val.columns_kept"])), str(int(series[l][n]["param.m"]))]
                    if n in series[l] else None)]
    md.append("")
    for l in labels:
        if l.startswith("bss"):
            ok = all(int(a["val.columns_kept"]) <= int(a["param.m"]) for a in series[l].values())
            md.append(f"- {l}: kept <= ceil(gamma n) at every n: {'yes' if ok else 'NO'}; "
                      f"kept / n = {', '.join(_g(int(a['val.columns_kept']) / n, '.2f') for n, a in sorted(series[l].items()))}")
    if c_fit is not None:
        eps = float(lev[min(lev)]["param.eps"])
        md.append(f"- leverage: draws m = {3 / eps ** 2:.0f} n ln(2n/delta) by definition; the distinct columns, "
                  f"de-saturated (m_eff = -d ln(1 - kept/d)), fit m_eff = {c_fit:.2f} n ln(2n/delta) "
                  f"(least squares); log-log slope of m_eff vs n {_g(slope_lev, '.2f')} (n ln(2n/delta) over this "
                  f"range: {_g(_sp_fit_slope(ns, [nlogn[n] for n in ns]), '.2f')}; linear: 1)")
        dev = [abs(m_eff(float(lev[n]["val.columns_kept"])) / (c_fit * nlogn[n]) - 1) for n in lev]
        pred = [abs(float(lev[n]["val.columns_kept"]) / (d * (1 - math.exp(-float(lev[n]["param.m"]) / d))) - 1)
                for n in lev]
        md.append(f"- leverage: largest deviation of m_eff from the fit {100 * max(dev):.1f}%; kept vs the uniform "
                  f"saturation model d (1 - e^(-m/d)): within {100 * max(pred):.1f}%")
    sk = series.get("leverage-sketch")
    if sk and all(str(a.get("param.bound", "classic")) == "chernoff" for a in sk.values()):
        md.append("- leverage-sketch (--bound chernoff): m = the exact-score budget, no oversampling factor (JL "
                  "screen factor a = " + ", ".join(f"{_g(float(a.get('param.screen_factor', float('nan'))), '.1f')} "
                                                  f"(n = {n})" for n, a in sorted(sk.items()))
                  + "; exact scores computed for " + ", ".join(str(int(a.get("val.candidates", -1))) for _, a in sorted(sk.items()))
                  + " candidate columns); the factor its JL scores alone would have needed (validation score_factor): "
                  + ", ".join(_g(float(a.get("val.score_factor", float("nan"))), ".2f") for _, a in sorted(sk.items())))
    elif sk:
        md.append("- leverage-sketch: m = draws scaled by its oversampling factor "
                  + ", ".join(f"{_g(float(a.get('param.oversample', float('nan'))), '.1f')} (n = {n})"
                              for n, a in sorted(sk.items()))
                  + f"; the factor its scores needed (validation score_factor): "
                  + ", ".join(_g(float(a.get("val.score_factor", float("nan"))), ".2f") for _, a in sorted(sk.items())))
    md += _sp_run_notes(recs, by_point=True)
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and recs:
        plt = _sp_plt()
        fig, ax = plt.subplots(figsize=(11.5, 6))
        gcols = ["tab:red", "tab:orange", "tab:brown", "tab:pink"]
        gi = 0
        for l in labels:
            xs = sorted(series[l])
            kept = [int(series[l][n]["val.columns_kept"]) for n in xs]
            m = [int(series[l][n]["param.m"]) for n in xs]
            if l.startswith("bss"):
                col = gcols[gi % len(gcols)]
                gi += 1
                # The guarantee line under the points, wide and light so that both stay visible.
                ax.plot(xs, m, "-", color=col, alpha=0.25, lw=6, label=f"ceil(gamma n), gamma={l.split('=')[1]}")
                ax.plot(xs, kept, "^-", color=col, label=f"{l}: kept")
            else:
                st, col = _sp_style(l)
                ax.plot(xs, kept, st, color=col, label=f"{l}: kept")
                ax.plot(xs, m, ":", color=col, alpha=0.8, label=f"{l}: draws m" +
                        (" = 3 n ln(2n/delta)/eps^2" if l == "leverage" else " (oversampled)"))
        if c_fit is not None:
            fine = [ns[0] * (ns[-1] / ns[0]) ** (i / 50) for i in range(51)]
            ax.plot(fine, [d * (1 - math.exp(-c_fit * f * math.log(2 * f / delta) / d)) for f in fine], "-",
                    color="k", alpha=0.3, lw=3,
                    label=f"fit: kept = d (1 - exp(-m_eff/d)), m_eff = {c_fit:.2f} n ln(2n/delta)")
        ax.axhline(d, color="k", lw=0.8, ls="-.", label=f"d = {d}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns])
        ax.set_xlabel("n (rows of X)")
        ax.set_ylabel("columns")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the curves fill the axes
        ax.set_title(f"{plan['study']}: columns kept vs n (d = {d})", fontsize=10)
        files.append(save_figure(fig, sdir / "sparsify-columns.png"))
    return md_text, files


def sparsify_error_vs_r(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    """Study 2: attention error vs r = |X X^T|_max per method, with each run's bound
    (e^{2 eps' r} - 1) e^{2r} / n (eps' the window it reached); error / r vs r (O(r): flat).
    Several seeds per r (independent X and draws): the table gives the median and the spread
    (min..max over seeds) at each r, the slope is fitted over every run, the plot draws every run,
    the median and the min..max band."""
    recs = _records(sdir, rows)
    data = {}   # algo -> r (requested, so that the seeds of one r group) -> [records]
    for a in recs:
        r_key = float(a.get("r_requested") or a["val.r"])
        data.setdefault(a["algorithm"], {}).setdefault(r_key, []).append(a)
    algos = _sp_order(data)
    rs = sorted({r for d_ in data.values() for r in d_})
    some = recs[0] if recs else {}
    seeds = sorted({int(a["seed"]) for a in recs if "seed" in a})
    # Seeds per r: each r's own (a study may cross seeds with r, or give every point its own seed).
    seeds_at = {r: sorted({int(a["seed"]) for d_ in data.values() for a in d_.get(r, []) if "seed" in a}) for r in rs}
    per_r = sorted({len(v) for v in seeds_at.values()})
    shared = len(seeds) == (per_r[0] if per_r else 0)   # the same seeds at every r
    seed_text = (f"{'-'.join(map(str, per_r))} seed(s) per r ("
                 + (f"{', '.join(map(str, seeds))} at every r: the same X scaled, so error / r varies only through exp"
                    if shared and len(rs) > 1 else f"{len(seeds)} seeds, no two points share one: independent X and draws")
                 + ")")

    def vals(runs, key):
        return [float(x[key]) for x in runs]

    def spread(xs, spec):
        return _g(_median(xs), spec) + (f" ({_g(min(xs), spec)}..{_g(max(xs), spec)})" if len(xs) > 1 else "")

    md = ["## sparsify: attention error vs r\n",
          f"n = {some.get('n', '?')}, d = {some.get('d', '?')}, {some.get('ranks', '?')} ranks; r = |X X^T|_max; "
          f"{seed_text}, cells: median "
          "(min..max over the seeds); error = max |D(Y)^-1 exp(YY^T) - D(X)^-1 exp(XX^T)|; bound = "
          "(e^{2 eps' r} - 1) e^{2r} / n with eps' the window the run reached; m per method in the last row.\n",
          "| r | " + " | ".join(f"{a} error | {a} bound | {a} error/r" for a in algos) + " |",
          "|---:|" + "---:|---:|---:|" * len(algos)]
    for r in rs:
        cells = []
        for a in algos:
            runs = data[a].get(r)
            if not runs:
                cells.append("n/a | n/a | n/a")
                continue
            cells.append(" | ".join([spread(vals(runs, "val.attention_error"), ".3e"),
                                     spread(vals(runs, "val.attention_bound"), ".3e"),
                                     spread(vals(runs, "val.error_over_r"), ".4f")]))
        md.append(f"| {_g(r, '.3g')} | " + " | ".join(cells) + " |")
    md.append("| m | " + " | ".join(f"{int(next(iter(data[a].values()))[0]['param.m'])} | | " for a in algos) + " |")
    md.append("")
    for a in algos:
        pts = [(float(x["val.r"]), x) for r in sorted(data[a]) for x in data[a][r]]
        xs = [p[0] for p in pts]
        err = [float(p[1]["val.attention_error"]) for p in pts]
        within = all(float(x["val.attention_error"]) <= float(x["val.attention_bound"]) * (1 + 1e-9) for _, x in pts)
        slope = _sp_fit_slope(xs, err)
        eps_reached = [float(x["val.eps_reached"]) for _, x in pts]
        ratio_med = [_median(vals(data[a][r], "val.error_over_r")) for r in sorted(data[a])]
        md.append(f"- {a}: error ~ r^{_g(slope, '.2f')} (log-log fit over {len(pts)} runs; O(r) means <= 1 for small r), "
                  f"error / r {_g(min(e / r for e, r in zip(err, xs)), '.3g')}..{_g(max(e / r for e, r in zip(err, xs)), '.3g')}"
                  f" (median per r: {', '.join(_g(v, '.3g') for v in ratio_med)}), "
                  f"within the bound at every r: {'yes' if within else 'NO'}; window eps' "
                  f"{_g(min(eps_reached), '.3f')}..{_g(max(eps_reached), '.3f')}")
    md += _sp_run_notes(recs, by_point=False)
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and recs:
        plt = _sp_plt()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
        for a in algos:
            st, col = _SP_STYLE.get(a, ("d-", None))
            rk = sorted(data[a])
            # every run (hollow markers, decreasing size: methods can coincide), the median per r as a
            # line, the min..max over seeds as a band (error / r) or bars (error).
            ms = 9 - 1.2 * algos.index(a)
            every = [(float(x["val.r"]), float(x["val.attention_error"])) for r in rk for x in data[a][r]]
            ax1.plot([p[0] for p in every], [p[1] for p in every], st[0], color=col, mfc="none", ms=ms, alpha=0.7)
            med = [_median(vals(data[a][r], "val.attention_error")) for r in rk]
            ax1.plot(rk, med, "-", color=col, label=f"{a} (m = {int(data[a][rk[0]][0]['param.m'])}): median")
            ax1.plot(rk, [_median(vals(data[a][r], "val.attention_bound")) for r in rk], "--", color=col, alpha=0.6,
                     label=f"{a}: bound (median)")
            ratio = [vals(data[a][r], "val.error_over_r") for r in rk]
            ax2.plot([p[0] for p in every], [p[1] / p[0] for p in every], st[0], color=col, mfc="none", ms=ms, alpha=0.7)
            ax2.plot(rk, [_median(v) for v in ratio], "-", color=col, label=a)
            ax2.fill_between(rk, [min(v) for v in ratio], [max(v) for v in ratio], color=col, alpha=0.15)
            ax2.plot(rk, [_median(vals(data[a][r], "val.attention_bound")) / r for r in rk], "--", color=col, alpha=0.6)
        if rs:
            # Reference slope 1 below every curve (so that it hides none of them).
            e0 = min(float(x["val.attention_error"]) for a in algos for x in data[a].get(rs[0], []))
            ax1.plot(rs, [0.4 * e0 * r / rs[0] for r in rs], "k:", alpha=0.6, label="slope 1 (O(r)), reference")
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel("r = |X X^T|_max")
            ax.set_xticks(rs)
            ax.set_xticklabels([_g(r, "g") for r in rs])
        ax1.set_ylabel("attention error (max abs)")
        ax2.set_ylabel("error / r (band: min..max over seeds; dashed: bound / r)")
        ax1.legend(fontsize=7, loc="upper left", ncol=2)
        ax2.legend(fontsize=7, loc="center right")
        ax1.set_title("error (every run, median) and its bound vs r", fontsize=10)
        ax2.set_title(f"error / r, {'-'.join(map(str, per_r))} seed(s) per r: flat = the paper's O(r)", fontsize=10)
        fig.suptitle(f"{plan['study']}: n = {some.get('n', '?')}, d = {some.get('d', '?')}", fontsize=11)
        out = save_figure(fig, sdir / "sparsify-error-vs-r.png")
        files.append(out)
    return md_text, files


def sparsify_time_vs_nnz(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    """Study 3: median time vs nnz(X) per method, one curve per density (d varies along it);
    log-log slopes; the per-phase split."""
    recs = _records(sdir, rows)
    for r, a in zip(rows, recs):  # _records keeps the order of rows
        a["phases"] = r["record"]["phases"]   # per phase: median over reps of the max over ranks
    data = {}  # algo -> density -> [(nnz, d, time, rec)]
    for a in recs:
        data.setdefault(a["algorithm"], {}).setdefault(float(a["density"]), []).append(
            (int(a["nnz"]), int(a["d"]), float(a["time"]), a))
    algos = _sp_order(data)
    some = recs[0] if recs else {}
    md = ["## sparsify: time vs nnz(X)\n",
          f"n = {some.get('n', '?')}, {some.get('ranks', '?')} ranks; time = median over reps of the run (max over "
          "ranks); phases: median over reps of the max over ranks. Machine shared with other jobs: ratios within "
          "one study are meaningful, absolute times are not.\n",
          "| method | density | d | nnz | time (s) | time / nnz (ns) | phases (s) |", "|---|---:|---:|---:|---:|---:|---|"]
    for a in algos:
        for dens in sorted(data[a]):
            for nnz, d, t, rec in sorted(data[a][dens]):
                ph = ", ".join(f"{k} {_g(v, '.2g')}" for k, v in sorted(rec["phases"].items())
                               if k not in ("total", "setup", "io"))
                md.append(f"| {a} | {_g(dens, 'g')} | {_pow2(d)} | {nnz:.3g} | {_g(t, '.3g')} | "
                          f"{_g(1e9 * t / nnz, '.3g')} | {ph} |")
    md.append("")
    for a in algos:
        allp = [(nnz, t) for dens in data[a] for nnz, _, t, _ in data[a][dens]]
        s_all = _sp_fit_slope([x for x, _ in allp], [t for _, t in allp])
        per = []
        for dens in sorted(data[a]):
            pts = sorted(data[a][dens])
            per.append(f"density {_g(dens, 'g')}: {_g(_sp_fit_slope([p[0] for p in pts], [p[2] for p in pts]), '.2f')}")
        alld = [(d, t) for dens in data[a] for _, d, t, _ in data[a][dens]]
        s_d = _sp_fit_slope([x for x, _ in alld], [t for _, t in alld])
        md.append(f"- {a}: time ~ nnz^{_g(s_all, '.2f')} over all points ({'; '.join(per)} along d); "
                  f"time ~ d^{_g(s_d, '.2f')} over all points")
    # Affine models (the claims): leverage-sketch t = t0 + c nnz (O(nnz) + n^omega: t0 the n-only
    # part - sketch Allreduce of s n words, the s n^2 Gram, sampling m draws); exact leverage
    # t = t0 + c n^2 d (the L^{-1} X solve). Least squares on the medians.
    def affine(xs, ys):
        k = len(xs)
        if k < 2:
            return None
        mx, my = sum(xs) / k, sum(ys) / k
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx == 0:
            return None
        c = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        t0 = my - c * mx
        ss = sum((y - my) ** 2 for y in ys)
        r2 = 1 - sum((y - t0 - c * x) ** 2 for x, y in zip(xs, ys)) / ss if ss > 0 else float("nan")
        return t0, c, r2
    n_ = float(some.get("n", 0) or 0)
    for a, what, xkey in (("leverage-sketch", "nnz", lambda nnz, d: nnz), ("leverage", "n^2 d", lambda nnz, d: n_ * n_ * d)):
        if a not in data:
            continue
        pts = [(xkey(nnz, d), t) for dd in data[a].values() for nnz, d, t, _ in dd]
        fit = affine([x for x, _ in pts], [t for _, t in pts])
        if fit:
            md.append(f"- {a}: time = {fit[0]:.3g} s + {fit[1]:.3g} s x {what} (affine least squares, R^2 = "
                      f"{fit[2]:.3f}); the fixed part is the n-only work")
    if "leverage-sketch" in data:
        recs_sk = [(nnz, d, rec) for dd in data["leverage-sketch"].values() for nnz, d, _, rec in dd]
        sk = [(nnz, rec["phases"].get("sketch", 0.0)) for nnz, _, rec in recs_sk]
        sc = [(nnz, rec["phases"].get("scores", 0.0)) for nnz, _, rec in recs_sk]
        md.append(f"- leverage-sketch, CountSketch phase (`sketch`, O(nnz)): ~ nnz^"
                  f"{_g(_sp_fit_slope([x for x, _ in sk], [y for _, y in sk]), '.2f')} (1 = linear in nnz); JL scores "
                  f"phase (`scores`, O(k nnz + k d)): ~ nnz^{_g(_sp_fit_slope([x for x, _ in sc], [y for _, y in sc]), '.2f')}")
    if "leverage" in data and "leverage-sketch" in data:
        ratios = []
        for dens in sorted(data["leverage"]):
            lv = {d: t for _, d, t, _ in data["leverage"][dens]}
            for _, d, t, _ in data["leverage-sketch"].get(dens, []):
                if d in lv:
                    ratios.append((dens, d, lv[d] / t))
        if ratios:
            md.append("- exact leverage time / leverage-sketch time: " +
                      ", ".join(f"{_g(r, '.2g')} (density {_g(dn, 'g')}, d {_pow2(d)})" for dn, d, r in ratios))
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and recs:
        fig, ax1, ax2 = _sp_two_panels()
        marks = ["o", "s", "^", "D", "v"]
        for a, _, col in _sp_styled(algos):
            for i, dens in enumerate(sorted(data[a])):
                pts = sorted(data[a][dens])
                ax1.plot([p[0] for p in pts], [p[2] for p in pts], marks[i % len(marks)] + "-", color=col,
                         alpha=0.5 + 0.5 * (i + 1) / len(data[a]), label=f"{a}, density {_g(dens, 'g')}")
                ax2.plot([p[1] for p in pts], [p[2] for p in pts], marks[i % len(marks)] + "-", color=col,
                         alpha=0.5 + 0.5 * (i + 1) / len(data[a]), label=f"{a}, density {_g(dens, 'g')}")
        allnnz = sorted({nnz for a in algos for dd in data[a].values() for nnz, *_ in dd})
        if "leverage-sketch" in data and allnnz:
            # The nnz-dependent phases of leverage-sketch (sketch + JL scores), all densities on one
            # curve, against a slope-1 reference through their largest point.
            ph = sorted((nnz, rec["phases"].get("sketch", 0.0))
                        for dd in data["leverage-sketch"].values() for nnz, _, _, rec in dd)
            ph = [p for p in ph if p[1] > 0]
            if ph:
                ax1.plot([p[0] for p in ph], [p[1] for p in ph], "x:", color=_SP_STYLE["leverage-sketch"][1],
                         label="leverage-sketch: CountSketch phase")
                top = ph[-1]
                ax1.plot(allnnz, [top[1] * x / top[0] for x in allnnz], "k:", alpha=0.5, label="slope 1 (time ~ nnz)")
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_ylabel("time per run (s, median)")
            ax.legend(fontsize=7)
        ax1.set_xlabel("nnz(X)")
        ax2.set_xlabel("d")
        ds = sorted({d for a in algos for dd in data[a].values() for _, d, _, _ in dd})
        ax2.set_xticks(ds)
        ax2.set_xticklabels([_pow2(d) for d in ds])
        ax2.minorticks_off()
        # Readable time ticks on a short log range (matplotlib labels only the decades).
        tmin = min(t for a in algos for dd in data[a].values() for _, _, t, _ in dd)
        tmax = max(t for a in algos for dd in data[a].values() for _, _, t, _ in dd)
        ticks = [v * 10.0 ** e for e in range(-4, 4) for v in (1, 2, 5) if tmin / 1.5 <= v * 10.0 ** e <= tmax * 1.5]
        if ticks:
            ax2.set_yticks(ticks)
            ax2.set_yticklabels([_g(t, "g") for t in ticks])
        ax1.set_title("time vs nnz (curves: one density, d growing; x: the CountSketch phase)", fontsize=10)
        ax2.set_title("time vs d (exact leverage pays n^2 d at any density)", fontsize=10)
        files.append(save_figure(fig, sdir / "sparsify-time-vs-nnz.png",
                                 f"{plan['study']}: n = {some.get('n', '?')}, {some.get('ranks', '?')} ranks "
                                 "(shared machine)"))
    return md_text, files


def sparsify_coherent(sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool):
    """Study 4: coherent X, error and window vs m per method (bss at its ceil(gamma n) steps; the
    columns it kept are in the table: it may pick a column more than once)."""
    recs = _records(sdir, rows)
    data = {}  # algo -> [(x, rec)]
    for a in recs:
        x = int(a["param.m"])  # draws, JL width, or bss steps ceil(gamma n)
        data.setdefault(a["algorithm"], []).append((x, a))
    algos = _sp_order(data)
    some = recs[0] if recs else {}
    md = ["## sparsify: coherent X, error and window vs m\n",
          f"n = {some.get('n', '?')}, d = {some.get('d', '?')}, coherence {some.get('coherence', '?')} (n heavy "
          f"columns hold that fraction of each row's mass), r = {_g(float(some.get('r', 'nan')))}; m = draws "
          "(uniform, leverage), JL width (gaussian), steps ceil(gamma n) (bss; gamma in parentheses; a step may "
          "pick a column again, so bss can keep fewer columns than steps). "
          "Window = [spectral_low, spectral_high] of L^-1 YY^T L^-T.\n",
          "| method | m | kept | window | attention error | bound | state |", "|---|---:|---:|---|---:|---:|---|"]
    for a in algos:
        for x, rec in sorted(data[a], key=lambda t: t[0]):
            tag = f" (gamma {_g(float(rec['param.gamma']), 'g')})" if a == "bss" else ""
            md.append(f"| {a} | {x}{tag} | {int(rec['val.columns_kept'])} | [{_g(float(rec['val.spectral_low']), '.3f')}, "
                      f"{_g(float(rec['val.spectral_high']), '.3f')}] | {_g(float(rec['val.attention_error']), '.3e')} | "
                      f"{_g(float(rec['val.attention_bound']), '.3e')} | {rec['state']} |")
    md.append("")
    common = None
    if "uniform" in data and "leverage" in data:
        common = {x for x, _ in data["uniform"]} & {x for x, _ in data["leverage"]}
    for m in sorted(common or [])[-1:]:  # the largest m both ran
        u = next(r for x, r in data["uniform"] if x == m)
        lv = next(r for x, r in data["leverage"] if x == m)
        md.append(f"- at m = {m}: uniform window low {_g(float(u['val.spectral_low']), '.3f')}, error "
                  f"{_g(float(u['val.attention_error']), '.3e')}; leverage low {_g(float(lv['val.spectral_low']), '.3f')}, "
                  f"error {_g(float(lv['val.attention_error']), '.3e')} "
                  f"(ratio uniform/leverage {_g(float(u['val.attention_error']) / float(lv['val.attention_error']), '.3g')})")
    for a in algos:
        pts = sorted(data[a], key=lambda t: t[0])
        s = _sp_fit_slope([x for x, _ in pts], [float(r["val.attention_error"]) for _, r in pts])
        md.append(f"- {a}: error ~ m^{_g(s, '.2f')} (log-log fit); window low "
                  f"{_g(float(pts[0][1]['val.spectral_low']), '.3f')} -> {_g(float(pts[-1][1]['val.spectral_low']), '.3f')}")
    md_text = "\n".join(md) + "\n"
    files = []
    if plots and recs:
        fig, ax1, ax2 = _sp_two_panels()
        for a, st, col in _sp_styled(algos):
            pts = sorted(data[a], key=lambda t: t[0])
            xs = [x for x, _ in pts]
            ax1.plot(xs, [float(r["val.attention_error"]) for _, r in pts], st, color=col,
                     label=a + (" (x = steps ceil(gamma n))" if a == "bss" else ""))
            # An attention error is at most 1 (both matrices are row-stochastic): a bound above 1
            # (uniform's, from a window of hundreds) says nothing and is drawn capped at 1.
            ax1.plot(xs, [min(float(r["val.attention_bound"]), 1.0) for _, r in pts], "--", color=col, alpha=0.5)
            ax2.plot(xs, [float(r["val.spectral_low"]) for _, r in pts], st, color=col, label=f"{a}: low")
            ax2.plot(xs, [float(r["val.spectral_high"]) for _, r in pts], st.replace("-", "--"), color=col,
                     alpha=0.6, label=f"{a}: high")
        ax2.axhline(1.0, color="k", lw=0.8)
        eps = next((float(r["param.eps"]) for _, r in data.get("leverage", []) if "param.eps" in r), None)
        if eps is not None:
            ax2.axhspan(1 - eps, 1 + eps, color="tab:blue", alpha=0.08, label=f"leverage target [1-eps, 1+eps], eps={eps:g}")
        for ax in (ax1, ax2):
            ax.set_xscale("log", base=2)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel("m (draws / JL width; bss: steps)")
            ax.legend(fontsize=7)
        ax1.set_yscale("log")
        ax1.set_ylim(top=2.0)
        ax1.set_ylabel("attention error (dashed: bound from the reached window, capped at 1)")
        ax2.set_yscale("log")
        ax2.set_ylabel("window: extreme eigenvalues of L^-1 YY^T L^-T")
        ax1.set_title("attention error vs m", fontsize=10)
        ax2.set_title("spectral window vs m (1 = exact)", fontsize=10)
        files.append(save_figure(fig, sdir / "sparsify-coherent.png",
                                 f"{plan['study']}: coherent X (coherence {some.get('coherence', '?')}), "
                                 f"n = {some.get('n', '?')}, d = {some.get('d', '?')}"))
    return md_text, files


PLOTS = {"poly-transition": poly_transition, "accuracy-vs-cost": accuracy_vs_cost,
         "sparsify-columns": sparsify_columns, "sparsify-error-vs-r": sparsify_error_vs_r,
         "sparsify-time-vs-nnz": sparsify_time_vs_nnz, "sparsify-coherent": sparsify_coherent,
         "layout": layout}
# The function of each study plot the binary declares (`attnbench --describe`, "study_plots": the
# names, what each draws, whether it keeps the scaling plots); tests/check_exit_codes.py holds the two
# lists against each other.


def make(kind: str, sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool = True):
    """The study plot `kind`: returns (Markdown table, written PNG files); writes <kind>.md too."""
    if kind not in PLOTS:
        raise ValueError(f"unknown study plot '{kind}' (known: {', '.join(PLOTS)})")
    md, files = PLOTS[kind](Path(sdir), plan, rows, unfit, plots)
    (Path(sdir) / f"{kind}.md").write_text(md)
    return md, files
