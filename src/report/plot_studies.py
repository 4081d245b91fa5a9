#!/usr/bin/python3
"""Study-specific plots and tables (a study declares one with top-level `plot = "..."`).

  poly-transition    inputs/studies/poly-transition.toml: time of poly vs exact ring against n for
                     every bound B, poly's degree and rank against B, the speedup exact/poly, and
                     where poly stops paying off. exact is extrapolated as c n^2 beyond its largest
                     measured size and poly linearly in n beyond its largest (both marked as
                     extrapolated); runs recorded as DOES_NOT_FIT are shown as "does not fit".
  accuracy-vs-cost   inputs/studies/kde-accuracy.toml: relative spectral error against the number of
                     samples m (samples for kde/hyper, features for performer), and against time.
  layout             inputs/studies/layout.toml: strong-scaling efficiency and /metrics load_balance
                     against ranks per variant/layout/heads curve, causal and non-causal panels
                     (layout-efficiency.png, layout-load-balance.png); the scaling plots are kept.

Called by `attnbench report` (src/report/report.py), or directly:

  plot_studies.py results/<study>         (the study's archives must be complete)

Reads only the run archives (root, /parameters, /validation and /metrics attributes) and, for runs
that left no archive because they do not fit, the runner's status file and plan.json. Writes
<plot>.png and <plot>.md (the table, also part of study.md) in the study folder.
"""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True


def _attrs(path: Path) -> dict:
    """Root, /parameters, /validation and /metrics attributes of one archive, flattened."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for prefix, group in (("", f), ("param.", f.get("parameters")), ("val.", f.get("validation")),
                              ("met.", f.get("metrics"))):
            if group is None:
                continue
            for k, v in group.attrs.items():
                out[prefix + k] = v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)
    return out


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
        a = _attrs(sdir / r["archive"])
        a["point"], a["valid_run"], a["time"] = r["point"], bool(r["valid"]), r["median_time"]
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
    fig.suptitle(f"{plan['study']}: Alman-Song bounded-entries transition", fontsize=11)
    fig.tight_layout()
    out = sdir / "poly-transition.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
        fig.suptitle(f"{plan['study']}: accuracy vs cost, n = {some.get('n', '?')}, d = {some.get('d', '?')}",
                     fontsize=11)
        fig.tight_layout()
        out = sdir / "accuracy-vs-cost.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        files.append(out)
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
            fig.suptitle(f"{plan['study']}: {title}", fontsize=11)
            fig.tight_layout(rect=(0, 0, 0.78, 0.95))
            out = sdir / fname
            fig.savefig(out, dpi=110)
            plt.close(fig)
            files.append(out)

        panels("efficiency", 100.0, "strong-scaling efficiency (%)", [(100, "--", "ideal"), (90, ":", "90% target")],
               "layout-efficiency.png", "strong-scaling efficiency vs ranks")
        panels("load_balance", 1.0, "load balance (max / mean compute time)", [(1, "--", "perfect balance")],
               "layout-load-balance.png", "load balance vs ranks")
    return md_text, files


PLOTS = {"poly-transition": poly_transition, "accuracy-vs-cost": accuracy_vs_cost, "layout": layout}
# Study plots drawn beside the generic scaling plots (time, efficiency, rates) instead of replacing them.
KEEPS_SCALING_PLOTS = {"layout"}


def make(kind: str, sdir: Path, plan: dict, rows: list[dict], unfit: list[dict], plots: bool = True):
    """The study plot `kind`: returns (Markdown table, written PNG files); writes <kind>.md too."""
    if kind not in PLOTS:
        raise ValueError(f"unknown study plot '{kind}' (known: {', '.join(PLOTS)})")
    md, files = PLOTS[kind](Path(sdir), plan, rows, unfit, plots)
    (Path(sdir) / f"{kind}.md").write_text(md)
    return md, files


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study_dir")
    ap.add_argument("--allow-incomplete", action="store_true")
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    sys.path.insert(0, str(here.parent / "study"))
    import report
    unfit = []
    try:
        plan, rows = report.build(Path(args.study_dir), args.allow_incomplete, unfit)
    except report.ReportError as e:
        print(f"plot_studies.py: error: {e}", file=sys.stderr)
        return 2
    if not plan.get("plot"):
        print(f"plot_studies.py: {args.study_dir}: the study declares no plot", file=sys.stderr)
        return 2
    md, files = make(plan["plot"], Path(args.study_dir), plan, rows, unfit)
    print(md)
    print("wrote " + ", ".join(str(f) for f in files + [Path(args.study_dir) / f"{plan['plot']}.md"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
