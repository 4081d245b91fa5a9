"""End-to-end test of the run states and the default bound of `attnbench sparsify` at --np ranks:
- a baseline without a certificate (uniform, m = 512, on a coherent X) is UNCERTIFIED - not VALID -
  in the summary line and in the archive (root state, valid = 1, /validation certified = 0), and
  exits 0 (the code did what it claims; the missing certificate is the algorithm's);
- a certified run (leverage) on the same X is VALID in both, and its default m is the matrix
  Chernoff count with exact exponents, recomputed here with SciPy: the smallest m = ceil(n t) with
  n (exp(-h_low(eps) t) + exp(-h_high(eps) t)) <= delta (/parameters bound = chernoff);
- leverage-sketch (default --bound chernoff) is VALID with the screened plan's m (recomputed the same
  way with eta = eps / 64 and delta / 8 for the screen), its screen premise met
  (/validation screen_missed_mass <= screen_slack), and it keeps at most 1.5x the distinct columns
  of exact leverage.
"""
import math
import os
import shutil
import sys

import h5py
from scipy.optimize import brentq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("sparsify_states np%d" % args.np)
shutil.rmtree(args.workdir, ignore_errors=True)
os.makedirs(args.workdir)

N, D, EPS, DELTA = 16, 8000, 0.5, 0.1
X_OPTS = ["--n", str(N), "--d", str(D), "--coherence", "0.9", "--seed", "2", "--reps", "1", "--warmup", "0"]


def h_low(e):
    return e + (1 - e) * math.log1p(-e)


def h_high(e):
    return (1 + e) * math.log1p(e) - e


def chernoff_m(e_low, e_high, c_low, delta):
    t = brentq(lambda t: N * (math.exp(-h_low(e_low) * c_low * t) + math.exp(-h_high(e_high) * t)) - delta, 1e-9, 1e9,
               xtol=1e-13, rtol=1e-15)
    return math.ceil(N * t)


def run(label, algo_args):
    out = os.path.join(args.workdir, label + ".h5")
    argv = ["sparsify"] + algo_args + X_OPTS + ["--out", out]
    r = e2e_util.run_to_end(args, chk, label, argv, args.workdir)
    if r is None or not e2e_util.check_exit(chk, r, label, argv, 0, args.np):
        return None, None
    lines = [l for l in r.stdout.splitlines() if l.startswith("attnbench sparsify")]
    chk.check(len(lines) == 1, "%s: one summary line, got %r" % (label, lines))
    return (lines[0] if lines else ""), out


def attrs(path):
    with h5py.File(path, "r") as f:
        root = {k: v for k, v in f.attrs.items()}
        par = {k: v for k, v in f["parameters"].attrs.items()}
        val = {k: v for k, v in f["validation"].attrs.items()}
    s = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
    return root, par, val, s


# ---- uniform: no certificate -> UNCERTIFIED, exit 0 ------------------------------------------------
line, path = run("uniform", ["--algo", "uniform", "--m", "512"])
if path:
    root, par, val, s = attrs(path)
    chk.check(line.split(" -> ")[0].endswith("UNCERTIFIED"), "uniform: summary ends in UNCERTIFIED: %r" % line)
    chk.check(" VALID" not in line, "uniform: the summary does not say VALID: %r" % line)
    chk.check(s(root.get("state", "")) == "UNCERTIFIED" and int(root["valid"]) == 1 and int(val["certified"]) == 0,
              "uniform: archive state %r valid %r certified %r" % (root.get("state"), root.get("valid"), val.get("certified")))

# ---- leverage: certified -> VALID; m from the exact-exponent Chernoff bound ---------------------------
line, path = run("leverage", ["--algo", "leverage"])
kept_exact = None
if path:
    root, par, val, s = attrs(path)
    chk.check(line.split(" -> ")[0].endswith(" VALID"), "leverage: summary ends in VALID: %r" % line)
    chk.check(s(root.get("state", "")) == "VALID" and int(val["certified"]) == 1, "leverage: archive state %r" % root.get("state"))
    m = chernoff_m(EPS, EPS, 1.0, DELTA)
    chk.check(s(par["bound"]) == "chernoff" and int(par["m"]) == m,
              "leverage: bound %r m %r, expected chernoff and %d" % (par.get("bound"), par.get("m"), m))
    chk.check(m < math.ceil(3 * N * math.log(2 * N / DELTA) / EPS ** 2), "leverage: below the classic m")
    kept_exact = int(val["columns_kept"])

# ---- leverage-sketch: screened, VALID, its plan's m, few columns ------------------------------------
line, path = run("leverage-sketch", ["--algo", "leverage-sketch"])
if path:
    root, par, val, s = attrs(path)
    chk.check(s(root.get("state", "")) == "VALID", "leverage-sketch: archive state %r" % root.get("state"))
    eta = EPS / 64
    m = chernoff_m(1 - (1 - EPS) / (1 - eta), EPS - eta, 1 - eta, DELTA - DELTA / 8)
    chk.check(int(par["m"]) == m and abs(float(par["screen_slack"]) - eta) < 1e-15,
              "leverage-sketch: m %r slack %r, expected %d and %g" % (par.get("m"), par.get("screen_slack"), m, eta))
    chk.check(float(val["screen_missed_mass"]) <= float(par["screen_slack"]),
              "leverage-sketch: screen_missed_mass %r > slack" % val.get("screen_missed_mass"))
    if kept_exact is not None:
        chk.check(int(val["columns_kept"]) <= 1.5 * kept_exact,
                  "leverage-sketch keeps %r columns, exact leverage %d" % (val.get("columns_kept"), kept_exact))
chk.finish()
