#!/usr/bin/python3
"""End-to-end bad-input tests of `attnbench attention` (README "Exit codes"): for each bad input
the run must end with the documented exit code (usage 2 / input 3, read from --help) identical on
every rank, print the error exactly once naming the file, dataset or option, leave no archive and
no .partial file behind, and finish well within the timeout (no hang).

Usage: test_cli_errors.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR
"""
import concurrent.futures
import os
import shutil
import stat
import sys

import numpy as np
import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("cli errors np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
codes = e2e_util.documented_exit_codes(args)
USAGE, INPUT = codes["usage"], codes["input"]
chk.check(USAGE != INPUT and 0 not in (USAGE, INPUT), "usage and input exit codes must be distinct and non-zero: %s" % codes)

# Small synthetic options: if a bad value were accepted, the run would still be quick.
SMALL = ["--reps", "1", "--warmup", "0", "--validate-rows", "4", "--quiet"]
N = 12  # rows of the input files; at 3 ranks rows 8..11 belong to the last rank


def inputs_dir():
    d = os.path.join(work, "inputs")
    os.makedirs(d, exist_ok=True)
    return d


def h5(name, datasets, groups=()):
    """Writes an HDF5 file with the given {name: array} datasets (and empty groups)."""
    path = os.path.join(inputs_dir(), name)
    with h5py.File(path, "w") as f:
        for g in groups:
            f.create_group(g)
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


rng = np.random.default_rng(1)
Q = rng.uniform(-1, 1, (N, 4))
K = rng.uniform(-1, 1, (N, 4))
V = rng.uniform(-1, 1, (N, 3))


def with_value(a, index, value):
    b = a.copy()
    b[index] = value
    return b


CASES = []
POST_CHECKS = []


def case(*a, **kw):
    """Registers a case; they run concurrently at the end (mpiexec spends ~2 s idle after a non-zero
    exit, so running them one after the other would be needlessly slow)."""
    CASES.append((a, kw))


def run_case(name, argv, expected, needles, out_name="out.h5", pre_existing=None):
    """Runs one bad-input case with --out <case dir>/<out_name> appended (unless argv has --out)."""
    label = "%s (np=%d)" % (name, args.np)
    fails = []

    def c(ok, what):
        if not chk.check(ok, what):
            fails.append(what)
        return ok

    case_dir = os.path.join(work, "cases", name.replace(" ", "_").replace("/", "_"))
    os.makedirs(case_dir)
    out = os.path.join(case_dir, out_name)
    argv = list(argv)
    if "--out" not in argv:
        argv += ["--out", out]
    if pre_existing is not None:
        with open(out, "wb") as fh:
            fh.write(pre_existing)
    before = sorted(os.listdir(case_dir))
    rcdir = os.path.join(work, "rc", os.path.basename(case_dir))
    # Run 1, as a user would: mpiexec's own exit code.
    r = e2e_util.launch(args, args.np, ["attention"] + argv, rcdir, args.timeout)
    if not c(r is not None, "%s: no result within %.0f s (hang?)" % (label, args.timeout)):
        return
    detail = "\n  argv: %s\n  stderr: %s\n  stdout: %s" % (" ".join(argv), r.stderr.strip()[:2000], r.stdout.strip()[:500])
    c(r.returncode == expected, "%s: mpiexec exit code %d, expected %d%s" % (label, r.returncode, expected, detail))
    # Run 2, with every rank running to its own end: each rank's own exit code (a rank that hung or
    # disagreed would show here, not be masked by mpiexec killing it).
    r2 = e2e_util.launch(args, args.np, ["attention"] + argv, rcdir, args.timeout, all_ranks_finish=True)
    if not c(r2 is not None, "%s: no result within %.0f s with all ranks running to the end (hang?)" % (label, args.timeout)):
        return
    detail2 = "\n  argv: %s\n  stderr: %s" % (" ".join(argv), r2.stderr.strip()[:2000])
    c(len(r2.rank_codes) == args.np, "%s: %d of %d ranks recorded an exit code%s" % (label, len(r2.rank_codes), args.np, detail2))
    c(set(r2.rank_codes.values()) == {expected},
      "%s: per-rank exit codes %s, expected %d on every rank%s" % (label, r2.rank_codes, expected, detail2))
    c(len([l for l in r2.stderr.splitlines() if "attnbench: error" in l]) == 1,
      "%s: with all ranks running to the end, the error is not printed exactly once%s" % (label, detail2))
    errors = [l for l in r.stderr.splitlines() if "attnbench: error" in l]
    c(len(errors) == 1, "%s: %d error lines on stderr, expected exactly 1%s" % (label, len(errors), detail))
    for needle in needles:
        c(any(needle in l for l in errors), "%s: error message does not name '%s'%s" % (label, needle, detail))
    for bad in ("internal error", "MPI_ABORT", "HDF5-DIAG", "terminate called"):
        c(bad not in r.stderr, "%s: stderr contains '%s'%s" % (label, bad, detail))
    c("attnbench: error" not in r.stdout, "%s: error printed on stdout%s" % (label, detail))
    # Nothing written: the case directory holds exactly what it held before (an existing --out is
    # unchanged), no archive, no .partial.
    after = sorted(os.listdir(case_dir))
    c(after == before, "%s: files left behind: %s (before: %s)" % (label, after, before))
    if pre_existing is not None:
        with open(out, "rb") as fh:
            c(fh.read() == pre_existing, "%s: the existing output file was modified" % label)
    c(r.seconds < args.timeout / 2, "%s: took %.1f s" % (label, r.seconds))
    if not fails:
        print("ok   [%s] exit %d on every rank in %.1f s: %s" % (label, expected, r.seconds, errors[0] if errors else ""),
              flush=True)


# ---- input files ---------------------------------------------------------------------------------
missing = os.path.join(inputs_dir(), "does_not_exist.h5")
case("missing file", ["--input", missing], INPUT, [missing])

a_dir = os.path.join(inputs_dir(), "a_directory.h5")
os.makedirs(a_dir)
case("directory as input", ["--input", a_dir], INPUT, [a_dir])

fifo = os.path.join(inputs_dir(), "fifo.h5")
os.mkfifo(fifo)  # opening a FIFO without a writer blocks: must be rejected, not hang
case("fifo as input", ["--input", fifo], INPUT, [fifo])

unreadable = h5("unreadable.h5", {"Q": Q, "K": K, "V": V})
os.chmod(unreadable, 0)
if os.geteuid() == 0:
    print("skip [unreadable file (np=%d)] running as root, which can read a mode-000 file; the directory "
          "and FIFO cases cover unopenable inputs" % args.np)
else:
    case("unreadable file", ["--input", unreadable], INPUT, [unreadable])

text = os.path.join(inputs_dir(), "not_hdf5.h5")
with open(text, "w") as fh:
    fh.write("Q,K,V\n1,2,3\n" * 100)
case("not an HDF5 file", ["--input", text], INPUT, [text])

empty = os.path.join(inputs_dir(), "empty.h5")
open(empty, "w").close()
case("empty file", ["--input", empty], INPUT, [empty])

whole = h5("truncated.h5", {"Q": Q, "K": K, "V": V})
with open(whole, "rb") as fh:
    data = fh.read()
with open(whole, "wb") as fh:
    fh.write(data[: len(data) // 2])  # the superblock survives, the rest does not
case("truncated HDF5 file", ["--input", whole], INPUT, [whole])

for name in ("Q", "K", "V"):
    ds = {k: v for k, v in (("Q", Q), ("K", K), ("V", V)) if k != name}
    p = h5("missing_%s.h5" % name, ds)
    case("missing /%s" % name, ["--input", p], INPUT, [p, "/" + name])

p = h5("group_Q.h5", {"K": K, "V": V}, groups=["Q"])
case("/Q is a group", ["--input", p], INPUT, [p, "/Q"])
p = h5("q_3d.h5", {"Q": Q.reshape(N, 2, 2), "K": K, "V": V})
case("3-D /Q", ["--input", p], INPUT, [p, "/Q"])
p = h5("v_1d.h5", {"Q": Q, "K": K, "V": V[:, 0].copy()})
case("1-D /V", ["--input", p], INPUT, [p, "/V"])
p = h5("k_int.h5", {"Q": Q, "K": (K * 10).astype(np.int32), "V": V})
case("integer /K", ["--input", p], INPUT, [p, "/K"])
p = h5("k_d.h5", {"Q": Q, "K": rng.uniform(-1, 1, (N, 5)), "V": V})
case("K d != Q d", ["--input", p], INPUT, [p, "/K"])
p = h5("v_rows.h5", {"Q": Q, "K": K, "V": V[: N - 1]})
case("V rows != K rows", ["--input", p], INPUT, [p, "/V"])
p = h5("zero_rows.h5", {"Q": np.zeros((0, 4)), "K": np.zeros((0, 4)), "V": np.zeros((0, 3))})
case("zero rows", ["--input", p], INPUT, [p, "zero rows"])
p = h5("zero_kv_rows.h5", {"Q": Q, "K": np.zeros((0, 4)), "V": np.zeros((0, 3))})
case("zero key rows", ["--input", p], INPUT, [p, "zero rows"])
p = h5("zero_cols.h5", {"Q": np.zeros((N, 0)), "K": np.zeros((N, 0)), "V": V})
case("zero columns", ["--input", p], INPUT, [p, "/Q"])
# Non-finite values, placed so that at 3 ranks only one rank holds them.
p = h5("nan_q.h5", {"Q": with_value(Q, (N - 1, 2), np.nan), "K": K, "V": V})
case("NaN in /Q (last row)", ["--input", p], INPUT, [p, "/Q", "row %d" % (N - 1)])
p = h5("inf_v.h5", {"Q": Q, "K": K, "V": with_value(V, (0, 1), np.inf)})
case("Inf in /V (first row)", ["--input", p], INPUT, [p, "/V", "row 0"])
p = h5("ninf_k.h5", {"Q": Q, "K": with_value(K, (5, 0), -np.inf), "V": V})
case("-Inf in /K", ["--input", p], INPUT, [p, "/K", "row 5"])
p = h5("nan_f32.h5", {"Q": Q.astype(np.float32), "K": with_value(K, (7, 3), np.nan).astype(np.float32),
                      "V": V.astype(np.float32)})
case("NaN in float32 /K, --precision single", ["--input", p, "--precision", "single"], INPUT, [p, "/K"])
# A finite float64 value that overflows float32: read with --precision single it becomes Inf.
p = h5("overflow_f32.h5", {"Q": with_value(Q, (3, 3), 1e300), "K": K, "V": V})
case("float64 value overflowing --precision single", ["--input", p, "--precision", "single"], INPUT, [p, "/Q"])

# ---- options -------------------------------------------------------------------------------------
case("--n 0", ["--n", "0", "--d", "4"] + SMALL, USAGE, ["--n"])
case("--n -3", ["--n", "-3", "--d", "4"] + SMALL, USAGE, ["--n"])
case("--d 0", ["--n", "8", "--d", "0"] + SMALL, USAGE, ["--d"])
case("--n abc", ["--n", "abc", "--d", "4"] + SMALL, USAGE, ["--n"])
case("--n overflow", ["--n", "99999999999999999999999", "--d", "4"] + SMALL, USAGE, ["--n"])
case("--algo unknown", ["--algo", "unknown", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--algo"])
case("--variant unknown", ["--variant", "tree", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--variant"])
case("--precision half", ["--precision", "half", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--precision"])
case("--scale 0", ["--scale", "0", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--scale"])
case("--scale abc", ["--scale", "abc", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--scale"])
case("unknown option", ["--frobnicate", "3", "--n", "8", "--d", "4"] + SMALL, USAGE, ["--frobnicate"])
good = h5("good.h5", {"Q": Q, "K": K, "V": V})
case("--input with --n", ["--input", good, "--n", "8"] + SMALL, USAGE, ["--input"])

# ---- output path ---------------------------------------------------------------------------------
no_dir = os.path.join(work, "no_such_dir", "out.h5")
case("output directory missing", ["--n", "8", "--d", "4", "--out", no_dir] + SMALL, USAGE, [no_dir])
POST_CHECKS.append(lambda: chk.check(not os.path.exists(os.path.dirname(no_dir)), "output directory missing: the directory was created"))
case("output file exists", ["--n", "8", "--d", "4"] + SMALL, USAGE, ["out.h5", "exists"],
     pre_existing=b"an earlier result that must survive\n")
case("output file exists (bad input too)", ["--input", missing], USAGE, ["out.h5"],
     pre_existing=b"an earlier result\n")
out_is_dir = os.path.join(work, "out_is_dir.h5")
os.makedirs(out_is_dir)
case("output is a directory", ["--n", "8", "--d", "4", "--out", out_is_dir] + SMALL, USAGE, [out_is_dir])
POST_CHECKS.append(lambda: chk.check(os.listdir(out_is_dir) == [], "output is a directory: something was written into it"))

with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    for f in [pool.submit(run_case, *a, **kw) for a, kw in CASES]:
        f.result()  # re-raises an exception of the case itself
for post in POST_CHECKS:
    post()
chk.finish()
