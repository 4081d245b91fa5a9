#!/usr/bin/python3
"""Fast end-to-end tests of `attnbench study`, `report`, `compare` and jobs/attention.sbatch
(ctest label `study`; no Slurm needed).

  study_tests.py ATTNBENCH_BINARY GROUP     GROUP: errors | dryrun | resume | report | compare | sbatch | shipped

Each group is a unittest.TestCase run in a fresh temporary directory. Runs use tiny problems
(n = 128..256, 1 and 2 ranks, --oversubscribe not needed on 2 cores).
"""
import hashlib
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
    return e


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
        self.check(TINY.replace("d = 16", "d = 16\nprecision = \"quad\""), "one of double, single")
        self.check(TINY.replace("n = 128", "n = 12.5"), "[scaling] n must be")
        self.check(TINY.replace("name = \"tiny\"", "name = \"../escape\""), "'name' must be")

    def test_reserved_and_missing(self):
        self.check(TINY.replace("d = 16", "d = 16\nout = \"x.h5\""), "[attention] out", "not allowed")
        self.check(TINY.replace("d = 16", "d = 16\nthreads = 2"), "threads_per_rank")
        self.check(TINY.replace("n = 128\n", ""), "missing required key [scaling] n")
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
            self.assertIn("attention.sbatch", l)
        self.assertIn("--ntasks=2", lines[1])

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
                {"name": "n128-p1-t1", "repeat": 1, "series": "n128"}]}))
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
        self.assertIn("1 runs, 0 invalid", out)
        os.rename(sdir / "n128-p2-t1/run0.h5.partial", sdir / "n128-p2-t1/run0.h5")
        # A truncated archive is unreadable, not silently skipped.
        data = (sdir / "n128-p2-t1/run0.h5").read_bytes()
        (sdir / "n128-p2-t1/run0.h5").write_bytes(data[:1000])
        self.expect_error(["report", sdir], "n128-p2-t1/run0.h5: unreadable")
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

        # An invalid run is flagged and never the baseline.
        set_attr(sdir / "n128-p1-t1/run0.h5", "/", "valid", 0)
        rc, out, err = run("report", sdir, "--no-plots")
        self.assertEqual(rc, 0, err)
        self.assertIn("**INVALID**", out)
        with h5py.File(sdir / "study.h5", "r") as f:
            runs = f["runs"][()]
            self.assertTrue(all(b == b"n128-p2-t1" for b in runs["baseline_point"]), runs["baseline_point"])


class Compare(Base):
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

        scale("n128-p2-t1", "median_time", "metrics", 1.03)  # within 5%
        rc, out, err = run("compare", base, new, "--tolerance", "5%")
        self.assertEqual(rc, 0, out + err)
        scale("n128-p2-t1", "median_time", "metrics", 1.5)
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
    """jobs/attention.sbatch outside Slurm (it is a bash script): status file, time-limit handler."""

    def setUp(self):
        super().setUp()
        self.fake = self.tmp / "fake-attnbench"
        self.fake.write_text(FAKE_BIN)
        self.fake.chmod(0o755)
        self.point = self.tmp / "pt"
        self.point.mkdir()

    def start(self, sleep):
        e = env()
        e.update(ATTNBENCH_BIN=str(self.fake), ATTNBENCH_LAUNCHER="mpirun", FAKE_SLEEP=str(sleep))
        for k in list(e):
            if k.startswith("SLURM_"):
                del e[k]
        return subprocess.Popen(["bash", str(SRC / "jobs/attention.sbatch"), str(self.point), "--", "--n", "64"],
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
        # Submitted again: the archive is not overwritten.
        digest = tree_digest(self.point)["run0.h5"]
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(self.status()["state"], "SKIPPED")
        self.assertEqual(digest, tree_digest(self.point)["run0.h5"])

    def test_time_limit_warning(self):
        p = self.start(120)
        deadline = time.time() + 60
        while not (self.point / "run0.h5.partial").exists():
            self.assertLess(time.time(), deadline, "the fake run never started")
            time.sleep(0.2)
        p.send_signal(signal.SIGUSR1)  # what Slurm does at --signal=B:USR1@60
        out, _ = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 124, out)
        self.assertEqual(self.status()["state"], "TIMEOUT")
        self.assertFalse((self.point / "run0.h5.partial").exists(), "partial archive left behind")
        self.assertFalse((self.point / "run0.h5").exists())

    def test_failure_leaves_status(self):
        self.fake.write_text("#!/bin/bash\nfor a; do [ \"$a\" = --out ] && exit 3; done; exit 0\n")
        p = self.start(0)
        out, _ = p.communicate(timeout=120)
        self.assertNotEqual(p.returncode, 0, out)
        st = self.status()
        self.assertEqual(st["state"], "FAILED")
        self.assertNotEqual(st["exit_code"], "0")


class Shipped(Base):
    """The studies issue 3 ships (inputs/studies/poly-transition.toml, kde-accuracy.toml), run end
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
        self.assertIn("does not fit (recorded, not a failure)", err)
        self.assertIn("2 do not fit the memory budget (recorded)", err)
        sdir = self.results / "poly-transition"
        st = (sdir / "n256-p2-t1-poly-unfit" / "run0.status").read_text()
        self.assertIn("state=DOES_NOT_FIT", st)
        self.assertIn("over the memory budget", st)
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

    def test_case_errors(self):
        base = TINY + "[[case]]\nlabel = \"a\"\nalgo = \"exact\"\n"
        self.expect_error(["study", "run", self.study(base + "[[case]]\nlabel = \"a\"\n"), "--dry-run"],
                          "two cases are labelled 'a'")
        self.expect_error(["study", "run", self.study(base + "zip = [\"reps\"]\n"), "--dry-run"],
                          "zip names 'reps'")
        self.expect_error(["study", "run", self.study(base + "colour = 1\n"), "--dry-run"],
                          "[[case]] 1: colour", "unknown option")
        self.expect_error(["study", "run", self.study(base), "--dry-run", "--set", "case.b.d=8"], "no case 'b'")
        rc, out, err = run("study", "run", self.study(base + "n_max = 64\n[[case]]\nalgo = \"poly\"\n"),
                           "--dry-run", cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("-a:", out)          # n = 128 > n_max: case a has no points
        self.assertIn("n128-p1-t1-poly:", out)


GROUPS = {"errors": Errors, "dryrun": DryRun, "resume": Resume, "report": Report, "compare": Compare,
          "sbatch": Sbatch, "shipped": Shipped}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in GROUPS:
        sys.exit(f"usage: {sys.argv[0]} ATTNBENCH_BINARY {{{'|'.join(GROUPS)}}}")
    BIN = os.path.abspath(sys.argv[1])
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(GROUPS[sys.argv[2]])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
