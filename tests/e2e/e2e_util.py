"""Helpers for the end-to-end CLI tests: launching attnbench under mpiexec with every rank's exit
code recorded, and reading the exit codes documented by `attnbench attention --help`.

Only the Python standard library here; the tests that need numpy/h5py import them themselves
(Debian's python3-numpy and python3-h5py, run with /usr/bin/python3).
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time

# Each rank runs under /bin/sh, which writes the rank's exit code to <rcdir>/rc.<rank> and exits
# with it: mpiexec alone reports only one code, the test checks that all ranks agree.
_RANK_WRAPPER = 'rcdir="$1"; shift; "$@"; rc=$?; echo "$rc" > "$rcdir/rc.${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}"; exit "$rc"'


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--attnbench", required=True, help="path of the attnbench binary")
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--np", type=int, default=1, help="MPI ranks")
    p.add_argument("--workdir", required=True, help="scratch directory (emptied first)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-launch timeout in seconds")
    return p.parse_args()


def mpi_env():
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    # Correctness tests: no same-run reference rates (1-2 s of GEMM and triad per launch, whatever
    # the problem size). A test that checks the rates sets ATTNBENCH_REFERENCE_RATES=on itself.
    env.setdefault("ATTNBENCH_REFERENCE_RATES", "off")
    # Oversubscribed ranks yield instead of busy-polling (cmake/AttnbenchTesting.cmake says why).
    env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    # No 1 s SIGTERM grace after a rank exits non-zero (cmake/AttnbenchTesting.cmake says why).
    env.setdefault("OMPI_MCA_odls_base_sigkill_timeout", "0")
    return env


class Result:
    def __init__(self, returncode, rank_codes, stdout, stderr, seconds):
        self.returncode = returncode
        self.rank_codes = rank_codes  # {rank: code}
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds


def launch(args, np_, argv, rcdir, timeout, all_ranks_finish=False):
    """Runs `attnbench argv...` on np_ ranks; returns a Result. A timeout is a test failure (the
    process group is killed and None returned).

    By default mpiexec kills the other ranks as soon as one exits non-zero (and then returns that
    code), so not every rank may get to record its code. With all_ranks_finish=True that abort is
    switched off (orte_abort_on_non_zero_status=0): every rank runs to its own end and records its
    own exit code, but mpiexec itself then returns 0."""
    os.makedirs(rcdir, exist_ok=True)
    for f in os.listdir(rcdir):
        if f.startswith("rc."):
            os.remove(os.path.join(rcdir, f))
    cmd = [args.mpiexec, "-n", str(np_), "--oversubscribe", "/bin/sh", "-c", _RANK_WRAPPER, "sh", rcdir,
           args.attnbench] + list(argv)
    env = mpi_env()
    if all_ranks_finish:
        env["OMPI_MCA_orte_abort_on_non_zero_status"] = "0"
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Record what was still running (which ranks, in what state) before killing the group.
        ps = subprocess.run(["ps", "-o", "pid,stat,etime,wchan:24,args", "-g", str(proc.pid)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        print("TIMEOUT after %.0f s: %s\n  still running:\n%s  stdout: %s\n  stderr: %s" %
              (timeout, " ".join(cmd), ps, out[-1000:], err[-2000:]), flush=True)
        return None
    seconds = time.monotonic() - start
    codes = {}
    for f in os.listdir(rcdir):
        if f.startswith("rc."):
            with open(os.path.join(rcdir, f)) as fh:
                codes[int(f[3:])] = int(fh.read().strip() or -1)
    return Result(proc.returncode, codes, out, err, seconds)


# Text that never belongs in attnbench's output, whatever the exit code: a crash, an abort, an
# unagreed error, HDF5's own error stack, a Python traceback of a tool.
CRASH_MARKS = ("Segmentation fault", "Signal:", "internal error", "MPI_ABORT", "HDF5-DIAG", "terminate called",
               "Traceback")


def run_to_end(args, chk, label, argv, workdir, np_=None):
    """Runs attnbench on np_ (default args.np) ranks, every rank running to its own end (each rank's
    exit code recorded); a timeout is a failed check (hang) and returns None."""
    rcdir = os.path.join(workdir, "rc", label.replace(" ", "_").replace("/", "_").replace('"', ""))
    r = launch(args, np_ or args.np, argv, rcdir, args.timeout, all_ranks_finish=True)
    chk.check(r is not None, "%s: no result within %.0f s (hang)" % (label, args.timeout))
    return r


def detail(r, argv):
    return "\n  argv: %s\n  rank codes: %s\n  stderr: %s\n  stdout: %s" % (
        " ".join(argv), r.rank_codes, r.stderr.strip()[-2500:], r.stdout.strip()[-500:])


def check_exit(chk, r, label, argv, code, ranks, needles=(), directory=None, expected_files=(),
               crash_marks=CRASH_MARKS):
    """The finished run r exited with `code` on each of `ranks` ranks, without a crash mark; for an
    error, printed one error line naming every needle; and `directory`, if given, holds exactly
    expected_files afterwards (no archive, no .partial). Prints an ok line; returns whether all held."""
    d = detail(r, argv)
    ok = chk.check(len(r.rank_codes) == ranks and set(r.rank_codes.values()) == {code},
                   "%s: exit codes %s, expected %d on each of %d ranks%s" % (label, r.rank_codes, code, ranks, d))
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    if code != 0:
        ok &= chk.check(len(errors) == 1, "%s: %d error lines, expected 1%s" % (label, len(errors), d))
        for needle in needles:
            ok &= chk.check(any(needle in l for l in errors), "%s: the error does not name '%s'%s" % (label, needle, d))
    for bad in crash_marks:
        ok &= chk.check(bad not in r.stderr, "%s: stderr contains '%s'%s" % (label, bad, d))
    if directory is not None:
        left = sorted(os.listdir(directory))
        ok &= chk.check(left == sorted(expected_files), "%s: %s holds %s, expected %s%s" % (
            label, directory, left, sorted(expected_files), d))
    if ok:
        print("ok   [%s] exit %d on every rank in %.1f s%s" % (label, code, r.seconds,
                                                               ": " + errors[0][:220] if errors else ""), flush=True)
    return ok


def documented_exit_codes(args):
    """{'usage': 2, 'input': 3, 'invalid': 4, ...} from the exit-code table of `attention --help`
    (help is printed without MPI ranks other than one)."""
    r = subprocess.run([args.mpiexec, "-n", "1", args.attnbench, "attention", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=mpi_env(), timeout=60)
    if r.returncode != 0:
        raise SystemExit("attnbench attention --help failed with %d: %s" % (r.returncode, r.stderr))
    codes = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+(\d)\s+(.*)", line)
        if not m:
            continue
        text = m.group(2).lower()
        for key, word in (("usage", "usage"), ("input", "input"), ("invalid", "validation"), ("internal", "internal"),
                          ("output", "archive could not")):
            if word in text and key not in codes:
                codes[key] = int(m.group(1))
    for key in ("usage", "input", "invalid"):
        if key not in codes:
            raise SystemExit("exit code for '%s' not documented in attention --help:\n%s" % (key, r.stdout))
    return codes


class Checker:
    """Collects failures instead of stopping at the first, and reports them at the end."""

    def __init__(self, label):
        self.label = label
        self.failures = []
        self.checks = 0
        self.lock = threading.Lock()

    def check(self, ok, what):
        with self.lock:
            self.checks += 1
            if not ok:
                self.failures.append(what)
                print("FAIL [%s] %s" % (self.label, what), flush=True)
        return ok

    def finish(self):
        if self.failures:
            print("%s: %d of %d checks failed" % (self.label, len(self.failures), self.checks))
            sys.exit(1)
        print("%s: all %d checks passed" % (self.label, self.checks))
        sys.exit(0)
