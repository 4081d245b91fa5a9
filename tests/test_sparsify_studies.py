"""The four sparsify studies shipped in inputs/studies (sparsify-columns-vs-n, -error-vs-r,
-time-vs-nnz, -coherent), run end to end at tiny sizes through --set, then `attnbench report`:
each writes its study plot (PNG) and table (Markdown) of src/report/plot_studies.py, and the
tables state what the studies claim: bss keeps at most ceil(gamma n) columns, the leverage draws
follow the n log n fit, every method's attention error is within its bound at every r, the
CountSketch phase is measured, and on the coherent X uniform sampling has a worse window and error
than leverage sampling at the same m.

Usage: test_sparsify_studies.py ATTNBENCH_BINARY WORKDIR
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
B, WORK = sys.argv[1], Path(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
WORK.mkdir(parents=True)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL", what, flush=True)


def run(*args):
    p = subprocess.run([B, *map(str, args)], cwd=WORK, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def study(toml, *sets):
    args = ["study", "run", SRC / "inputs/studies" / toml, "--results", WORK / "results"]
    for s in sets:
        args += ["--set", s]
    rc, out, err = run(*args)
    check(rc in (0, 4), f"{toml}: study run exit {rc}: {err[-800:]}")


def report(name, kind, allow_invalid=False):
    sdir = WORK / "results" / name
    rc, out, err = run("report", sdir, *(["--allow-invalid"] if allow_invalid else []))
    check(rc == 0, f"{name}: report exit {rc}: {err[-800:]}")
    png, md = sdir / f"{kind}.png", sdir / f"{kind}.md"
    check(png.is_file() and png.stat().st_size > 10000, f"{name}: {png.name} missing or empty")
    check(md.is_file(), f"{name}: {md.name} missing")
    return md.read_text() if md.is_file() else ""


study("sparsify-columns-vs-n.toml", "sparsify.n=[8,16]", "scaling.size=[4096]", "sparsify.density=0.05")
t = report("sparsify-columns-vs-n", "sparsify-columns")
check(t.count("kept <= ceil(gamma n) at every n: yes") == 2, "columns: bss within ceil(gamma n) for both gammas:\n" + t)
m = re.search(r"largest deviation of m_eff from the fit ([0-9.]+)%", t)
check(m is not None and float(m.group(1)) < 25, "columns: the leverage n log n fit:\n" + t)
check("score_factor" in t and "oversampling factor" in t, "columns: leverage-sketch oversampling reported:\n" + t)

# r and seed are zipped in the study: two points per r, four seeds, no two points sharing one.
study("sparsify-error-vs-r.toml", "sparsify.n=16", "scaling.size=[1024]", "sparsify.r=[0.01,0.01,0.1,0.1]",
      "sparsify.seed=[1,2,3,4]")
t = report("sparsify-error-vs-r", "sparsify-error-vs-r")
check("2 seed(s) per r (4 seeds, no two points share one: independent X and draws)" in t,
      "error-vs-r: an independent seed per point:\n" + t)
for algo in ("leverage", "leverage-sketch", "bss", "uniform", "gaussian"):
    check(re.search(rf"^- {re.escape(algo)}: error ~ r\^[0-9.]+ .*within the bound at every r: yes", t, re.M) is not None,
          f"error-vs-r: {algo} within its bound:\n" + t)
check("invalid runs: none" in t, "error-vs-r: every run valid:\n" + t)

study("sparsify-time-vs-nnz.toml", "sparsify.n=32", "scaling.size=[4096,8192]", "sparsify.density=[0.01,0.1]",
      "sparsify.reps=1", "sparsify.warmup=0")
t = report("sparsify-time-vs-nnz", "sparsify-time-vs-nnz")
check(re.search(r"CountSketch phase \(`sketch`, O\(nnz\)\): ~ nnz\^-?[0-9.]+", t) is not None,
      "time-vs-nnz: CountSketch phase slope:\n" + t)
check(t.count("| leverage-sketch |") == 4 and t.count("| leverage |") == 4, "time-vs-nnz: 8 rows:\n" + t)

study("sparsify-coherent.toml", "sparsify.n=8", "scaling.size=[4096]", "case.uniform.m=[64,512]",
      "case.gaussian.m=[64,512]", "case.leverage.m=[64,512]", "case.bss.gamma=[4,8]")
t = report("sparsify-coherent", "sparsify-coherent", allow_invalid=True)
m = re.search(r"at m = 512: uniform window low ([0-9.]+), error ([0-9.e+-]+); leverage low ([0-9.]+), error ([0-9.e+-]+)", t)
check(m is not None and float(m.group(1)) < float(m.group(3)) and float(m.group(2)) > float(m.group(4)),
      "coherent: uniform worse than leverage at m = 512:\n" + t)

if failures:
    print(f"test_sparsify_studies: {len(failures)} check(s) failed")
    sys.exit(1)
print("test_sparsify_studies: all checks passed")
