"""The performance model of a study (model.md, model.png): measured compute rate and network, the
kernel's declared communication, and predictions at the study's points and at 64, 256, 1024 ranks.

Inputs, all from the archives: the work model (/metrics flops), the per-phase timings (compute,
comm_wait), the communication model each kernel declares (/metrics comm_steps, comm_bytes,
comm_messages, comm_overlap_flops: formulas in the problem attributes, p and w; see
src/harness/kernel.hpp CommModel) and the network measured in every multi-node run (/metrics
net_alpha_s, and net_exchange_beta_bytes_per_s: both ranks sending at once; metrics/network.hpp).

Per curve of the study (a case at one size, across rank counts):
  F        per-rank compute rate: median over its runs of flops / (p x compute seconds)
  t_c      per step and rank: messages x alpha + bytes / beta_x (beta_x: the exchange bandwidth,
           per direction with both directions busy: in every declared pattern a rank sends and
           receives at once; see run_network)
  t_o      per step and rank: overlap_flops / F (the work that can hide the transfer; at the study's
           own points with that point's measured rate, the rate the ranks computed at meanwhile)
  comm     steps x max(0, t_c - t_o) (overlapped; the ring) or steps x t_c (not overlapped)
  T(p)     flops / (p F) + comm;   efficiency E(p) = T(1) / (p T(p)), T(1) = flops / F
For an overlapped kernel (the ring) communication is exposed when t_c > t_o, i.e. below the
bandwidth bytes / (t_o - messages alpha); since bytes grow like the rows per rank r and the
overlapped work like r^2, it is exposed below r* = r t_c / t_o rows per rank (for the ring with
d = dv: w F / (2 B) x kv_heads/heads).
"""
from __future__ import annotations

import ast
import math
import operator
from pathlib import Path

EXTRAPOLATE = (64, 256, 1024)
DEFAULT_NETWORK = "alpha=2e-6,bandwidth=1.25e10"

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}
_FUN = {"ceil": math.ceil, "floor": math.floor, "log2": math.log2, "sqrt": math.sqrt, "min": min, "max": max}


class ModelError(ValueError):
    pass


def evaluate(expr: str, env: dict) -> float:
    """A declared formula: numbers, names from env, + - * / ^ (or **), parentheses and the
    functions of _FUN; anything else is refused (the formulas come from archives)."""
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except SyntaxError as e:
        raise ModelError(f"formula '{expr}': {e.msg}") from None

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return float(n.value)
        if isinstance(n, ast.Name):
            if n.id not in env:
                raise ModelError(f"formula '{expr}': unknown name '{n.id}'")
            return float(env[n.id])
        if isinstance(n, ast.BinOp) and type(n.op) in _BIN:
            return _BIN[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            return -ev(n.operand) if isinstance(n.op, ast.USub) else ev(n.operand)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _FUN and not n.keywords:
            return float(_FUN[n.func.id](*[ev(a) for a in n.args]))
        raise ModelError(f"formula '{expr}': '{ast.unparse(n)}' is not allowed")
    return ev(tree)


def parse_network(text: str) -> dict:
    """'alpha=2e-6,bandwidth=1.25e10[,eta=0.85]' -> {alpha, beta}: seconds, bytes/s (bandwidth x eta)."""
    vals = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        try:
            vals[k.strip()] = float(v)
        except ValueError:
            raise ModelError(f"--network: '{part}' is not KEY=NUMBER") from None
        if not sep:
            raise ModelError(f"--network: '{part}' is not KEY=NUMBER")
    unknown = set(vals) - {"alpha", "bandwidth", "eta"}
    if unknown or "alpha" not in vals or "bandwidth" not in vals:
        raise ModelError(f"--network: expected alpha=SECONDS,bandwidth=BYTES_PER_S[,eta=FRACTION], got '{text}'")
    eta = vals.get("eta", 1.0)
    if vals["alpha"] < 0 or vals["bandwidth"] <= 0 or not 0 < eta <= 1:
        raise ModelError(f"--network: alpha >= 0, bandwidth > 0 and 0 < eta <= 1 needed, got '{text}'")
    return {"alpha": vals["alpha"], "beta": vals["bandwidth"] * eta, "text": text}


def _env(rec: dict, p: float) -> dict:
    env = {}
    for k, v in rec["attrs"].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            name = k.split(".", 1)[1] if k.startswith(("param.", "met.", "val.")) else k
            env.setdefault(name, float(v))
    env["p"] = float(p)
    env["w"] = 4.0 if rec["precision"] in ("single", "fp32", "float") else 8.0
    return env


def run_network(rec: dict) -> dict | None:
    """The network a multi-node run measured: alpha and beta from the ping-pong, beta_exchange
    from the exchanges (both ranks sending and receiving at once). Every declared pattern is an
    exchange: a ring step sends a block right while receiving one from the left (at p = 2 the same
    peer), an allgather and an all-to-all send and receive the same volume at once, so a node's
    link carries both directions together; communication is predicted with beta_exchange (no
    exchange figures: the one-way beta). The two agree on a full-duplex network; where they do not,
    the transport serialises the directions (Open MPI's TCP put protocol, jobs/cluster/emulate.sh
    "Two-way transfers") and kernels see anything between the two from run to run."""
    a = rec["attrs"]
    if "met.net_alpha_s" not in a or not a.get("met.net_beta_bytes_per_s"):
        return None
    beta = float(a["met.net_beta_bytes_per_s"])
    return {"alpha": float(a["met.net_alpha_s"]), "beta": beta,
            "beta_exchange": float(a.get("met.net_exchange_beta_bytes_per_s") or beta)}


def compute_rate(r: dict) -> float:
    """Per-rank compute rate of one run: flops / (p x compute seconds); compute = the kernel's
    compute phase, or the time without comm_wait."""
    c = r["record"]["phases"].get("compute")
    if c is None or c <= 0:
        c = r["median_time"] - (r["comm_wait_median"] if not math.isnan(r["comm_wait_median"]) else 0.0)
    return r["flops"] / (r["ranks"] * c) if c > 0 else float("nan")


def comm_model(rec: dict):
    a = rec["attrs"]
    if not a.get("met.comm_steps"):
        return None
    return {k: str(a.get("met.comm_" + k, "0")) for k in ("steps", "bytes", "messages", "overlap_flops", "pattern")}


def predict(rec: dict, model, p: float, F: float, net: dict | None, F_overlap: float | None = None) -> dict:
    """Compute, exposed communication and time of `rec`'s problem at p ranks. F_overlap: the rate of
    the work that hides a transfer (default F); at a measured point, that point's own rate."""
    env = _env(rec, p)
    compute = rec["flops"] / (p * F)
    out = {"compute": compute, "comm": 0.0, "t_c": 0.0, "t_o": 0.0, "steps": 0.0, "bytes": 0.0, "messages": 0.0}
    if model is not None and p > 1 and net is not None:
        steps = evaluate(model["steps"], env)
        nbytes = evaluate(model["bytes"], env)
        msgs = evaluate(model["messages"], env)
        t_o = evaluate(model["overlap_flops"], env) / (F_overlap if F_overlap and not math.isnan(F_overlap) else F)
        t_c = msgs * net["alpha"] + nbytes / net.get("beta_exchange", net["beta"])
        out.update(steps=steps, bytes=nbytes, messages=msgs, t_c=t_c, t_o=t_o,
                   comm=steps * (max(0.0, t_c - t_o) if t_o > 0 else t_c))
    out["time"] = out["compute"] + out["comm"]
    out["efficiency"] = (rec["flops"] / F) / (p * out["time"])
    return out


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2 if n else float("nan")


def _g(x, spec=".3g"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def make(sdir: Path, plan: dict, rows: list[dict], network: dict | None, plots: bool = True):
    """model.md (returned as Markdown too) and model.png for a study with two or more rank counts."""
    import described  # the binary's run states (report.py puts src/study on the path)
    rows = [r for r in rows if r["status"] == described.state(valid=True, certified=True) and r["flops"] > 0]
    if len({r["ranks"] for r in rows}) < 2:
        return "", []
    network = network or parse_network(DEFAULT_NETWORK)
    nets = [run_network(r["record"]) for r in rows if run_network(r["record"])]
    measured = ({k: _median([n[k] for n in nets]) for k in ("alpha", "beta", "beta_exchange")} if nets else None)
    curves = {}
    for r in rows:
        curves.setdefault(r["series"], []).append(r)
    md = ["# Performance model", "",
          "Compute rate F fitted per curve (flops / (p x compute seconds), median over its runs); the network "
          "measured by the runs' ping-pong probes (T = alpha + m / beta); each kernel's declared communication "
          "per step (src/report/model.py says how they combine). comm = predicted exposed communication "
          "(measured: comm_wait, the median over repetitions of the slowest rank).", ""]
    md.append(f"- measured network: " + (f"alpha {measured['alpha'] * 1e6:.3g} us, beta {measured['beta'] / 1e6:.4g} MB/s "
                                          f"one way, {measured['beta_exchange'] / 1e6:.4g} MB/s in exchanges "
                                          f"(median of {len(nets)} multi-node runs; used at every point)" if measured else
                                          "none (no run spanned two nodes): predictions below use the given network"))
    md.append(f"- given network: {network['text']} (alpha {network['alpha'] * 1e6:.3g} us, "
              f"beta {network['beta'] / 1e6:.4g} MB/s)")
    md.append("")
    at_points = ["| curve | ranks | F GFLOP/s/rank | time | predicted | comm_wait | predicted comm | efficiency | "
                 "predicted eff. |", "|---|---|---|---|---|---|---|---|---|"]
    extra = ["| curve | ranks | network | predicted time | efficiency | predicted comm | comm per step | overlap per step |",
             "|---|---|---|---|---|---|---|---|"]
    ring = []
    fig_data = []
    for series, rs in curves.items():
        rs.sort(key=lambda r: r["ranks"])
        comp = [compute_rate(r) for r in rs]
        F = _median([x for x in comp if not math.isnan(x)])
        if not F or math.isnan(F):
            continue
        model = comm_model(rs[0]["record"])
        t1 = rs[0]["flops"] / F
        use = measured or network
        for r, f in zip(rs, comp):
            # The study's median network at every point, not each run's own probe: a probe takes a
            # second or two and one busy core during it moves it (a 100 Mbit/s study's probes: 11.7,
            # 11.2 and 5.8 MB/s in exchanges), while the network is the same for every point.
            net = use
            # Overlapped work (the ring's) hides a transfer at the rate the ranks computed at during
            # it: at a measured point, that point's own rate. Ranks computing at once can run slower
            # than one alone (emulated nodes sharing cores: 2.4-2.9 GFLOP/s each against 3.4-7.2),
            # and the curve's median would then over-predict exposure. Elsewhere: the curve's F.
            pr = predict(r["record"], model, r["ranks"], F, net, F_overlap=f)
            eff = t1 / (r["ranks"] * r["median_time"])
            at_points.append(f"| {series} | {r['ranks']} | {f / 1e9:.3g} | {r['median_time']:.4g} | {pr['time']:.4g} | "
                             f"{_g(r['comm_wait_median'], '.3g')} | {pr['comm']:.3g} | {eff:.1%} | "
                             f"{pr['efficiency']:.1%} |")
            r["model_comm"] = pr["comm"]
            r["model_network"] = net
            r["model_time"] = pr["time"]
            r["model_rate"] = F
        big = rs[-1]["record"]
        curve = {"series": series, "measured": [(r["ranks"], r["median_time"]) for r in rs], "lines": {}}
        for label, net in (("measured", measured), ("given", network)):
            if net is None:
                continue
            pts = sorted({1, *[r["ranks"] for r in rs], *EXTRAPOLATE, 2, 4, 8, 16, 32, 128, 512})
            curve["lines"][label] = [(p, predict(big, model, p, F, net)["time"]) for p in pts]
            for p in EXTRAPOLATE:
                pr = predict(big, model, p, F, net)
                extra.append(f"| {series} | {p} | {label} | {pr['time']:.4g} | {pr['efficiency']:.1%} | "
                             f"{pr['comm']:.3g} | {pr['t_c']:.3g} | {pr['t_o']:.3g} |")
            if model and evaluate(model["overlap_flops"], _env(big, 2)) > 0:
                for p in sorted({*[r["ranks"] for r in rs if r["ranks"] > 1], *EXTRAPOLATE}):
                    pr = predict(big, model, p, F, net)
                    if pr["t_o"] <= 0:
                        continue
                    hide = pr["t_o"] - pr["messages"] * net["alpha"]
                    b_star = pr["bytes"] / hide if hide > 0 else float("inf")
                    rows_per_rank = big["problem"].get("n", float("nan")) / p
                    r_star = rows_per_rank * pr["t_c"] / pr["t_o"]
                    ring.append(f"| {series} | {p} | {label} | {b_star / 1e6:.4g} MB/s | {rows_per_rank:.4g} | "
                                f"{r_star:.4g} | {'exposed' if pr['t_c'] > pr['t_o'] else 'hidden'} |")
        fig_data.append(curve)
    md += ["## At the study's points", ""] + at_points + [""]
    md += ["## Predicted at 64, 256 and 1024 ranks (each curve's largest point, strong scaling)", ""] + extra + [""]
    if ring:
        md += ["## Overlapped communication (ring): when it is exposed", "",
               "Communication of a step is hidden while it takes less than the step's overlapped compute: below "
               "the bandwidth B* it is exposed; equivalently below r* rows per rank (r* = r t_c / t_o).", "",
               "| curve | ranks | network | B* (exposed below) | rows per rank r | r* | at this network |",
               "|---|---|---|---|---|---|---|"] + ring + [""]
    text = "\n".join(md) + "\n"
    (sdir / "model.md").write_text(text)
    files = [sdir / "model.md"]
    if plots and fig_data:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for i, c in enumerate(fig_data):
            colour = f"C{i % 10}"
            xs, ys = zip(*c["measured"])
            ax.plot(xs, ys, "o", color=colour, label=f"{c['series']} measured")
            for label, style in (("measured", "-"), ("given", ":")):
                if label in c["lines"]:
                    px, py = zip(*c["lines"][label])
                    ax.plot(px, py, style, color=colour, label=f"{c['series']} model, {label} network")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ranks")
        ax.set_ylabel("time per repetition (s)")
        ax.set_title("Measured and predicted time (strong scaling)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(sdir / "model.png", dpi=110)
        plt.close(fig)
        files.append(sdir / "model.png")
    return text, files
