#!/usr/bin/python3
"""End-to-end tests of option values and archive checksums, for every kernel and `gen`:

   *  an empty option value (`--n ""`, `--algo ""`, `--grid ""`, ...) is exit 2 on every rank, one
      error naming the option and saying it is empty, no crash, nothing written;
   *  every dataset of an archive of every kernel (attention 2-D and multi-head, solve, sparsify,
      regress, all with --save-output) and of every input file `gen` writes has the Fletcher32
      filter (chunked, shuffled, deflated); a flipped byte in sparsify's /output/weights and in
      /metrics/peak_rss_bytes is a read error, not a silently different value;
   *  synthetic attention (exact and approximate) and `gen` sizes beyond the node's memory are
      exit 6 (does not fit) on every rank, naming the bytes needed and the node's memory, before
      anything is allocated or written.

Usage: test_option_archive_faults.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR [--timeout S]
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("option_archive_faults np=%d" % args.np)
work = os.path.abspath(args.workdir)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
QUICK = ["--reps", "1", "--warmup", "0", "--quiet"]
CRASH_MARKS = e2e_util.CRASH_MARKS


def exit_codes():
    """{'usage': 2, 'does_not_fit': 6, ...} from `attnbench --describe` (the documented table)."""
    r = subprocess.run([args.mpiexec, "-n", "1", args.attnbench, "--describe"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=e2e_util.mpi_env(), timeout=60)
    if r.returncode != 0:
        raise SystemExit("attnbench --describe failed with %d: %s" % (r.returncode, r.stderr))
    return {e["name"]: e["code"] for e in json.loads(r.stdout)["exit_codes"]}


CODES = exit_codes()
USAGE, INPUT, DOES_NOT_FIT = CODES["usage"], CODES["input"], CODES["does_not_fit"]


def case_dir(name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return d


def run(label, argv):
    """Runs attnbench with every rank running to its own end (each rank's exit code recorded)."""
    return e2e_util.run_to_end(args, chk, label, argv, work)


def detail(r, argv):
    return e2e_util.detail(r, argv)


def expect_error(label, argv, code, needles, directory):
    """The run fails with `code` on every rank, one error line naming every needle, no crash, and
    nothing is left in `directory` (no archive, no .partial)."""
    r = run(label, argv)
    if r is not None:
        e2e_util.check_exit(chk, r, label, argv, code, args.np, needles, directory)


def expect_success(label, argv):
    r = run(label, argv)
    if r is None:
        return False
    return chk.check(len(r.rank_codes) == args.np and set(r.rank_codes.values()) == {0},
                     "%s: exit codes %s, expected 0 on each of %d ranks%s" % (label, r.rank_codes, args.np,
                                                                             detail(r, argv)))


# ---- empty option values -----------------------------------------------------------------------------
# Every case but the empty option itself is tiny, so a run that wrongly goes ahead (as solve
# --algo "" did) ends quickly and leaves its archive for the check "nothing written".
SOLVE = ["solve", "--n", "24"]
SPARSIFY = ["sparsify", "--n", "8", "--d", "64"]
REGRESS = ["regress", "--n", "64", "--d", "3"]
ATTENTION = ["attention", "--n", "32", "--d", "8"]
# Options left empty, one of each kind (the unit test test_option_empty.cpp tries every option of
# every kernel and of gen; here each kind once through mpiexec: integer, choice, size, text, common).
EMPTY_CASES = [
    (["solve"], "--n"), (SOLVE, "--algo"), (SPARSIFY, "--eps"), (SPARSIFY, "--m"),
    (REGRESS, "--memory-budget"), (REGRESS, "--grid"), (ATTENTION, "--threads"), (ATTENTION, "--precision"),
]
GEN_EMPTY = ["--n"]


def empty_values():
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for k, (base, opt) in enumerate(EMPTY_CASES):
            d = case_dir("empty/%d" % k)
            argv = base + [opt, ""] + QUICK + ["--out", os.path.join(d, "run.h5")]
            jobs.append(pool.submit(expect_error, '%s %s ""' % (base[0], opt), argv, USAGE, [opt, "empty"], d))
        for k, opt in enumerate(GEN_EMPTY):
            d = case_dir("empty/gen%d" % k)
            argv = ["gen", "--n", "8", "--d", "4", opt, "", "--out", os.path.join(d, "in.h5")]
            jobs.append(pool.submit(expect_error, 'gen %s ""' % opt, argv, USAGE, [opt, "empty"], d))
        d = case_dir("empty/gen_out")
        jobs.append(pool.submit(expect_error, 'gen --out ""', ["gen", "--n", "8", "--d", "4", "--out", ""], USAGE,
                                ["--out", "empty"], d))
        for j in jobs:
            j.result()


# ---- every dataset checksummed --------------------------------------------------------------------
def datasets_of(path):
    """[(name, dataset properties)] of every dataset in the file."""
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, o: out.append((name, o.fletcher32, o.chunks is not None, o.shuffle,
                                                 o.compression)) if isinstance(o, h5py.Dataset) else None)
    return out


def flip_byte(path, name):
    """Flips one byte in the middle of dataset `name`'s stored data (its first chunk, or its
    contiguous storage) and returns True when h5py then refuses to read it."""
    with h5py.File(path, "r") as f:
        ds = f[name]
        if ds.chunks is not None:
            info = ds.id.get_chunk_info(0)
            offset, size = info.byte_offset, info.size
        else:
            offset, size = ds.id.get_offset(), ds.id.get_storage_size()
        before = ds[...].copy()
    with open(path, "r+b") as fh:
        fh.seek(offset + size // 2)
        b = fh.read(1)
        fh.seek(offset + size // 2)
        fh.write(bytes([b[0] ^ 0x20]))
    try:
        with h5py.File(path, "r") as f:
            after = f[name][...]
    except OSError:
        return True, None
    return False, "read back without error, %s -> %s" % (before.tolist()[:6], after.tolist()[:6])


def all_checksummed():
    d = case_dir("archives")
    out = lambda name: ["--out", os.path.join(d, name)]  # noqa: E731
    runs = {
        "attention.h5": ATTENTION + QUICK + ["--save-output"] + out("attention.h5"),
        "attention_mha.h5": ["attention", "--n", "24", "--d", "4", "--heads", "2", "--batch", "2"] + QUICK +
                            ["--save-output"] + out("attention_mha.h5"),
        "solve.h5": SOLVE + QUICK + ["--save-output"] + out("solve.h5"),
        "sparsify.h5": SPARSIFY + QUICK + ["--save-output"] + out("sparsify.h5"),
        "regress.h5": REGRESS + QUICK + ["--save-output"] + out("regress.h5"),
        "gen_attention.h5": ["gen", "--n", "16", "--d", "4"] + out("gen_attention.h5"),
        "gen_mha.h5": ["gen", "--n", "16", "--d", "4", "--heads", "2", "--kv-heads", "1", "--batch", "2"] +
                      out("gen_mha.h5"),
        "gen_dense.h5": ["gen", "--kernel", "sparsify", "--n", "8", "--d", "32"] + out("gen_dense.h5"),
        "gen_csc.h5": ["gen", "--kernel", "sparsify", "--n", "8", "--d", "32", "--density", "0.5"] + out("gen_csc.h5"),
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(runs, pool.map(lambda kv: expect_success(kv[0], kv[1]), runs.items())))
    # Datasets each file must have (so that the walk below cannot pass on a file missing the ones
    # that were written without a checksum before), beyond whatever else it holds.
    frame = ["timings/total", "metrics/peak_rss_bytes", "metrics/kernel_buffer_bytes"]
    required = {
        "attention.h5": frame + ["output/O"], "attention_mha.h5": frame + ["output/O_b0", "output/O_b1"],
        "solve.h5": frame, "sparsify.h5": frame + ["output/columns", "output/weights"],
        "regress.h5": frame + ["history/accepted", "history/cholesky_info", "output/X", "output/Y"],
        "gen_attention.h5": ["Q", "K", "V"], "gen_mha.h5": ["Q", "K", "V"], "gen_dense.h5": ["X"],
        "gen_csc.h5": ["X/data", "X/indices", "X/indptr"],
    }
    total = 0
    for name, ok in done.items():
        if not ok:
            continue
        path = os.path.join(d, name)
        sets = datasets_of(path)
        total += len(sets)
        names = {s[0] for s in sets}
        for r in required[name]:
            chk.check(r in names, "%s: no dataset /%s (has %s)" % (name, r, sorted(names)))
        for ds, fletcher32, chunked, shuffle, compression in sets:
            chk.check(fletcher32 and chunked and shuffle and compression == "gzip",
                      "%s: /%s is not chunked + shuffle + deflate + Fletcher32 (fletcher32=%s chunked=%s shuffle=%s "
                      "compression=%s)" % (name, ds, fletcher32, chunked, shuffle, compression))
    print("ok   [checksums] %d datasets in %d files checked" % (total, sum(done.values())), flush=True)
    # One flipped byte is detected on read, not a silently changed value.
    if done.get("sparsify.h5"):
        for ds in ("output/weights", "metrics/peak_rss_bytes"):
            damaged = os.path.join(d, "sparsify_%s.h5" % ds.replace("/", "_"))
            shutil.copy(os.path.join(d, "sparsify.h5"), damaged)
            refused, why = flip_byte(damaged, ds)
            chk.check(refused, "sparsify.h5 with a flipped byte in /%s: %s" % (ds, why))


# ---- synthetic sizes beyond the node ---------------------------------------------------------------
def beyond_the_node():
    cases = [
        ("attention exact --n 7e10", ["attention", "--n", "70000000000", "--d", "64"], ["--n 70000000000", "needs"]),
        ("attention poly --n 7e10", ["attention", "--algo", "poly", "--n", "70000000000", "--d", "64"],
         ["--n 70000000000", "needs"]),
        ("gen --n 2^40", ["gen", "--n", str(2 ** 40), "--d", "64"], ["gen --n %d" % 2 ** 40, "needs"]),
        ("gen 4-D", ["gen", "--n", "100000", "--d", "64", "--heads", "4096", "--batch", "100000"],
         ["--batch 100000", "needs"]),
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        jobs = []
        for k, (label, argv, needles) in enumerate(cases):
            d = case_dir("fit/%d" % k)
            argv = argv + (QUICK if argv[0] != "gen" else []) + ["--out", os.path.join(d, "x.h5")]
            jobs.append(pool.submit(expect_error, label, argv, DOES_NOT_FIT, needles + ["the node has"], d))
        for j in jobs:
            j.result()


# ---- a float64 value beyond float32's range, read in single precision ----------------------------
def overflows_float32():
    """1e39 in a float64 file is finite; --precision single makes it inf. Every kernel's reader says
    that it overflows float32 and that --precision double reads it as stored (exit 3, naming the
    dataset)."""
    import numpy as np
    import scipy.sparse as sp
    d = case_dir("f32")
    rng = np.random.default_rng(7)
    files = {}
    with h5py.File(os.path.join(d, "att.h5"), "w") as f:
        q = rng.uniform(-1, 1, (16, 4))
        q[3, 2] = 1e39
        f["Q"], f["K"], f["V"] = q, rng.uniform(-1, 1, (16, 4)), rng.uniform(-1, 1, (16, 4))
    with h5py.File(os.path.join(d, "solve.h5"), "w") as f:
        a = 4.0 * np.eye(8)
        a[2, 2] = 1e39
        f["A"], f["B"] = a, np.ones((8, 1))
    x = rng.uniform(-1, 1, (4, 64))
    x[1, 5] = 1e39
    with h5py.File(os.path.join(d, "dense.h5"), "w") as f:
        f["X"] = x
    with h5py.File(os.path.join(d, "csc.h5"), "w") as f:
        m = sp.csc_matrix(x)
        g = f.create_group("X")
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        g.attrs["encoding-type"], g.attrs["encoding-version"] = "csc_matrix", "0.1.0"
        g.attrs["shape"] = np.array(x.shape)
    cases = [("attention", "att.h5", "/Q"), ("solve", "solve.h5", "/A"), ("sparsify", "dense.h5", "/X"),
             ("sparsify", "csc.h5", "/X/data")]
    for k, (kernel, name, dataset) in enumerate(cases):
        out = case_dir("f32/out%d" % k)
        expect_error("%s %s in single precision" % (kernel, name),
                     [kernel, "--input", os.path.join(d, name), "--precision", "single", "--out",
                      os.path.join(out, "x.h5")] + QUICK, INPUT, [dataset, "overflow float32", "--precision double"],
                     out)


def section(fn):
    """Runs one group of cases; an exception in the test itself is a failure of that group, and
    the other groups still run."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        chk.check(False, "%s raised %s: %s" % (fn.__name__, type(e).__name__, e))


for fn in (empty_values, all_checksummed, beyond_the_node, overflows_float32):
    section(fn)
chk.finish()
