#!/usr/bin/env python3
"""The "Adding a kernel" recipe, proven: a test-only kernel (tests/toy/, registered in
tests/toy/toy_main.cpp) runs through the harness at the given rank count: --describe JSON, a VALID
run archived in schema 2 with the kernel's own problem keys and a memory-bandwidth reference rate,
an INVALID run (exit 4, archive with valid=0), and a bad option (exit 2, nothing written)."""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("--binary", required=True)
ap.add_argument("--mpiexec", required=True)
ap.add_argument("--np", type=int, required=True)
ap.add_argument("--workdir", required=True)
args = ap.parse_args()
os.makedirs(args.workdir, exist_ok=True)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def run(extra):
    cmd = [args.mpiexec, "-n", str(args.np), "--oversubscribe", args.binary, "toy"] + extra
    return subprocess.run(cmd, text=True, capture_output=True, env=env, timeout=120)


d = subprocess.run([args.binary, "--describe"], text=True, capture_output=True, env=env, timeout=60)
check(d.returncode == 0, "--describe exits 0")
doc = json.loads(d.stdout)
names = [k["kernel"] for k in doc["kernels"]]
check(names[-1] == "toy" and "attention" in names, "registry lists attention and toy: %s" % names)
toy = doc["kernels"][-1]
opts = {o["name"]: o for o in toy["options"]}
check(opts["--n"]["type"] == "integer" and opts["--n"]["default"] == "1000", "toy --n declared as data")
check(opts["--out"]["common"] and not opts["--n"]["common"], "common and kernel options told apart")
check(toy["problem_keys"] == ["n"] and toy["size_key"] == "n", "problem keys of the kernel")

out = os.path.join(args.workdir, "toy.h5")
for p in (out, out + ".partial"):
    if os.path.exists(p):
        os.remove(p)
r = run(["--n", "1001", "--reps", "2", "--out", out, "--save-output"])
check(r.returncode == 0, "VALID run exits 0 (got %d: %s)" % (r.returncode, r.stderr[-500:]))
check("VALID" in r.stdout and r.stdout.count("attnbench toy") == 1, "one summary line: %s" % r.stdout.strip())
with h5py.File(out, "r") as f:
    a = f.attrs
    check(int(a["schema_version"]) == 2 and a["kernel"] == "toy" and a["algorithm"] == "dot", "root identity")
    check(a["problem_keys"] == "n" and int(a["n"]) == 1001 and int(a["ranks"]) == args.np, "problem attributes")
    check(f["timings/total"].shape == (2, args.np) and f["timings/setup"].shape == (1, args.np), "timings shapes")
    check("compute" in f["timings"] and "comm_wait" in f["timings"], "kernel phases archived")
    m = f["metrics"].attrs
    check(math.isclose(float(m["flops"]), 2 * 1001), "work model flops")
    check(float(m["triad_gbs"]) > 0 and float(m["bandwidth_fraction"]) > 0, "memory-bandwidth reference rate")
    check(float(m["gemm_peak_gflops"]) > 0, "peak GEMM rate")
    v = f["validation"].attrs
    check(v["primary_error"] == "rel_error" and int(v["valid"]) == 1 and int(v["certified"]) == 1, "validation")
    check(float(v["rel_error"]) <= float(v["tolerance"]) and int(v["terms"]) == 1001, "validation values")
    check(f["output/dot"].shape == (1, 1), "kernel dataset /output/dot")

bad = os.path.join(args.workdir, "bad.h5")
for p in (bad, bad + ".partial"):
    if os.path.exists(p):
        os.remove(p)
r = run(["--n", "50", "--corrupt", "--out", bad, "--quiet"])
check(r.returncode == 4, "INVALID run exits 4 (got %d)" % r.returncode)
with h5py.File(bad, "r") as f:
    check(int(f.attrs["valid"]) == 0, "INVALID archived with valid=0")
os.remove(bad)
r = run(["--n", "0", "--out", bad])
check(r.returncode == 2 and r.stderr.count("attnbench: error:") == 1 and "--n" in r.stderr, "bad --n: exit 2, one message")
check(not os.path.exists(bad), "nothing written for a usage error")
# Through a study and the report: the study tools learn the kernel from --describe, the report
# takes its columns from the archives (problem_keys = n), so nothing outside tests/toy/ changed.
study = os.path.join(args.workdir, "toy-study.toml")
results = os.path.join(args.workdir, "results")
shutil.rmtree(results, ignore_errors=True)
with open(study, "w") as fh:
    fh.write("""name = "toy-study"
kernel = "toy"
[scaling]
mode = "strong"
ranks = [1, %d]
size = [1000, 3001]
oversubscribe = true
[toy]
reps = 2
warmup = 0
""" % args.np)
tool_env = dict(env, ATTNBENCH_BIN=args.binary)
r = subprocess.run([args.binary, "study", "run", study, "--results", results], text=True, capture_output=True,
                   env=tool_env, timeout=300)
check(r.returncode == 0, "study run of the toy kernel exits 0 (got %d: %s)" % (r.returncode, (r.stdout + r.stderr)[-800:]))
r = subprocess.run([args.binary, "report", os.path.join(results, "toy-study")], text=True, capture_output=True,
                   env=tool_env, timeout=300)
check(r.returncode == 0, "report of the toy study exits 0 (got %d: %s)" % (r.returncode, (r.stdout + r.stderr)[-800:]))
csv = os.path.join(results, "toy-study", "study.csv")
if check(os.path.isfile(csv), "study.csv written"):
    with open(csv) as fh:
        lines = fh.read().splitlines()
    check(len(lines) == 1 + 2 * (2 if args.np > 1 else 1), "one CSV row per run: %d lines" % len(lines))
    check("n" in lines[0].split(","), "the kernel's problem key n is a column: %s" % lines[0])
print("%d passed, %d failed" % (0 if failures else 1, len(failures)))
sys.exit(1 if failures else 0)
