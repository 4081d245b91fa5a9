#!/usr/bin/python3
"""Fast end-to-end tests of `attnbench study`, `report`, `compare` and jobs/run.sbatch
(ctest label `study`; no Slurm needed).

  study_tests.py ATTNBENCH_BINARY GROUP
  GROUP: errors | dryrun | resume | report | compare | sbatch | shipped | describe | names | claims |
         damaged | schema | unfit | regress | robust | rules

Each group is a unittest.TestCase run in a fresh temporary directory. Runs use tiny problems
(n = 128..256, 1 and 2 ranks, --oversubscribe not needed on 2 cores).

The study tools learn a kernel's options from `attnbench <kernel> --describe` and match exit code
6 for DOES_NOT_FIT; the binary under test answers --describe itself. The groups describe, claims
and unfit also use stand-in binaries of their own (bash scripts printing a description - the real
binary's plus a toy kernel - exiting with a chosen code, copying a fixture archive).
"""
import hashlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
FIXTURES = SRC / "tests/fixtures"
BIN = None  # set in main

TINY = textwrap.dedent("""\
    name = "tiny"
    [scaling]
    mode = "strong"
    ranks = [1, 2]
    n = 128
    [attention]
    d = 16
    reps = 1
    warmup = 0
    validate_rows = 16
    """)


def env():
    e = dict(os.environ)
    e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
             OMPI_MCA_rmaps_base_oversubscribe="1")
    # These tests check plans, states, archives and reports, not rates: the same-run reference rates
    # (1-2 s per launch) are off unless the caller asked for them (tests/e2e/test_cli_output.py and
    # test_toy_kernel.py check the rates themselves).
    e.setdefault("ATTNBENCH_REFERENCE_RATES", "off")
    # Oversubscribed ranks yield instead of busy-polling (cmake/AttnbenchTesting.cmake says why).
    e.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    e.setdefault("OMPI_MCA_odls_base_sigkill_timeout", "0")
    # No Slurm here, whatever the machine has installed: stand-ins that fail at once (the file
    # tests/fixtures/no-slurm/sinfo says why).
    e["PATH"] = str(FIXTURES / "no-slurm") + os.pathsep + e.get("PATH", "")
    return e


def describe_suite() -> dict:
    """`attnbench --describe` of the binary under test: the contract the study tools read."""
    import json
    p = subprocess.run([BIN, "--describe"], capture_output=True, text=True, env=env(), timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"{BIN} --describe failed (exit {p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def run(*args, cwd=None, timeout=300):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env(), timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def tree_digest(root: Path) -> dict:
    """path -> (size, mtime_ns, sha256) of every file under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def set_attr(path, group, name, value):
    import h5py
    with h5py.File(path, "r+") as f:
        (f[group] if group != "/" else f).attrs[name] = value


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="attnbench-study-test-"))
        self.results = self.tmp / "results"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def study(self, text=TINY, name="s.toml"):
        p = self.tmp / name
        p.write_text(text)
        return p

    def expect_error(self, args, *needles, code=2):
        rc, out, err = run(*args, cwd=self.tmp)
        self.assertEqual(rc, code, f"exit code for {args}: stdout={out} stderr={err}")
        for n in needles:
            self.assertIn(n, err, f"message for {args}")
        return err


class Errors(Base):
    """Bad study files and overrides: a clear message, exit 2, nothing written."""

    def check(self, text, *needles, extra=()):
        f = self.study(text)
        for cmd in ("run", "submit"):
            self.expect_error(["study", cmd, f, "--results", self.results, *extra], *needles)
        self.assertFalse(self.results.exists(), "a failed study must not write anything")

    def test_unknown_keys(self):
        self.check("colour = 'red'\n" + TINY, "unknown key 'colour'")
        self.check(TINY.replace("[scaling]", "[scaling]\nrank = [1]"), "unknown key 'rank' in [scaling]")
        self.check(TINY + "[extras]\nx = 1\n", "unknown table [extras]")
        self.check(TINY.replace("[attention]", "[attention]\nfrobnicate = 1"), "[attention] frobnicate",
                   "unknown option")

    def test_wrong_types(self):
        self.check(TINY.replace("ranks = [1, 2]", "ranks = \"two\""), "[scaling] ranks must be")
        self.check(TINY.replace("mode = \"strong\"", "mode = \"sideways\""), "[scaling] mode must be one of")
        self.check(TINY.replace("d = 16", "d = \"sixteen\""), "[attention] d", "expected an integer")
        self.check(TINY.replace("d = 16", "d = -4"), "[attention] d", "positive")
        self.check(TINY.replace("d = 16", "d = 16\nprecision = \"quad\""), "[attention] precision", "one of double")
        self.check(TINY.replace("n = 128", "n = 12.5"), "[scaling] n must be")
        self.check(TINY.replace("name = \"tiny\"", "name = \"../escape\""), "'name' must be")

    def test_reserved_and_missing(self):
        self.check(TINY.replace("d = 16", "d = 16\nout = \"x.h5\""), "[attention] out", "not allowed")
        self.check(TINY.replace("d = 16", "d = 16\nthreads = 2"), "threads_per_rank")
        self.check(TINY.replace("n = 128\n", ""), "missing required key [scaling] size (or n)")
        self.check(TINY.replace("name = \"tiny\"\n", ""), "missing required key name")
        self.check(TINY.replace("n = 128\n", "").replace("d = 16", "input = \"no-such-file.h5\""),
                   "input file 'no-such-file.h5' does not exist")

    def test_impossible_ranks(self):
        self.check(TINY.replace("ranks = [1, 2]", "ranks = [1, 4096]"), "4096 ranks x 1 threads", "oversubscribe")
        self.check(TINY.replace("ranks = [1, 2]", "ranks = [1, 2]\nthreads_per_rank = 4096"), "threads")
        # allowed with oversubscribe = true, and flagged
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1, 4096]\noversubscribe = true"))
        rc, out, err = run("study", "run", f, "--dry-run", "--results", self.results)
        self.assertEqual(rc, 0, err)
        self.assertIn("OVERSUBSCRIBED", out)

    def test_bad_toml_and_files(self):
        self.check("name = \n", "not valid TOML")
        self.expect_error(["study", "run", self.tmp / "missing.toml"], "does not exist")
        f = self.study(TINY)
        self.expect_error(["study", "run", f, "--set", "nonsense"], "expected KEY=VALUE")
        self.expect_error(["study", "run", f, "--set", "bogus.x=1"], "unknown table 'bogus'")
        self.expect_error(["study", "run", f, "--set", "scaling.ranks=[0]"], "[scaling] ranks must be")
        self.assertFalse(self.results.exists())


class DryRun(Base):
    def lines(self, *args):
        rc, out, err = run("study", *args, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertIn("dry run", err)
        self.assertFalse(self.results.exists(), "--dry-run must write nothing")
        return [l for l in out.splitlines() if l.startswith("[")]

    def test_strong(self):
        f = self.study(TINY.replace("n = 128", "n = [128, 256]").replace("d = 16", "d = 16\nprecision = [\"double\", \"single\"]"))
        lines = self.lines("run", f, "--dry-run", "--results", self.results)
        self.assertEqual(len(lines), 8)  # 2 n x 2 precisions x 2 rank counts
        self.assertIn("n128-p1-t1-double: mpirun -n 1 ", lines[0])
        self.assertIn("--n 128", lines[0])
        self.assertIn("--precision double", lines[0])
        self.assertTrue(any("mpirun -n 2 " in l and "--precision single" in l and "--n 256" in l for l in lines))

    def test_weak_modes_and_set(self):
        f = self.study(TINY)
        lines = self.lines("run", f, "--dry-run", "--results", self.results, "--set", "scaling.mode=weak-memory",
                           "--set", "scaling.n=1000")
        self.assertIn("--n 1000", lines[0])
        self.assertIn("--n 2000", lines[1])
        lines = self.lines("run", f, "--dry-run", "--results", self.results, "--set", "scaling.mode=weak-compute",
                           "--set", "scaling.n=1000", "--set", "attention.precision=single")
        self.assertIn("--n 1000", lines[0])
        self.assertIn("--n 1414", lines[1])  # n^2/p constant
        self.assertIn("--precision single", lines[1])

    def test_submit_dry_run(self):
        f = self.study(TINY.replace("n = 128", "n = 128\nrepeat = 3") + "[slurm]\ntime = \"00:05:00\"\n")
        lines = self.lines("submit", f, "--dry-run", "--results", self.results)
        self.assertEqual(len(lines), 2)
        for l in lines:
            self.assertIn("sbatch", l)
            self.assertIn("--array=0,1,2", l)
            self.assertIn("--signal=B:USR1@60", l)
            self.assertIn("--time=00:05:00", l)
            self.assertIn("run.sbatch attention ", l)
        self.assertIn("--ntasks=2", lines[1])
        # Nodes: [slurm] nodes, never more than the point's ranks; tasks_per_node spreads the ranks.
        for extra, want in (("nodes = 2", ["--nodes=1", "--nodes=2"]),
                            ("tasks_per_node = 1", ["--nodes=1 --ntasks-per-node=1", "--nodes=2 --ntasks-per-node=1"])):
            f = self.study(TINY + "[slurm]\ntime = \"00:05:00\"\n" + extra + "\n")
            lines = self.lines("submit", f, "--dry-run", "--results", self.results)
            self.assertEqual(len(lines), 2)
            for l, w in zip(lines, want):
                for flag in w.split():
                    self.assertIn(flag, l.split(), f"{extra}: {l}")
            if extra.startswith("nodes"):
                self.assertNotIn("--ntasks-per-node", lines[1])

    def test_check(self):
        rc, out, err = run("study", "check", SRC / "inputs/studies/demo.toml")
        self.assertEqual(rc, 0, err)
        for f in sorted((SRC / "inputs/studies").glob("*.toml")):
            rc, out, err = run("study", "check", f, "--cores", "64")
            self.assertEqual(rc, 0, f"{f}: {err}")


class Resume(Base):
    def test_resume_never_overwrites(self):
        f = self.study(TINY)
        rc, out, err = run("study", "run", f, "--results", self.results)
        self.assertEqual(rc, 0, err)
        sdir = self.results / "tiny"
        for p in ("n128-p1-t1", "n128-p2-t1"):
            self.assertTrue((sdir / p / "run0.h5").is_file())
            self.assertIn("state=COMPLETED", (sdir / p / "run0.status").read_text())
        self.assertIn("[tiny 2/2]", err)
        before = tree_digest(sdir)

        # Everything archived: nothing runs, nothing changes.
        rc, out, err = run("study", "run", f, "--results", self.results)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("valid archive exists, skipped"), 2)
        after = tree_digest(sdir)
        for k in ("n128-p1-t1/run0.h5", "n128-p2-t1/run0.h5", "plan.json"):
            self.assertEqual(before[k], after[k], k)

        # One archive lost (and a stale .partial of a killed run): only that point runs again.
        (sdir / "n128-p2-t1/run0.h5").unlink()
        (sdir / "n128-p2-t1/run0.h5.partial").write_text("junk")
        rc, out, err = run("study", "run", f, "--results", self.results)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("skipped"), 1)
        self.assertTrue((sdir / "n128-p2-t1/run0.h5").is_file())
        self.assertFalse((sdir / "n128-p2-t1/run0.h5.partial").exists())
        self.assertEqual(before["n128-p1-t1/run0.h5"], tree_digest(sdir)["n128-p1-t1/run0.h5"])

        # An invalid archive is kept, reported and not re-run.
        set_attr(sdir / "n128-p1-t1/run0.h5", "/", "valid", 0)
        snap = tree_digest(sdir)
        rc, out, err = run("study", "run", f, "--results", self.results)
        self.assertEqual(rc, 1)
        self.assertIn("not usable", err)
        self.assertEqual(snap["n128-p1-t1/run0.h5"], tree_digest(sdir)["n128-p1-t1/run0.h5"])

        # A different study under the same name: refused, nothing changes.
        snap = tree_digest(sdir)
        rc, out, err = run("study", "run", f, "--results", self.results, "--set", "scaling.n=256")
        self.assertEqual(rc, 2)
        self.assertIn("already holds a different study", err)
        self.assertEqual(snap, tree_digest(sdir))


def make_study(tmp: Path, name="tiny", extra=()):
    f = tmp / f"{name}.toml"
    f.write_text(TINY.replace('name = "tiny"', f'name = "{name}"'))
    rc, out, err = run("study", "run", f, "--results", tmp / "results", *extra)
    assert rc == 0, err
    return tmp / "results" / name


class Report(Base):
    def test_bad_folders(self):
        self.expect_error(["report", self.tmp / "nope"], "is not a directory")
        (self.tmp / "empty").mkdir()
        self.expect_error(["report", self.tmp / "empty"], "not a study folder", "no plan.json")
        # Planned but nothing finished.
        f = self.study(TINY)
        sdir = self.results / "tiny"
        sdir.mkdir(parents=True)
        rc, out, err = run("study", "run", f, "--results", self.results, "--dry-run")
        self.assertEqual(rc, 0)
        import json
        (sdir / "plan.json").write_text(json.dumps({
            "study": "tiny", "mode": "strong", "points": [
                {"name": "n128-p1-t1", "repeat": 1, "series": "n128", "ranks": 1, "threads": 1, "n": 128,
                 "args": ["--n", "128"]}]}))
        self.expect_error(["report", sdir], "has no finished archives")
        self.assertFalse((sdir / "study.h5").exists())

    def test_half_written_and_full(self):
        sdir = make_study(self.tmp)
        # Half-written: one archive is still a .partial.
        os.rename(sdir / "n128-p2-t1/run0.h5", sdir / "n128-p2-t1/run0.h5.partial")
        err = self.expect_error(["report", sdir], "incomplete", "n128-p2-t1/run0.h5: unfinished")
        self.assertIn("nothing was written", err)
        for name in ("study.h5", "study.csv", "time.png"):
            self.assertFalse((sdir / name).exists(), name)
        rc, out, err = run("report", sdir, "--allow-incomplete", "--no-plots")
        self.assertEqual(rc, 0, err)
        self.assertIn("1 runs: 1 VALID", out)
        os.rename(sdir / "n128-p2-t1/run0.h5.partial", sdir / "n128-p2-t1/run0.h5")
        # A truncated archive is DAMAGED (named, exit 3), not silently skipped; the table flags it.
        data = (sdir / "n128-p2-t1/run0.h5").read_bytes()
        (sdir / "n128-p2-t1/run0.h5").write_bytes(data[:1000])
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 3, out + err)
        self.assertIn("DAMAGED archive", err)
        self.assertIn("n128-p2-t1/run0.h5", err)
        self.assertIn("**DAMAGED**", out)
        self.assertNotIn("Traceback", err)
        (sdir / "n128-p2-t1/run0.h5").write_bytes(data)

        # Complete: table, study.h5, CSV, plots.
        rc, out, err = run("report", sdir)
        self.assertEqual(rc, 0, err)
        self.assertIn("| point | run | n | ranks |", out)
        self.assertIn("strong scaling", out)
        import h5py
        with h5py.File(sdir / "study.h5", "r") as f:
            runs = f["runs"][()]
            self.assertEqual(len(runs), 2)
            self.assertEqual(f.attrs["mode"], "strong")
            self.assertTrue(all(runs["valid"] == 1))
            self.assertAlmostEqual(float(runs["efficiency"][0]), 1.0)
        self.assertEqual(len((sdir / "study.csv").read_text().strip().splitlines()), 3)
        for png in ("time.png", "efficiency.png", "rates.png"):
            self.assertGreater((sdir / png).stat().st_size, 10000, png)
        h5dump = subprocess.run(["h5dump", "-H", str(sdir / "study.h5")], capture_output=True, text=True)
        self.assertEqual(h5dump.returncode, 0)
        # The performance model (two rank counts): fitted rate, the given network (no run spanned two
        # nodes here), predictions at the points and at 64/256/1024 ranks, the ring's exposure.
        md = (sdir / "model.md").read_text()
        self.assertIn("given network: alpha=2e-6,bandwidth=1.25e10", md)
        self.assertIn("none (no run spanned two nodes)", md)
        self.assertIn("## At the study's points", md)
        for p in (64, 256, 1024):
            self.assertRegex(md, rf"\| n128 \| {p} \| given \| [0-9.e-]+ \| [0-9.]+% \|")
        self.assertIn("B* (exposed below)", md)
        self.assertGreater((sdir / "model.png").stat().st_size, 10000)
        self.assertIn("Performance model: model.md, model.png", out)
        rc, out, err = run("report", sdir, "--no-plots", "--network", "alpha=1e-5,bandwidth=1e8,eta=0.5")
        self.assertEqual(rc, 0, err)
        self.assertIn("beta 50 MB/s", (sdir / "model.md").read_text())
        self.expect_error(["report", sdir, "--network", "alpha=1e-5"], "--network: expected alpha=")
        self.expect_error(["report", sdir, "--network", "alpha=1e-5,bandwidth=0"], "bandwidth > 0")

        # An invalid run is flagged, never the baseline, and makes the exit code 4 (0 with --allow-invalid).
        set_attr(sdir / "n128-p1-t1/run0.h5", "/", "valid", 0)
        set_attr(sdir / "n128-p1-t1/run0.h5", "validation", "valid", 0)
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 4, out + err)
        self.assertIn("**INVALID**", out)
        rc, out, err = run("report", sdir, "--no-plots", "--allow-invalid")
        self.assertEqual(rc, 0, err)
        self.assertIn("**INVALID**", out)
        with h5py.File(sdir / "study.h5", "r") as f:
            runs = f["runs"][()]
            self.assertTrue(all(b == b"n128-p2-t1" for b in runs["baseline_point"]), runs["baseline_point"])


class ModelFormulas(unittest.TestCase):
    """The declared communication formulas are evaluated safely (they come from archives)."""

    def test_evaluate(self):
        sys.path.insert(0, str(SRC / "src" / "report"))
        import model
        self.assertEqual(model.evaluate("ceil(n / p) * (d + dv) * w", {"n": 10, "p": 3, "d": 2, "dv": 2, "w": 8}), 128)
        self.assertEqual(model.evaluate("2 ^ 3 - min(1, p - 1)", {"p": 1}), 8)
        for bad in ("__import__('os').system('true')", "n.real", "[1]", "open('x')", "q * 2"):
            with self.assertRaises(model.ModelError, msg=bad):
                model.evaluate(bad, {"n": 1})


class Compare(Base):
    def test_uncertified_runs_compare(self):
        # Valid output whose error nothing bounds (sparsify's uniform baseline) is compared like a
        # VALID run, time and measured error, not counted as an invalid run.
        rc, out, err = run("sparsify", "--algo", "uniform", "--n", "8", "--d", "256", "--reps", "1", "--warmup", "0",
                           "--out", self.tmp / "a.h5", cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("UNCERTIFIED", out)
        shutil.copy(self.tmp / "a.h5", self.tmp / "b.h5")   # the same run: no timing noise
        rc, out, err = run("compare", self.tmp / "a.h5", self.tmp / "b.h5")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 point(s) compared, 0 regression(s)", out)
        self.assertIn("| ok |", out)            # compared: time and measured error
        self.assertNotIn("not compared", out)   # an UNCERTIFIED run counted as no valid run

    def test_compare(self):
        base = make_study(self.tmp)
        new = self.tmp / "new"
        shutil.copytree(base, new)
        rc, out, err = run("compare", base, new, "--tolerance", "5%")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("PASS", out)

        def scale(point, key, group, factor):
            import h5py
            with h5py.File(new / point / "run0.h5", "r+") as f:
                f[group].attrs[key] = float(f[group].attrs[key]) * factor

        def slower(point, factor):
            """A consistent slower run: the raw timings and their stored summary, scaled together."""
            import h5py
            with h5py.File(new / point / "run0.h5", "r+") as f:
                f["timings/total"][...] = f["timings/total"][()] * factor
                f["metrics"].attrs["median_time"] = float(f["metrics"].attrs["median_time"]) * factor
                f["metrics"].attrs["gflops"] = float(f["metrics"].attrs["gflops"]) / factor

        slower("n128-p2-t1", 1.03)  # within 5%
        rc, out, err = run("compare", base, new, "--tolerance", "5%")
        self.assertEqual(rc, 0, out + err)
        slower("n128-p2-t1", 1.5)
        rc, out, err = run("compare", base, new, "--tolerance", "5%")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("PERFORMANCE REGRESSION", out)
        rc, out, err = run("compare", base, new, "--tolerance", "60%")
        self.assertEqual(rc, 0, out + err)
        scale("n128-p1-t1", "rel_error", "validation", 1e3)
        rc, out, err = run("compare", base, new, "--tolerance", "60%")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("ACCURACY REGRESSION", out)
        # study.h5 and a single archive work as inputs too.
        rc, out, err = run("report", base, "--no-plots")
        rc, out, err = run("compare", base / "study.h5", base / "n128-p1-t1/run0.h5")
        self.assertEqual(rc, 1, out + err)  # the other point is missing in NEW
        self.assertIn("MISSING IN NEW", out)

        # Incompatible: no point in common.
        other = make_study(self.tmp, name="other", extra=("--set", "scaling.n=256"))
        self.expect_error(["compare", base, other], "incompatible", "no benchmark point in common")
        self.expect_error(["compare", base, self.tmp / "nope"], "does not exist")
        self.expect_error(["compare", base, new, "--tolerance", "lots"], "--tolerance")

        # A stored median_time that disagrees with the raw timings: damaged (exit 3), never PASS.
        scale("n128-p1-t1", "median_time", "metrics", 1e-3)
        rc, out, err = run("compare", base, new)
        self.assertEqual(rc, 3, out + err)
        self.assertIn("n128-p1-t1/run0.h5", err)
        self.assertIn("median_time", err)
        self.assertNotIn("PASS", out)
        self.assertNotIn("Traceback", err)


FAKE_BIN = """#!/bin/bash
# Stand-in for attnbench: writes <out>.partial, sleeps, renames (like the real archive writer).
out=""
while [ $# -gt 0 ]; do
  [ "$1" = --out ] && out=$2
  shift
done
[ -n "$out" ] || exit 0
echo partial > "$out.partial"
sleep "${FAKE_SLEEP:-60}"
mv "$out.partial" "$out"
"""


class Sbatch(Base):
    """jobs/run.sbatch outside Slurm (it is a bash script): status file, time-limit handler, the
    binary's does_not_fit code -> DOES_NOT_FIT with exit 0, claims, publishing without replacing.
    The stand-in binaries answer `--exit-codes` from $FAKE_EXIT_CODES (the real binary's by default)."""

    def setUp(self):
        super().setUp()
        self.fake = self.tmp / "fake-attnbench"
        self.write_fake(FAKE_BIN)
        self.point = self.tmp / "pt"
        self.point.mkdir()
        self.codes = self.tmp / "exit-codes"
        p = subprocess.run([BIN, "--exit-codes"], capture_output=True, text=True, env=env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.codes.write_text(p.stdout)

    def write_fake(self, script):
        shebang, body = script.split("\n", 1)
        self.fake.write_text(shebang + '\n[ "$1" = --exit-codes ] && { cat "$FAKE_EXIT_CODES"; exit 0; }\n' + body)
        self.fake.chmod(0o755)

    def code(self, name):
        return dict(line.split() for line in self.codes.read_text().splitlines())[name]

    def start(self, sleep):
        e = env()
        e.update(ATTNBENCH_BIN=str(self.fake), ATTNBENCH_LAUNCHER="mpirun", FAKE_SLEEP=str(sleep),
                 FAKE_EXIT_CODES=str(self.codes))
        for k in list(e):
            if k.startswith("SLURM_"):
                del e[k]
        return subprocess.Popen(["bash", str(SRC / "jobs/run.sbatch"), "attention", str(self.point), "--", "--n", "64"],
                                env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def status(self):
        return dict(l.split("=", 1) for l in (self.point / "run0.status").read_text().splitlines())

    def test_completes(self):
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.status()["state"], "COMPLETED")
        self.assertTrue((self.point / "run0.h5").exists())
        self.assertTrue((self.point / "run0.provenance").exists())
        self.assertFalse((self.point / "run0.claim").exists(), "claim left behind")
        self.assertEqual([x.name for x in self.point.iterdir() if x.name.startswith(".")], [], "temporary files left")
        # Submitted again: the archive is not overwritten, and the status of the run that made it stays.
        digest = tree_digest(self.point)
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("SKIPPED", out)
        self.assertEqual(self.status()["state"], "COMPLETED")
        self.assertEqual(digest, tree_digest(self.point))

    def test_does_not_fit(self):
        self.write_fake("#!/bin/bash\necho 'attnbench: error: needs 15.6 GiB per rank, budget 4 GiB' >&2\n"
                        f"exit {self.code('does_not_fit')}\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)   # the job ends COMPLETED: the afterok report job runs
        st = self.status()
        self.assertEqual(st["state"], "DOES_NOT_FIT")
        self.assertEqual(st["exit_code"], "0")
        self.assertIn("needs 15.6 GiB", st["reason"])
        self.assertFalse((self.point / "run0.h5").exists())
        # exit 2 with today's English phrase is a failure: the code decides, never the message
        self.write_fake(f"#!/bin/bash\necho 'attnbench: error: over the memory budget' >&2\nexit {self.code('usage')}\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, int(self.code("usage")), out)
        self.assertEqual(self.status()["state"], "FAILED")

    def test_codes_are_the_binarys(self):
        # The script takes the codes from the binary it runs: with does_not_fit = 9 and output = 8,
        # exit 9 is DOES_NOT_FIT and a run without an archive ends 8; exit 6 is then a failure.
        self.codes.write_text("ok 0\ninternal 1\nusage 2\ninput 3\ninvalid 7\noutput 8\ndoes_not_fit 9\n")
        self.write_fake("#!/bin/bash\necho 'attnbench: error: needs 2 GiB' >&2\nexit 9\n")
        out, _ = self.start(0).communicate(timeout=120)
        self.assertEqual((self.status()["state"], self.status()["exit_code"]), ("DOES_NOT_FIT", "0"), out)
        self.write_fake("#!/bin/bash\nexit 7\n")   # invalid, but no archive written
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual((p.returncode, self.status()["state"]), (8, "FAILED"), out)
        self.assertIn("no archive was written", self.status()["reason"])
        self.write_fake("#!/bin/bash\nexit 6\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual((p.returncode, self.status()["state"]), (6, "FAILED"), out)
        # A binary that cannot say its codes: nothing runs, the status says why.
        self.codes.write_text("")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual((p.returncode, self.status()["state"]), (1, "FAILED"), out)
        self.assertIn("--exit-codes' names no exit code", self.status()["reason"])

    def test_claims(self):
        # A live claim (this test process, on this host) makes the job skip the run.
        import socket
        claim = self.point / "run0.claim"
        claim.write_text(f"token=t1\nrunner=local\nhost={socket.gethostname()}\npid={os.getpid()}\n"
                         "slurm_job_id=\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("claimed by a running job or runner", out)
        self.assertFalse((self.point / "run0.h5").exists())
        self.assertFalse((self.point / "run0.status").exists())
        self.assertIn("token=t1", claim.read_text())
        # A stale claim (its pid is gone) is taken over and the run happens.
        dead = subprocess.Popen(["true"])
        dead.wait()
        claim.write_text(f"token=t2\nrunner=local\nhost={socket.gethostname()}\npid={dead.pid}\n"
                         "slurm_job_id=\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.status()["state"], "COMPLETED")
        self.assertFalse(claim.exists())

    def test_never_replaces(self):
        # Another writer publishes run0.h5 while this job runs: this job's archive does not replace it.
        self.write_fake(FAKE_BIN.replace('mv "$out.partial" "$out"',
                                         'mv "$out.partial" "$out"; echo other > "$(dirname "$out")/run0.h5"'))
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertNotEqual(p.returncode, 0, out)
        self.assertEqual((self.point / "run0.h5").read_text(), "other\n")
        st = self.status()
        self.assertEqual(st["state"], "FAILED")
        self.assertIn("appeared meanwhile", st["reason"])
        self.assertEqual(len(list(self.point.glob("run0.h5.duplicate-*"))), 1)

    def test_time_limit_warning(self):
        p = self.start(120)
        deadline = time.time() + 60
        while not list(self.point.glob(".run0.*.h5.partial")):
            self.assertLess(time.time(), deadline, "the fake run never started")
            time.sleep(0.2)
        p.send_signal(signal.SIGUSR1)  # what Slurm does at --signal=B:USR1@60
        out, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 124, out)
        self.assertEqual(self.status()["state"], "TIMEOUT")
        self.assertEqual([x.name for x in self.point.iterdir() if ".h5" in x.name], [], "archive left behind")
        self.assertFalse((self.point / "run0.claim").exists(), "claim left behind")

    def test_failure_leaves_status(self):
        self.write_fake("#!/bin/bash\nfor a; do [ \"$a\" = --out ] && exit 3; done; exit 0\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertNotEqual(p.returncode, 0, out)
        st = self.status()
        self.assertEqual(st["state"], "FAILED")
        self.assertNotEqual(st["exit_code"], "0")


class Shipped(Base):
    """The studies the suite ships (inputs/studies/poly-transition.toml, kde-accuracy.toml), run end
    to end at tiny sizes through --set; [[case]] tables, [generate], "does not fit" runs, and the
    study plots and tables of src/report/plot_studies.py."""

    def run_study(self, toml, *sets):
        args = ["study", "run", SRC / "inputs/studies" / toml, "--results", self.results]
        for s in sets:
            args += ["--set", s]
        rc, out, err = run(*args, cwd=SRC)
        self.assertEqual(rc, 0, err)
        return err

    def report(self, name, png, md):
        sdir = self.results / name
        rc, out, err = run("report", sdir)
        self.assertEqual(rc, 0, err)
        self.assertTrue((sdir / png).is_file() and (sdir / png).stat().st_size > 10000, f"{png} missing or empty")
        self.assertTrue((sdir / md).is_file())
        self.assertIn((sdir / md).read_text(), out + "\n")
        self.assertEqual((sdir / "study.md").read_text().count((sdir / md).read_text()), 1)
        return (sdir / md).read_text()

    def test_poly_transition(self):
        err = self.run_study("poly-transition.toml", "scaling.n=[256,512]", "case.exact.n_max=512",
                             "case.poly.bound=[0.25,1]", "case.poly-large.bound=[1.5]", "case.poly-large.n_max=256")
        self.assertIn("does not fit (exit 6; recorded, not a failure)", err)
        self.assertIn("2 do not fit the memory budget (recorded)", err)
        sdir = self.results / "poly-transition"
        st = (sdir / "n256-p2-t1-poly-unfit" / "run0.status").read_text()
        self.assertIn("state=DOES_NOT_FIT", st)
        self.assertIn("exit_code=6", st)
        self.assertFalse((sdir / "n256-p2-t1-poly-unfit" / "run0.h5").exists())
        table = self.report("poly-transition", "poly-transition.png", "poly-transition.md")
        rows = [x for x in table.splitlines() if x.startswith("| ") and not x.startswith("| B ")]
        keyed = {tuple(c.strip() for c in x.split("|")[1:3]): x for x in rows}
        for b in ("0.25", "1", "1.5", "3"):
            for n in ("256", "512"):
                self.assertIn((b, n), keyed, f"no row B={b} n={n} in\n{table}")
        self.assertIn("DOES NOT FIT", keyed[("3", "256")])
        self.assertIn("not run (extrapolated)", keyed[("1.5", "512")])
        self.assertIn("| 8 |", keyed[("1", "256")])  # degree 8 at B = 1, d = 8
        # resume: nothing re-run, the unfit runs are not retried
        err = self.run_study("poly-transition.toml", "scaling.n=[256,512]", "case.exact.n_max=512",
                             "case.poly.bound=[0.25,1]", "case.poly-large.bound=[1.5]", "case.poly-large.n_max=256")
        self.assertIn("recorded as does not fit", err)
        self.assertIn("0 run now", err)

    def test_kde_accuracy(self):
        err = self.run_study("kde-accuracy.toml", 'generate.args=["--n","512","--d","16","--clusters","4"]',
                             "generate.output=tiny.h5", "attention.reps=1",
                             "case.kde.samples=[16,32]", "case.kde.bucket_size=[8,16]",
                             "case.hyper.samples=[16,32]", "case.hyper.bucket_size=[8,16]",
                             "case.performer.features=[16,32]")
        self.assertIn("generating the input", err)
        sdir = self.results / "kde-accuracy"
        self.assertTrue((sdir / "tiny.h5").is_file())
        self.assertTrue((sdir / "p2-t1-kde-samples32-bucket-size16" / "run0.h5").is_file())
        table = self.report("kde-accuracy", "accuracy-vs-cost.png", "accuracy-vs-cost.md")
        header = [x for x in table.splitlines() if x.startswith("| m |")][0]
        for algo in ("kde", "hyper", "performer"):
            self.assertIn(f"{algo} error", header)
        rows = {x.split("|")[1].strip(): x for x in table.splitlines() if x.startswith("| ") and x[2].isdigit()}
        self.assertEqual(sorted(rows), ["16", "32"])
        for r in rows.values():
            self.assertNotIn("n/a", r)
        # The fair target: V has zero mean, so returning mean(V) scores ~1, checked here
        # independently of the generator with NumPy's exact attention.
        import h5py
        import numpy as np
        with h5py.File(sdir / "tiny.h5", "r") as f:
            Q, K, V = f["Q"][()], f["K"][()], f["V"][()]
            stored = float(f.attrs["mean_v_rel_spectral_error"])
        self.assertLess(np.abs(V.mean(axis=0)).max(), 1e-12)
        S = Q @ K.T / np.sqrt(Q.shape[1])
        W = np.exp(S - S.max(axis=1, keepdims=True))
        O = (W / W.sum(axis=1, keepdims=True)) @ V
        trivial = np.linalg.norm(O - V.mean(axis=0), 2) / np.linalg.norm(O, 2)
        self.assertGreater(trivial, 0.9)
        self.assertAlmostEqual(trivial, stored, places=9)
        self.assertIn("reference: returning mean(V) for every row scores 1", table)

    def test_layout(self):
        # The layout study at 1 and 2 ranks, cut to five curves: its own efficiency and
        # load-balance plots beside the scaling plots, and causal runs (a --causal flag in the plan,
        # causal = 1 in the archive) are not plan mismatches.
        self.run_study("layout.toml", "scaling.ranks=[1,2]", "scaling.n=[256]", "attention.reps=1",
                       "attention.warmup=0", 'case.causal-ring.layout=["contiguous","zigzag"]',
                       'case.causal-allgather.layout=["zigzag"]', "case.heads.n_max=128", "case.heads-ulysses.kv_heads=[4]",
                       "case.heads-ulysses.causal=[true]", "case.heads-ulysses.n_max=256")
        table = self.report("layout", "layout-efficiency.png", "layout.md")
        sdir = self.results / "layout"
        for png in ("layout-load-balance.png", "efficiency.png", "time.png"):
            self.assertTrue((sdir / png).is_file() and (sdir / png).stat().st_size > 10000, f"{png} missing")
        rows = {tuple(c.strip() for c in x.split("|")[1:3]): x.split("|") for x in table.splitlines()
                if x.startswith("| full ") or x.startswith("| causal ")}
        self.assertEqual(sorted(rows), [("causal", "allgather/zigzag n=2^8"), ("causal", "ring/contiguous n=2^8"),
                                        ("causal", "ring/zigzag n=2^8"),
                                        ("causal", "ulysses/contiguous H=16 Hkv=4 n=2^8"),
                                        ("full", "ring/contiguous n=2^8")])
        for cells in rows.values():
            # p=1: efficiency 100%, balance 1; p=2: a measured balance >= 1 and bytes received.
            self.assertEqual(cells[4].strip(), "100.0%")
            self.assertEqual(cells[5].strip(), "1.000")
            self.assertGreaterEqual(float(cells[9]), 1.0)
            self.assertGreater(float(cells[10]), 0.0)

    def test_case_errors(self):
        base = TINY + "[[case]]\nlabel = \"a\"\nalgo = \"exact\"\n"
        self.expect_error(["study", "run", self.study(base + "[[case]]\nlabel = \"a\"\n"), "--dry-run"],
                          "two cases are labelled 'a'")
        self.expect_error(["study", "run", self.study(base + "zip = [\"reps\"]\n"), "--dry-run"],
                          "zip names 'reps'")
        # A value may repeat in zipped lists (several seeds at one size); a combination may not.
        zipped = TINY.replace("d = 16", "d = [16, 16]\nseed = [1, 2]") + "[[case]]\nalgo = \"exact\"\nzip = [\"d\", \"seed\"]\n"
        rc, out, err = run("study", "run", self.study(zipped), "--dry-run", cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sum(1 for l in out.splitlines() if l.startswith("[") and "-seed" in l), 4, out)  # 2 seeds x 2 rank counts
        self.expect_error(["study", "run", self.study(zipped.replace("seed = [1, 2]", "seed = [1, 1]")), "--dry-run"],
                          "zipped options d, seed list a combination twice")
        self.expect_error(["study", "run", self.study(base + "colour = 1\n"), "--dry-run"],
                          "[[case]] 1: colour", "unknown option")
        self.expect_error(["study", "run", self.study(base), "--dry-run", "--set", "case.b.d=8"], "no case 'b'")
        rc, out, err = run("study", "run", self.study(base + "n_max = 64\n[[case]]\nalgo = \"poly\"\n"),
                           "--dry-run", cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("-a:", out)          # n = 128 > n_max: case a has no points
        self.assertIn("n128-p1-t1-poly:", out)


# ---------------------------------------------------------------------------------------------
# Stand-in binaries for the contract: --describe and exit codes, without MPI work.

FAKE_DESCRIBE_BIN = """#!/bin/bash
# Stand-in attnbench: describes kernels from $FAKE_DESCRIBE (suite JSON); a run copies
# $FAKE_ARCHIVE to --out (if set), prints $FAKE_MSG to stderr and exits $FAKE_RC (default 0).
if [ "$1" = --describe ]; then cat "$FAKE_DESCRIBE"; exit 0; fi
if [ "$2" = --describe ]; then
  exec /usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); k=[x for x in s["kernels"] if x["kernel"]==sys.argv[2]]
if not k: print("attnbench: error: unknown kernel " + sys.argv[2], file=sys.stderr); sys.exit(2)
print(json.dumps(k[0]))' "$FAKE_DESCRIBE" "$1"
fi
out=""
while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
[ -n "${FAKE_MSG:-}" ] && echo "$FAKE_MSG" >&2
[ -n "${FAKE_ARCHIVE:-}" ] && [ -n "$out" ] && cp "$FAKE_ARCHIVE" "$out"
[ -n "${FAKE_ALSO:-}" ] && echo other > "$FAKE_ALSO"
exit "${FAKE_RC:-0}"
"""


def toy_describe(tmp: Path) -> Path:
    """`attnbench --describe` plus a toy kernel: size key "m", work ~ m^3, memory ~ m^2, two
    algorithms with an option each, a size option and a choice."""
    import json
    suite = describe_suite()
    opt = lambda name, typ, **kw: dict({"name": name, "type": typ, "default": None, "choices": [], "help": "",  # noqa: E731
                                        "algorithms": [], "synthetic": False, "common": False}, **kw)
    suite["kernels"].append({
        "kernel": "toy", "summary": "toy", "algorithms": [{"name": "alpha", "help": ""}, {"name": "beta", "help": ""}],
        "options": [opt("--algo", "string", default="alpha", choices=["alpha", "beta"], common=True),
                    opt("--reps", "integer", default="3", common=True, min=1),
                    opt("--input", "string", common=True),
                    opt("--m", "integer", default="100", synthetic=True, min=1),
                    opt("--budget", "size", default="1GiB"),
                    opt("--shape", "string", default="square", choices=["square", "tall"]),
                    opt("--alpha-knob", "number", algorithms=["alpha"]),
                    opt("--beta-knob", "integer", algorithms=["beta"])],
        "problem_keys": ["m", "shape"], "size_key": "m", "work_exponent": 3, "memory_exponent": 2,
        "archive": {}})
    path = tmp / "describe-toy.json"
    path.write_text(json.dumps(suite))
    return path


class FakeBase(Base):
    """Runs src/study/study.py directly with ATTNBENCH_BIN = a stand-in binary."""

    def setUp(self):
        super().setUp()
        self.fake = self.tmp / "fake-attnbench"
        self.fake.write_text(FAKE_DESCRIBE_BIN)
        self.fake.chmod(0o755)
        self.fenv = env()
        self.fenv.update(ATTNBENCH_BIN=str(self.fake), FAKE_DESCRIBE=str(toy_describe(self.tmp)))

    def tool(self, script, *args, **extra_env):
        e = dict(self.fenv, **{k: str(v) for k, v in extra_env.items()})
        p = subprocess.run(["/usr/bin/python3", str(SRC / script), *map(str, args)], capture_output=True, text=True,
                           cwd=self.tmp, env=e, timeout=300)
        self.assertNotIn("Traceback", p.stderr)
        return p.returncode, p.stdout, p.stderr

    def study_cmd(self, *args, **extra_env):
        return self.tool("src/study/study.py", *args, **extra_env)


TOY = textwrap.dedent("""\
    name = "toy"
    kernel = "toy"
    [scaling]
    mode = "strong"
    ranks = [1, 4]
    oversubscribe = true
    size = 1000
    [toy]
    reps = 2
    """)


class Describe(FakeBase):
    """Options validated against `attnbench <kernel> --describe`; kernel-neutral sections and sizes."""

    def lines(self, text, *args):
        rc, out, err = self.study_cmd("run", self.study(text), "--dry-run", "--results", self.results, *args)
        self.assertEqual(rc, 0, err)
        return [l for l in out.splitlines() if l.startswith("[")]

    def test_kernel_section_and_sizes(self):
        lines = self.lines(TOY)
        self.assertEqual(len(lines), 2)
        self.assertIn("m1000-p1-t1: mpirun -n 1 ", lines[0])
        self.assertIn(f"{self.fake} toy --m 1000 --reps 2", lines[0])
        # weak-memory: memory ~ m^2 -> m ~ p^(1/2); weak-compute: work ~ m^3 -> m ~ p^(1/3)
        lines = self.lines(TOY, "--set", "scaling.mode=weak-memory")
        self.assertIn("--m 2000 ", lines[1])
        lines = self.lines(TOY, "--set", "scaling.mode=weak-compute")
        self.assertIn("--m 1587 ", lines[1])
        # attention keeps n and its exponents 1 and 2 (the fixture's description)
        lines = self.lines(TINY.replace("n = 128", "n = 1000"), "--set", "scaling.mode=weak-compute")
        self.assertIn("--n 1414 ", lines[1])
        # size and n are the same key for attention; both is an error
        lines = self.lines(TINY.replace("n = 128", "size = 128"))
        self.assertIn("--n 128 ", lines[0])
        rc, out, err = self.study_cmd("run", self.study(TINY.replace("n = 128", "n = 128\nsize = 64")), "--dry-run")
        self.assertEqual(rc, 2)
        self.assertIn("[scaling] n and [scaling] size are the same key", err)

    def test_option_checks(self):
        def bad(text, *needles):
            rc, out, err = self.study_cmd("run", self.study(text), "--results", self.results)
            self.assertEqual(rc, 2, out + err)
            for n in needles:
                self.assertIn(n, err)
            self.assertFalse(self.results.exists(), "a refused study must not write anything")

        bad(TOY + "[attention]\nd = 4\n", "unknown table [attention]", "[toy]")
        bad(TOY + "colour = 1\n", "[toy] colour", "unknown option", "attnbench toy has")
        bad(TOY + "shape = \"round\"\n", "[toy] shape", "one of square, tall")
        bad(TOY + "budget = \"lots\"\n", "[toy] budget", "a size in bytes")
        bad(TOY + "reps = 0\n", "not valid TOML")  # a duplicate key
        bad(TOY.replace("reps = 2", "reps = 0"), "[toy] reps", "positive")
        bad(TOY + "m = 5\n", "[toy] m", "not allowed here", "[scaling] size")
        bad(TOY + "beta_knob = 3\n", "option beta-knob applies to algorithm(s) beta, not to alpha")
        bad(TOY + "input = \"x.h5\"\n", "[scaling] size and an input file exclude each other")
        bad(TOY.replace("size = 1000\n", "") + "input = \"x.h5\"\n", "input file 'x.h5' does not exist")
        inp = FIXTURES / "schema1-attention-n16.h5"   # any existing file: only its existence is checked here
        bad(TINY.replace("n = 128\n", "") + f"input = \"{inp}\"\n", "option d describes synthetic input")
        bad(TOY.replace("kernel = \"toy\"", "kernel = \"nope\""), "'nope'", "--describe", "unknown kernel")
        bad(TOY.replace("kernel = \"toy\"", "kernel = \"Bad Name\""), "'kernel' must be")
        # the right algorithm in a case: accepted
        ok = TOY + "budget = \"4GiB\"\n[[case]]\nalgo = \"beta\"\nbeta_knob = 3\n[[case]]\nalgo = \"alpha\"\nalpha_knob = 0.5\n"
        lines = self.lines(ok)
        self.assertEqual(len(lines), 4)
        self.assertTrue(any("--algo beta" in l and "--beta-knob 3" in l for l in lines))
        # a malformed description is an error, never a traceback
        (self.tmp / "describe-toy.json").write_text('{"kernels": [{"kernel": "toy"}]}')
        bad(TOY, "malformed description")

    def test_no_help_scraping(self):
        # The study tools never parse --help: a binary whose --help prints nothing still works.
        for f in (SRC / "src/study/studyfile.py", SRC / "src/study/study.py"):
            self.assertNotIn('"--help"', f.read_text())


class Names(Base):
    """Study values validated before anything is written; safe, unique point names; the
    points limit; Slurm time limits."""

    def test_scale_rules_run(self):
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]").replace(
            "d = 16", "d = 16\nscale = [\"1/d\", \"1/sqrt(d)\"]"))
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        sdir = self.results / "tiny"
        names = sorted(p.name for p in sdir.iterdir() if p.is_dir())
        self.assertEqual(names, ["n128-p1-t1-1_d", "n128-p1-t1-1_sqrt_d"])
        import h5py
        with h5py.File(sdir / "n128-p1-t1-1_sqrt_d/run0.h5", "r") as h:
            self.assertAlmostEqual(float(h.attrs["scale"]), 0.25)
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 0, err)

    def test_dots_and_collisions(self):
        f = self.study(TINY.replace("d = 16", "d = 16\nscale = [\"..\", \"../../x\"]"))
        rc, out, err = run("study", "run", f, "--dry-run", "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        names = [l.split(":")[0].split("] ")[1] for l in out.splitlines() if l.startswith("[")]
        self.assertEqual(len(set(names)), 4)
        for n in names:
            self.assertNotIn("/", n)
            self.assertNotIn("..", n.split("-"))
        f = self.study(TINY.replace("d = 16", "d = 16\nscale = [\"1/d\", \"1_d\"]"))
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 2)
        self.assertIn("two points would share the directory 'n128-p1-t1-1_d'", err)
        self.assertFalse(self.results.exists())
        f = self.study(TINY.replace("d = 16", "d = [16, 16]"))
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 2)
        self.assertIn("listed twice", err)

    def test_points_limit(self):
        sizes = ", ".join(str(64 + i) for i in range(600))
        f = self.study(TINY.replace("n = 128", f"n = [{sizes}]"))
        t0 = time.monotonic()
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 2)
        self.assertIn("more than 1000 points", err)
        self.assertIn("max_points", err)
        self.assertFalse(self.results.exists())
        self.assertLess(time.monotonic() - t0, 60)
        rc, out, err = run("study", "run", f, "--dry-run", "--set", "scaling.max_points=1200", cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len([l for l in out.splitlines() if l.startswith("[")]), 1200)

    def test_slurm_time(self):
        for bad in ("0", "1", "00:01:59", "UNLIMITED", "infinite", "-1", "1:2:3:4"):
            f = self.study(TINY + f"[slurm]\ntime = \"{bad}\"\n")
            rc, out, err = run("study", "submit", f, "--dry-run", "--results", self.results, cwd=self.tmp)
            self.assertEqual(rc, 2, f"time = {bad}: {err}")
            self.assertIn("[slurm] time must be", err)
        for good in ("2", "00:02:00", "1-0", "0-00:05"):
            f = self.study(TINY + f"[slurm]\ntime = \"{good}\"\n")
            rc, out, err = run("study", "submit", f, "--dry-run", "--results", self.results, cwd=self.tmp)
            self.assertEqual(rc, 0, f"time = {good}: {err}")


class Claims(FakeBase):
    """Run claims at study level: a run claimed by a live runner is not started again; a stale
    claim is taken over; an archive is never replaced."""

    def setUp(self):
        super().setUp()
        self.f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]"))
        self.pdir = self.results / "tiny" / "n128-p1-t1"

    def test_live_and_stale_claims(self):
        import socket
        rc, out, err = self.study_cmd("run", self.f, "--results", self.results, FAKE_RC=1)  # a failed first try
        self.assertEqual(rc, 1, err)
        holder = subprocess.Popen(["sleep", "300"])
        try:
            (self.pdir / "run0.claim").write_text(
                f"token=x\nrunner=local\nhost={socket.gethostname()}\npid={holder.pid}\nslurm_job_id=\n")
            rc, out, err = self.study_cmd("run", self.f, "--results", self.results,
                                          FAKE_ARCHIVE=FIXTURES / "schema1-attention-n16.h5")
            self.assertEqual(rc, 0, err)
            self.assertIn("claimed by local runner pid", err)
            self.assertFalse((self.pdir / "run0.h5").exists())
        finally:
            holder.kill()
            holder.wait()
        # the holder is gone: the claim is stale and taken over; the run happens, the claim is released
        rc, out, err = self.study_cmd("run", self.f, "--results", self.results,
                                      FAKE_ARCHIVE=FIXTURES / "schema1-attention-n16.h5")
        self.assertEqual(rc, 0, err)
        self.assertTrue((self.pdir / "run0.h5").exists())
        self.assertFalse((self.pdir / "run0.claim").exists())
        self.assertEqual([p.name for p in self.pdir.iterdir() if p.name.startswith(".")], [])

    def test_claims_are_exclusive(self):
        sys.path.insert(0, str(SRC / "src/study"))
        import claims
        self.pdir.mkdir(parents=True)
        a, b = claims.new_owner("local"), claims.new_owner("local")
        self.assertEqual(claims.acquire(self.pdir, 0, a), (True, ""))
        ok, who = claims.acquire(self.pdir, 0, b)
        self.assertFalse(ok)
        self.assertIn("running", who)
        claims.release(self.pdir, 0, b)              # not b's: stays
        self.assertTrue(claims.claim_path(self.pdir, 0).exists())
        claims.release(self.pdir, 0, a)
        self.assertFalse(claims.claim_path(self.pdir, 0).exists())
        # A pid that now belongs to another process (different start time) is stale.
        c = dict(a, pid_start="1")
        claims.claim_path(self.pdir, 0).write_text("".join(f"{k}={v}\n" for k, v in c.items()))
        self.assertEqual(claims.acquire(self.pdir, 0, b), (True, ""))

    def test_never_replaces(self):
        # Another writer publishes run0.h5 while this run is going: this run's archive does not replace it.
        rc, out, err = self.study_cmd("run", self.f, "--results", self.results,
                                      FAKE_ARCHIVE=FIXTURES / "schema1-attention-n16.h5",
                                      FAKE_ALSO=self.pdir / "run0.h5")
        self.assertEqual(rc, 1, err)
        self.assertEqual((self.pdir / "run0.h5").read_text(), "other\n")
        self.assertIn("appeared meanwhile", (self.pdir / "run0.status").read_text())
        self.assertEqual(len(list(self.pdir.glob("run0.h5.duplicate-*"))), 1)


def flip_chunk_byte(path, dataset):
    """Flip one byte inside the first stored chunk of a dataset (its Fletcher32 check then fails)."""
    import h5py
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
        offset, size = info.byte_offset, info.size
    with open(path, "r+b") as fh:
        fh.seek(offset + size // 2)
        b = fh.read(1)
        fh.seek(offset + size // 2)
        fh.write(bytes([b[0] ^ 0x55]))


class Damaged(Base):
    """Damaged or foreign archives are named, with exit 3 (report and compare),
    never a traceback, never compare's regression code; plan mismatches flagged (exit 4)."""

    def expect_damaged(self, sdir, point, *needles):
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 3, out + err)
        self.assertIn(f"{point}/run0.h5", err)
        for n in needles:
            self.assertIn(n, err)
        self.assertIn("**DAMAGED**", out)
        self.assertNotIn("Traceback", err)
        rc, out2, err2 = run("compare", self.base, sdir)
        self.assertEqual(rc, 3, out2 + err2)
        self.assertIn(f"{point}/run0.h5", err2)
        self.assertNotIn("Traceback", err2)
        self.assertNotIn("PASS", out2)
        rc, _, err3 = run("report", sdir, "--no-plots", "--allow-invalid")
        self.assertEqual(rc, 0, err3)

    def test_damage(self):
        self.base = make_study(self.tmp)
        cases = [
            ("checksum", lambda a: flip_chunk_byte(a, "timings/total"), ("checksum",)),
            ("missing attribute", lambda a: self.del_attr(a, "metrics", "flops"), ("missing attribute /metrics flops",)),
            ("schema 99", lambda a: set_attr(a, "/", "schema_version", 99), ("unknown schema_version 99",)),
            ("kernel", lambda a: set_attr(a, "/", "kernel", "solve"), ("foreign",)),
            ("median_time", lambda a: set_attr(a, "metrics", "median_time", 57.2), ("median_time",)),
        ]
        for what, damage, needles in cases:
            with self.subTest(what):
                sdir = self.tmp / f"d-{what.replace(' ', '_')}"
                shutil.copytree(self.base, sdir)
                damage(sdir / "n128-p2-t1/run0.h5")
                self.expect_damaged(sdir, "n128-p2-t1", *needles)
        # the study runner keeps a damaged archive (unchanged) and does not re-run it
        flip_chunk_byte(self.base / "n128-p2-t1/run0.h5", "timings/total")
        before = tree_digest(self.base)
        rc, out, err = run("study", "run", self.tmp / "tiny.toml", "--results", self.tmp / "results")
        self.assertEqual(rc, 1, err)
        self.assertIn("n128-p2-t1 run0", err)
        self.assertIn("checksum", err)
        self.assertEqual(before["n128-p2-t1/run0.h5"], tree_digest(self.base)["n128-p2-t1/run0.h5"])

    def del_attr(self, path, group, name):
        import h5py
        with h5py.File(path, "r+") as f:
            del f[group].attrs[name]

    def test_plan_mismatch(self):
        self.base = make_study(self.tmp)
        sdir = self.tmp / "mismatch"
        shutil.copytree(self.base, sdir)
        shutil.copy(FIXTURES / "schema1-attention-n16.h5", sdir / "n128-p2-t1/run0.h5")
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 4, out + err)
        self.assertIn("**PLAN MISMATCH**", out)
        self.assertIn("n = 16 in the archive, 128 in plan.json", out)
        self.assertNotIn("Traceback", err)


class Schema(Base):
    """report and compare read schema 1 (made by the binary before the kernel harness) and schema 2 archives."""

    def make(self, name, archives_by_point):
        import json
        sdir = self.tmp / name
        points = []
        for point, src in archives_by_point.items():
            (sdir / point).mkdir(parents=True)
            shutil.copy(src, sdir / point / "run0.h5")
            points.append({"name": point, "ranks": 2, "threads": 1, "n": 16, "series": "n16", "repeat": 1,
                           "args": ["--n", "16", "--d", "8", "--seed", "7"], "oversubscribed": False})
        (sdir / "plan.json").write_text(json.dumps({"study": name, "mode": "strong", "kernel": "attention",
                                                    "points": points}))
        return sdir

    def test_both_schemas(self):
        sdir = self.make("s12", {"a-s1": FIXTURES / "schema1-attention-n16.h5",
                                 "b-s2": FIXTURES / "schema2-attention-n16.h5"})
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(out.count("| VALID |"), 2, out)
        import csv
        rows = list(csv.DictReader(open(sdir / "study.csv")))
        self.assertEqual([r["schema_version"] for r in rows], ["1", "2"])
        for key in ("n", "d", "dv", "scale_rule", "tile_k", "rel_error", "max_abs_error", "rows_checked"):
            self.assertIn(key, rows[0], key)
            self.assertEqual(rows[0][key], rows[1][key], key)
        for key in ("gemm_fraction", "peak_rss_bytes", "median_time"):
            self.assertTrue(all(float(r[key]) > 0 for r in rows), key)
        self.assertIn("gemm_peak_gflops", rows[1])   # a schema-2 metric: a column because an archive has it
        self.assertEqual(rows[0]["primary_error"], "rel_error")
        # the same run in both schemas: the same benchmark point (the schema-1 run was the faster one)
        rc, out, err = run("compare", FIXTURES / "schema2-attention-n16.h5", FIXTURES / "schema1-attention-n16.h5")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("1 point(s) compared", out)
        self.assertIn("ok (faster)", out)
        # a run without a certificate says so
        s3 = self.tmp / "uncertified.h5"
        shutil.copy(FIXTURES / "schema2-attention-n16.h5", s3)
        import h5py
        with h5py.File(s3, "r+") as f:
            f["validation"].attrs["certified"] = 0
            del f["validation"].attrs["tolerance"]
            f["validation"].attrs["rel_spectral_error"] = 0.25
            f["validation"].attrs["primary_error"] = "rel_spectral_error"
        sdir = self.make("s3", {"c": s3})
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("UNCERTIFIED", out)
        self.assertNotIn("| VALID", out)
        self.assertIn("1 run(s) UNCERTIFIED", out)
        self.assertIn("| rel_spectral_error | status |", out)
        self.assertIn("2.50e-01", out)
        # the runner accepts a schema-2 archive as done
        sys.path.insert(0, str(SRC / "src/study"))
        import archives
        self.assertTrue(archives.state(FIXTURES / "schema2-attention-n16.h5", "attention").valid)
        self.assertIn("foreign", archives.state(FIXTURES / "schema2-attention-n16.h5", "solve").problem)


class Unfit(FakeBase):
    """Exit 6 (the configuration exceeds its memory budget) is DOES_NOT_FIT locally: recorded, not a
    failure, listed by the report (exit 0); exit 2 with the old English message is a failure."""

    def test_does_not_fit(self):
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]"))
        rc, out, err = self.study_cmd("run", f, "--results", self.results, FAKE_RC=6,
                                      FAKE_MSG="attnbench: error: needs 9 GiB per rank, budget 4 GiB")
        self.assertEqual(rc, 0, err)
        self.assertIn("does not fit (exit 6; recorded, not a failure)", err)
        st = (self.results / "tiny/n128-p1-t1/run0.status").read_text()
        self.assertIn("state=DOES_NOT_FIT", st)
        self.assertIn("needs 9 GiB", st)
        rc, out, err = self.tool("src/report/report.py", self.results / "tiny", "--no-plots")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("DO NOT FIT the memory budget", out)
        # resumed: not retried
        rc, out, err = self.study_cmd("run", f, "--results", self.results, FAKE_RC=0)
        self.assertIn("recorded as does not fit", err)

    def test_codes_are_the_binarys(self):
        # The runner and the report take the codes from the binary's --describe: with does_not_fit
        # = 9 there, exit 9 is DOES_NOT_FIT and exit 6 a failure.
        import json
        suite = json.loads(Path(self.fenv["FAKE_DESCRIBE"]).read_text())
        moved = {"invalid": 7, "output": 8, "does_not_fit": 9}
        for e in suite["exit_codes"]:
            e["code"] = moved.get(e["name"], e["code"])
        path = self.tmp / "describe-moved.json"
        path.write_text(json.dumps(suite))
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]"))
        rc, out, err = self.study_cmd("run", f, "--results", self.results, FAKE_RC=9, FAKE_DESCRIBE=path,
                                      FAKE_MSG="attnbench: error: needs 9 GiB per rank, budget 4 GiB")
        self.assertEqual(rc, 0, err)
        self.assertIn("state=DOES_NOT_FIT", (self.results / "tiny/n128-p1-t1/run0.status").read_text())
        rc, out, err = self.tool("src/report/report.py", self.results / "tiny", "--no-plots", FAKE_DESCRIBE=path)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("DO NOT FIT the memory budget (exit 9,", out)
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]").replace('name = "tiny"', 'name = "tiny6"'))
        rc, out, err = self.study_cmd("run", f, "--results", self.results, FAKE_RC=6, FAKE_DESCRIBE=path)
        self.assertEqual(rc, 1, err)
        self.assertIn("state=FAILED", (self.results / "tiny6/n128-p1-t1/run0.status").read_text())

    def test_english_is_not_matched(self):
        f = self.study(TINY.replace("ranks = [1, 2]", "ranks = [1]"))
        rc, out, err = self.study_cmd("run", f, "--results", self.results, FAKE_RC=2,
                                      FAKE_MSG="attnbench: error: poly: over the memory budget")
        self.assertEqual(rc, 1, err)
        self.assertIn("state=FAILED", (self.results / "tiny/n128-p1-t1/run0.status").read_text())
        # a failed run is a row of the report, flagged, exit 4
        rc, out, err = self.tool("src/report/report.py", self.results / "tiny", "--no-plots")
        self.assertEqual(rc, 4, out + err)
        self.assertIn("**FAILED**", out)


# ---------------------------------------------------------------------------------------------
# regress: the history plots of `attnbench report` (src/report/plot_history.py)

REGRESS_STUDY = textwrap.dedent("""\
    name = "reg"
    kernel = "regress"
    [scaling]
    mode = "strong"
    ranks = [2]
    n = [200]
    [regress]
    init_distance = 0.01
    tolerance = 1e-10
    warmup = 0
    reps = 1
    [[case]]
    label = "newton"
    algo = "newton"
    d = [3, 4]
    max_iter = 20
    [[case]]
    label = "gd"
    algo = "gd"
    d = 3
    max_iter = 25
    fixed_iterations = true
    [[case]]
    label = "sketch"
    algo = "newton-sketch"
    d = 3
    sample_rows = 100
    max_iter = 150
    """)


def png_has_colour(path, rgb, tol=8, min_pixels=30) -> bool:
    """Does the image hold at least min_pixels pixels of this colour (a drawn line)?"""
    import matplotlib.image
    import numpy as np
    img = matplotlib.image.imread(str(path))[:, :, :3]
    if img.dtype != np.uint8:
        img = np.round(img * 255)
    close = np.all(np.abs(img.astype(int) - np.array(rgb)) <= tol, axis=2)
    return int(close.sum()) >= min_pixels


class Regress(Base):
    """A small regress study through `attnbench report`: convergence.png (loss and relative
    gradient norm per iteration, one line per algorithm) and its table, computed from the archives'
    /history and checked here against the histories read independently; phases.png because d
    varies; neither plot without /history."""

    def test_convergence_plot(self):
        import h5py
        import numpy as np
        f = self.study(REGRESS_STUDY)
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp, timeout=600)
        self.assertEqual(rc, 0, err)
        sdir = self.results / "reg"
        rc, out, err = run("report", sdir, cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        png = sdir / "convergence.png"
        self.assertTrue(png.is_file(), "convergence.png missing: " + err)
        self.assertGreater(png.stat().st_size, 10000)
        self.assertIn("convergence.png", err)
        # one line per algorithm, in its colour (tab:blue newton, tab:green gd)
        self.assertTrue(png_has_colour(png, (31, 119, 180)), "no newton line in convergence.png")
        self.assertTrue(png_has_colour(png, (44, 160, 44)), "no gd line in convergence.png")
        self.assertTrue((sdir / "phases.png").is_file(), "phases.png missing (d varies): " + err)
        self.assertGreater((sdir / "phases.png").stat().st_size, 10000)
        table = (sdir / "convergence.md").read_text()
        self.assertIn(table, (sdir / "study.md").read_text())
        self.assertIn("### vs d (newton", (sdir / "phases.md").read_text())
        header = [x for x in table.splitlines() if x.startswith("| run |")][0]
        cols = [c.strip() for c in header.split("|")[1:-1]]
        rows = {x.split("|")[1].strip(): [c.strip() for c in x.split("|")[1:-1]]
                for x in table.splitlines() if x.startswith("| n200-")}
        self.assertEqual(sorted(rows), ["n200-p2-t1-gd", "n200-p2-t1-newton-d3", "n200-p2-t1-newton-d4",
                                        "n200-p2-t1-sketch"])
        for point, cells in rows.items():
            with h5py.File(sdir / point / "run0.h5", "r") as h:
                g = h["history/grad_norm"][()].ravel()
                loss = h["history/loss"][()].ravel()
                iterations = int(h.attrs["iterations"])
            self.assertEqual(len(g), iterations + 1)
            rel = g / g[0]
            self.assertEqual(cells[cols.index("iterations")], str(iterations), point)
            self.assertAlmostEqual(float(cells[cols.index("final loss")]), loss[-1], delta=1e-3 * abs(loss[-1]) + 1e-300)
            for level in ("1e-02", "1e-04", "1e-10"):
                hit = next((k for k, v in enumerate(rel) if v <= float(level)), None)
                self.assertEqual(cells[cols.index(f"it. to {level}")], "-" if hit is None else str(hit),
                                 f"{point} level {level}")
        self.assertEqual(rows["n200-p2-t1-gd"][cols.index("iterations")], "25")
        # newton-sketch beside newton (tab:red), and sketch.md: seconds to 1e-10 of both at d = 3,
        # recomputed here from the histories (the sum of every t_ column but t_check, rows 0..k).
        self.assertTrue(png_has_colour(png, (214, 39, 40)), "no newton-sketch line in convergence.png")
        sketch = (sdir / "sketch.md").read_text()
        self.assertIn(sketch, (sdir / "study.md").read_text())
        line = [x for x in sketch.splitlines() if x.startswith("| 200 | 3 | 2 |")]
        self.assertEqual(len(line), 1, sketch)
        cells = [c.strip() for c in line[0].split("|")[1:-1]]
        for point, it_col, s_col in (("n200-p2-t1-newton-d3", 4, 5), ("n200-p2-t1-sketch", 6, 7)):
            with h5py.File(sdir / point / "run0.h5", "r") as h:
                hist = {k: h["history"][k][()] for k in h["history"]}
            rel = hist["grad_norm"] / hist["grad_norm"][0]
            k = next(i for i, v in enumerate(rel) if v <= 1e-10)
            secs = sum(float(hist[c][: k + 1].sum()) for c in hist if c.startswith("t_") and c != "t_check")
            self.assertEqual(cells[it_col], str(k), point)
            # sketch.md prints 3 significant digits: rounding moves a value by up to 0.5% of it.
            self.assertAlmostEqual(float(cells[s_col]), secs, delta=5e-3 * secs, msg=point)
        self.assertEqual(cells[3], "100")
        self.assertIn("sketch wins from", sketch)
        for p in ("n200-p2-t1-newton-d3", "n200-p2-t1-newton-d4"):
            self.assertEqual(rows[p][cols.index("converged")], "yes")
            self.assertNotEqual(rows[p][cols.index("it. to 1e-10")], "-")
        # Keyed on the archives, not on the kernel: without /history there is no convergence plot.
        for png in sdir.glob("*.png"):
            png.unlink()
        for point in rows:
            with h5py.File(sdir / point / "run0.h5", "r+") as h:
                del h["history"]
        rc, out, err = run("report", sdir, cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertFalse((sdir / "convergence.png").exists())
        self.assertFalse((sdir / "phases.png").exists())
        self.assertNotIn("## convergence", (sdir / "study.md").read_text())
        # one rank count: no time/efficiency/rates vs cores (a column of dots), said so
        self.assertFalse((sdir / "time.png").exists())
        self.assertIn("skipped: every curve has a single core count", err)


# ---------------------------------------------------------------------------------------------
# report and compare read every archive through one checked reader

def study_toml(name, kernel, ranks, size, options, size_key="n"):
    """A strong-scaling study file of `kernel` with these [scaling] ranks and size and these
    options in the kernel's section (TOML values written as JSON: numbers, strings, lists)."""
    import json
    lines = [f'name = "{name}"', f'kernel = "{kernel}"', "[scaling]", 'mode = "strong"', f"ranks = {json.dumps(ranks)}",
             f"{size_key} = {json.dumps(size)}", f"[{kernel}]"] + [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return "\n".join(lines) + "\n"


# flops = 0 (uniform sampling counts no floating-point work), at two rank counts
UNIFORM_STUDY = study_toml("uni", "sparsify", [1, 2], 256, {"algo": "uniform", "n": 8, "reps": 1, "warmup": 0},
                           size_key="d")
# one regress run: an archive with /history and /output
REGRESS_ONE = study_toml("reg1", "regress", [1], 64, {"algo": "newton", "d": 3, "init_distance": 0.01,
                                                      "tolerance": 1e-10, "max_iter": 20, "warmup": 0, "reps": 1})


def replace_dataset(path, name, data):
    """Replace a dataset by `data` (chunked, Fletcher32, as the harness writes them)."""
    import h5py
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, data=data, chunks=True if data.size else None, fletcher32=bool(data.size),
                         maxshape=(None,) * data.ndim)


class Robust(Base):
    """A run without a work model (flops = 0) has no rate, and its report is
    written (no division by zero); an empty /history column, a size stored as a string, a NaN
    primary error in a run that says valid, a flipped byte in /output or /history make the
    archive DAMAGED (exit 3) in report and compare - never a traceback, never VALID, never
    compare's regression exit 1. An intact copy beside them stays VALID."""

    def test_zero_flop_study(self):
        f = self.study(UNIFORM_STUDY)
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        sdir = self.results / "uni"
        rc, out, err = run("report", sdir, cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertNotIn("Traceback", err)
        rows = [x for x in out.splitlines() if x.startswith("| d256-")]
        self.assertEqual(len(rows), 2, out)
        import csv
        table = list(csv.DictReader(open(sdir / "study.csv")))
        for r in table:
            self.assertEqual(float(r["flops"]), 0.0)   # uniform sampling counts no flops ...
            self.assertTrue(math.isnan(float(r["gflops"])), r["gflops"])   # ... so it has no rate
            self.assertEqual(r["status"], "UNCERTIFIED")   # a baseline: valid output, no certificate
        self.assertTrue((sdir / "time.png").is_file(), err)   # time vs cores still drawn
        self.assertFalse((sdir / "rates.png").exists())
        self.assertIn("rates.png skipped", err)
        rc, out, err = run("compare", sdir, sdir, cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("PASS", out)

    def test_damaged_archives(self):
        import json
        import numpy as np
        f = self.study(REGRESS_ONE)
        rc, out, err = run("study", "run", f, "--results", self.results, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        base = self.results / "reg1"
        plan = json.loads((base / "plan.json").read_text())
        good = base / plan["points"][0]["name"] / "run0.h5"
        cases = {
            "loss-empty": (lambda a: replace_dataset(a, "history/loss", np.zeros((0, 1))), "/history/loss is empty"),
            "size-string": (lambda a: set_attr(a, "/", "n", "sixty-four"), "size attribute /n = 'sixty-four'"),
            "nan-error": (lambda a: set_attr(a, "validation", "rel_grad_norm", float("nan")),
                          "rel_grad_norm is not finite"),
            "flip-output": (lambda a: flip_chunk_byte(a, "output/X"), "checksum error (Fletcher32) in dataset /output/X"),
            "flip-history": (lambda a: flip_chunk_byte(a, "history/loss"),
                             "checksum error (Fletcher32) in dataset /history/loss"),
        }
        # One study folder: the intact run and a damaged copy per case, each its own point.
        sdir = self.tmp / "damaged"
        points = []
        for name in ["intact", *cases]:
            (sdir / name).mkdir(parents=True)
            shutil.copy(good, sdir / name / "run0.h5")
            if name in cases:
                cases[name][0](sdir / name / "run0.h5")
            points.append(dict(plan["points"][0], name=name, series=name))
        (sdir / "plan.json").write_text(json.dumps(dict(plan, points=points)))
        rc, out, err = run("report", sdir, "--no-plots", cwd=self.tmp)
        self.assertEqual(rc, 3, out + err)
        self.assertNotIn("Traceback", err)
        for name, (_, reason) in cases.items():
            self.assertIn(f"DAMAGED archive {sdir}/{name}/run0.h5: ", err)
            self.assertIn(reason, err, name)
            row = [x for x in out.splitlines() if x.startswith(f"| {name} |")]
            self.assertEqual(len(row), 1, out)
            self.assertIn("**DAMAGED**", row[0])
        # a converged regress run: its primary error is held to the tolerance
        self.assertIn("| VALID |", [x for x in out.splitlines() if x.startswith("| intact |")][0])
        # compare: a folder, and each archive alone against the intact one; exit 3, never 1
        rc, out, err = run("compare", base, sdir, cwd=self.tmp)
        self.assertEqual(rc, 3, out + err)
        self.assertIn("5 damaged or foreign archive(s)", err)
        self.assertNotIn("Traceback", err)
        for name, (_, reason) in cases.items():
            with self.subTest(name):
                rc, out, err = run("compare", good, sdir / name / "run0.h5", cwd=self.tmp)
                self.assertEqual(rc, 3, out + err)
                self.assertIn(reason, err)
                self.assertNotIn("Traceback", err)
                self.assertNotIn("PASS", out)


# ---------------------------------------------------------------------------------------------
# Empty values, and rules across options and ranks, refused
# by `study check` and `study run` before anything runs

class Rules(Base):
    """Every empty value of a study file is exit 2 naming its key; a point whose options cannot
    run at its rank count or size (solve/regress --grid PRxPC with PR * PC != ranks; sparsify's
    synthetic X with d < n) is exit 2 naming the point and the key, at check and run time, with
    nothing written. The same studies with values that fit pass (the rules refuse only what
    breaks them)."""

    def refused(self, text, *needles, commands=("check",)):
        f = self.study(text)
        for cmd in commands:
            args = ["study", cmd, f] + (["--results", self.results] if cmd == "run" else [])
            err = self.expect_error(args, *needles)
            self.assertNotIn("Traceback", err)
        self.assertFalse(self.results.exists(), "a refused study must not write anything")

    def accepted(self, text):
        rc, out, err = run("study", "check", self.study(text, "ok.toml"), cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)

    def test_empty_values(self):
        self.refused(TINY.replace("d = 16", "d = 16\nscale = \"\""), "[attention] scale", "an empty value",
                     commands=("check", "run"))
        self.refused(TINY + "[[case]]\nalgo = \"exact\"\nscale = \" \"\n", "[[case]] 1: scale", "an empty value")
        self.refused(TINY + "[slurm]\nsbatch_args = [\"--exclusive\", \"\"]\n", "[slurm] sbatch_args[1]",
                     "an empty value")
        f = self.study(TINY)
        self.expect_error(["study", "check", f, "--set", "attention.scale="], "[attention] scale", "an empty value")
        # description, partition and account default to "": given empty, they mean the default
        self.accepted(TINY + "[slurm]\npartition = \"\"\naccount = \"\"\n")

    def test_grid_and_shape(self):
        self.refused(study_toml("sg", "solve", [1, 2], 64, {"grid": "2x2"}), "point 'n64-p1-t1'",
                     "[solve] grid = '2x2' is 4 process(es)", "1 rank(s)", commands=("check", "run"))
        self.accepted(study_toml("sg", "solve", [2], 64, {"grid": "1x2"}))
        self.refused(study_toml("sp", "sparsify", [1], [128, 32], {"n": 64}, size_key="d"), "point 'd32-p1-t1'",
                     "d = 32 is below n = 64")
        self.accepted(study_toml("sp", "sparsify", [1], [128, 64], {"n": 64}, size_key="d"))
        self.refused(study_toml("rg", "regress", [2], 64, {"solver": "scalapack", "grid": "3x1"}), "point 'n64-p2-t1'",
                     "[regress] grid = '3x1' is 3 process(es)", "2 rank(s)")


GROUPS = {"errors": Errors, "dryrun": DryRun, "resume": Resume, "report": Report, "compare": Compare,
          "model": ModelFormulas,
          "sbatch": Sbatch, "shipped": Shipped, "describe": Describe, "names": Names, "claims": Claims,
          "damaged": Damaged, "schema": Schema, "unfit": Unfit, "regress": Regress, "robust": Robust,
          "rules": Rules}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in GROUPS:
        sys.exit(f"usage: {sys.argv[0]} ATTNBENCH_BINARY {{{'|'.join(GROUPS)}}}")
    BIN = os.path.abspath(sys.argv[1])
    # The tools read exit codes and run states from the binary's --describe (src/study/described.py):
    # the binary under test, also for the archive readers these tests import.
    os.environ.setdefault("ATTNBENCH_BIN", BIN)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(GROUPS[sys.argv[2]])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
