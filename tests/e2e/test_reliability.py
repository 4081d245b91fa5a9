#!/usr/bin/python3
"""End-to-end reliability tests of `attnbench attention` and `attnbench gen`:
faults and hostile inputs must end with the documented exit code on every rank, one readable error
naming the path or dataset and the cause, nothing under the final name, no temporary left behind,
no hang (every launch has a timeout) and no crash at MPI_Finalize.

  1. a full disk (a 1 MiB tmpfs, nearly filled) during the archive write and during `gen`
  2. a single-precision run whose output is not finite (|V| ~ 3e37): INVALID, finite tolerance
  3. two runs writing the same --out at once; a planted <out>.partial symlink; --overwrite
  4. a Fletcher32 checksum error in one rank's chunk of /K
  5. --out a (private) character device, a symlink, the input itself
  6. declared HDF5 dimensions of 2^40 x 16 in a small file; --n / --d that overflow

Usage: test_reliability.py --attnbench BIN --mpiexec MPIEXEC --np N --workdir DIR [--timeout S]
The full-disk cases mount a tmpfs (root only); they print SKIP and the reason when they cannot.
"""
import concurrent.futures
import os
import shutil
import stat
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

args = e2e_util.parse_args(__doc__)
chk = e2e_util.Checker("reliability np=%d" % args.np)
work = os.path.abspath(args.workdir)
if os.path.ismount(os.path.join(work, "tmpfs")):
    subprocess.run(["umount", os.path.join(work, "tmpfs")])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
codes = e2e_util.documented_exit_codes(args)
USAGE, INPUT, INVALID = codes["usage"], codes["input"], codes["invalid"]
OUTPUT = codes.get("output", 5)
QUICK = ["--reps", "1", "--warmup", "0", "--validate-rows", "8", "--quiet"]
CRASH_MARKS = e2e_util.CRASH_MARKS


def run(label, argv, np_=None, workdir=None):
    """Runs attnbench with every rank running to its own end (each rank's exit code recorded)."""
    return e2e_util.run_to_end(args, chk, label, argv, work, np_)


def detail(r, argv):
    return e2e_util.detail(r, argv)


def expect_error(label, argv, code, needles, directory=None, expected_files=None, np_=None):
    """The run fails with `code` on every rank, one error line naming every needle, no crash, and
    `directory` holds exactly expected_files afterwards."""
    r = run(label, argv, np_)
    if r is not None:
        e2e_util.check_exit(chk, r, label, argv, code, np_ or args.np, needles, directory, expected_files or ())
    return r


def expect_success(label, argv, code=0, np_=None):
    r = run(label, argv, np_)
    if r is None:
        return None
    n = np_ or args.np
    ok = chk.check(len(r.rank_codes) == n and set(r.rank_codes.values()) == {code},
                   "%s: exit codes %s, expected %d everywhere%s" % (label, r.rank_codes, code, detail(r, argv)))
    for bad in CRASH_MARKS:
        ok &= chk.check(bad not in r.stderr, "%s: stderr contains '%s'%s" % (label, bad, detail(r, argv)))
    if ok:
        print("ok   [%s] exit %d on every rank in %.1f s" % (label, code, r.seconds), flush=True)
    return r


def archive_is_whole(path, with_output):
    """Opens the archive and reads every dataset (Fletcher32 verified on read); returns its valid."""
    with h5py.File(path, "r") as f:
        def read_all(name, obj):
            if isinstance(obj, h5py.Dataset):
                obj[()]
        f.visititems(read_all)
        if with_output and "output" not in f:
            raise ValueError("no /output")
        return int(f.attrs["valid"])


def case_dir(name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return d


# ---- 1. full disk ----------------------------------------------------------------------------------
def full_disk():
    T = os.path.join(work, "tmpfs")
    os.makedirs(T)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", T], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if m.returncode != 0:
        print("SKIP [full disk (np=%d)] cannot mount a tmpfs here (needs root): %s" % (args.np, m.stdout.strip()))
        return
    try:
        def fill(free_kib):
            for f in os.listdir(T):
                os.remove(os.path.join(T, f))
            with open(os.path.join(T, "filler"), "wb") as fh:
                fh.write(b"\0" * (1024 * 1024 - free_kib * 1024))

        out = os.path.join(T, "a.h5")
        # 20 KiB free: too little even for a small archive.
        fill(20)
        expect_error("full disk, archive", ["attention", "--n", "2048"] + QUICK + ["--out", out], OUTPUT,
                     [out, "No space left on device"], T, ["filler"])
        # Room for the metadata, not for the 1 MiB output dataset.
        fill(300)
        expect_error("full disk, archive with --save-output", ["attention", "--n", "2048", "--save-output"] + QUICK +
                     ["--out", out], OUTPUT, [out, "No space left on device", "/output/O"], T, ["filler"])
        # gen: /Q, /K, /V of 2048 x 64 doubles (3 MiB).
        g = os.path.join(T, "g.h5")
        expect_error("full disk, gen", ["gen", "--n", "2048", "--d", "64", "--out", g], OUTPUT,
                     [g, "No space left on device"], T, ["filler"])
        # The same runs succeed once there is room: it was the space, not the file system.
        fill(900)
        if expect_success("tmpfs with room", ["attention", "--n", "256", "--save-output"] + QUICK + ["--out", out]):
            chk.check(archive_is_whole(out, True) == 1, "tmpfs with room: archive not whole and valid")
            chk.check(sorted(os.listdir(T)) == ["a.h5", "filler"], "tmpfs with room: left %s" % os.listdir(T))
    finally:
        subprocess.run(["umount", T])


# ---- 2. non-finite single-precision output -------------------------------------------------------
def nonfinite_single():
    d = case_dir("nonfinite")
    rng = np.random.default_rng(7)
    n = 256
    path = os.path.join(d, "huge_v.h5")
    with h5py.File(path, "w") as f:
        f["Q"] = rng.uniform(-1, 1, (n, 16)).astype(np.float32)
        f["K"] = rng.uniform(-1, 1, (n, 16)).astype(np.float32)
        f["V"] = (3e37 + rng.uniform(-1, 1, (n, 8)) * 1e36).astype(np.float32)
    out = os.path.join(d, "out.h5")
    argv = ["attention", "--input", path, "--precision", "single"] + QUICK + ["--out", out]
    r = expect_success("fp32 output not finite is INVALID", argv, code=INVALID)
    if r is None or not os.path.exists(out):
        chk.check(False, "fp32 output not finite: no archive written")
        return
    with h5py.File(out, "r") as f:
        v = f["validation"].attrs
        chk.check(int(f.attrs["valid"]) == 0 and int(v["valid"]) == 0, "fp32 non-finite: archive says valid")
        chk.check(np.isfinite(float(v["tolerance"])), "fp32 non-finite: tolerance %r is not finite" % v["tolerance"])
    chk.check("INVALID" in r.stdout, "fp32 non-finite: summary does not say INVALID: %s" % r.stdout)


# ---- 3. concurrent writers, planted .partial, --overwrite ------------------------------------------
def concurrent_writers():
    d = case_dir("concurrent")
    for trial, (n1, n2) in enumerate([(2048, 2048), (3072, 1024), (1024, 3072)]):
        out = os.path.join(d, "same%d.h5" % trial)
        argvs = [["attention", "--n", str(n), "--save-output"] + QUICK + ["--out", out] for n in (n1, n2)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futs = [pool.submit(run, "writer %d of trial %d" % (i, trial), a) for i, a in enumerate(argvs)]
            rs = [f.result() for f in futs]
        if None in rs:
            continue
        outcome = sorted(tuple(sorted(set(r.rank_codes.values()))) for r in rs)
        label = "two writers --n %d / --n %d" % (n1, n2)
        ok = chk.check(outcome == [(0,), (USAGE,)],
                       "%s: exit codes %s, expected one run 0 and the other %d on every rank%s%s" %
                       (label, outcome, USAGE, detail(rs[0], argvs[0]), detail(rs[1], argvs[1])))
        loser = [r for r in rs if set(r.rank_codes.values()) == {USAGE}]
        if loser:
            errs = [l for l in loser[0].stderr.splitlines() if "attnbench: error" in l]
            ok &= chk.check(len(errs) == 1 and out in errs[0] and "exists" in errs[0],
                            "%s: the second writer's error is not one clear 'exists' line: %s" % (label, errs))
        try:
            ok &= chk.check(archive_is_whole(out, True) == 1, "%s: the surviving archive is not valid" % label)
        except Exception as e:  # noqa: BLE001 - any h5py failure is the finding
            ok &= chk.check(False, "%s: the surviving archive is damaged: %s" % (label, e))
        left = sorted(os.listdir(d))
        ok &= chk.check(not [f for f in left if f.endswith(".partial")], "%s: temporaries left: %s" % (label, left))
        if ok:
            print("ok   [%s] one archive, whole; the other run exit %d" % (label, USAGE), flush=True)

    # A symlink planted at the name older versions used for their temporary file.
    precious = os.path.join(d, "precious.txt")
    with open(precious, "w") as fh:
        fh.write("must survive")
    out = os.path.join(d, "p.h5")
    os.symlink(precious, out + ".partial")
    if expect_success("planted <out>.partial symlink", ["attention", "--n", "256"] + QUICK + ["--out", out]):
        chk.check(open(precious, "rb").read() == b"must survive", "planted symlink: its target was modified")
        chk.check(os.path.islink(out + ".partial"), "planted symlink: removed or replaced")
        chk.check(archive_is_whole(out, False) == 1, "planted symlink: archive not whole")

    # --overwrite replaces atomically: a new inode under the same name, the new content.
    before = os.stat(out).st_ino
    if expect_success("--overwrite", ["attention", "--n", "256", "--scale", "0.5", "--overwrite"] + QUICK +
                      ["--out", out]):
        with h5py.File(out, "r") as f:
            chk.check(float(f.attrs["scale"]) == 0.5, "--overwrite: the archive was not replaced")
        chk.check(os.stat(out).st_ino != before, "--overwrite: written in place, not replaced atomically")
    chk.check(not [f for f in os.listdir(d) if f.endswith(".partial") and f != "p.h5.partial"],
              "temporaries left in %s: %s" % (d, os.listdir(d)))


# ---- 4. checksum error in one rank's chunk ---------------------------------------------------------
def checksum_chunk():
    d = case_dir("flipped")  # (no "checksum" in the path: the message must say it)
    rng = np.random.default_rng(3)
    n = 192  # chunks of 64 rows: at 3 ranks, chunk 1 of /K is read by rank 1 only
    path = os.path.join(d, "flip.h5")
    with h5py.File(path, "w") as f:
        f["Q"] = rng.uniform(-1, 1, (n, 16))
        f.create_dataset("K", data=rng.uniform(-1, 1, (n, 16)), chunks=(64, 16), fletcher32=True)
        f["V"] = rng.uniform(-1, 1, (n, 16))
        info = f["K"].id.get_chunk_info(1)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([b[0] ^ 0x5A]))
    expect_error("checksum error in chunk 1 of /K", ["attention", "--input", path] + QUICK, INPUT,
                 [path, "/K", "checksum"])


# ---- 5. hostile output paths ---------------------------------------------------------------------
def output_paths():
    d = case_dir("paths")
    # A character device of our own (a copy of /dev/null's node made with mknod), never the
    # system's /dev/null: a regression must not replace a device the whole machine uses.
    dev = os.path.join(d, "null_device")
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError as e:
        print("SKIP [--out a device (np=%d)] cannot mknod a character device here: %s" % (args.np, e))
    else:
        expect_error("--out a character device --overwrite", ["attention", "--n", "64", "--overwrite", "--out", dev] +
                     QUICK, USAGE, [dev, "device"])
        chk.check(stat.S_ISCHR(os.lstat(dev).st_mode), "--out a device: the device node was replaced")
        os.remove(dev)
    target = os.path.join(d, "target.h5")
    with open(target, "w") as fh:
        fh.write("target")
    link = os.path.join(d, "link.h5")
    os.symlink(target, link)
    expect_error("--out a symlink --overwrite", ["attention", "--n", "64", "--overwrite", "--out", link] + QUICK,
                 USAGE, [link, "symbolic link"], d, ["link.h5", "target.h5"])
    chk.check(open(target, "rb").read() == b"target", "--out symlink: the target was modified")
    inp = os.path.join(d, "in.h5")
    rng = np.random.default_rng(5)
    with h5py.File(inp, "w") as f:
        for k in "QKV":
            f[k] = rng.uniform(-1, 1, (32, 8))
    data = open(inp, "rb").read()
    expect_error("--input X --out X --overwrite", ["attention", "--input", inp, "--overwrite", "--out", inp] + QUICK,
                 USAGE, [inp, "input"])
    os.link(inp, os.path.join(d, "hard.h5"))
    expect_error("--out a hard link of the input", ["attention", "--input", inp, "--overwrite", "--out",
                                                    os.path.join(d, "hard.h5")] + QUICK, USAGE, ["hard.h5", "input"])
    chk.check(open(inp, "rb").read() == data, "--input X --out X: the input was modified")


# ---- 6. sizes that overflow or cannot fit ----------------------------------------------------------
def huge_sizes():
    d = case_dir("sizes")
    path = os.path.join(d, "declared_2e40.h5")
    with h5py.File(path, "w") as f:
        for k in "QKV":
            f.create_dataset(k, shape=(2 ** 40, 16), dtype="f8", chunks=(1024, 16))  # nothing written
    chk.check(os.path.getsize(path) < 64 * 1024, "the declared-2^40 file is not small: %d" % os.path.getsize(path))
    expect_error("declared 2^40 x 16", ["attention", "--input", path] + QUICK, INPUT,
                 [path, "/Q", "needs", "the node has"])
    # Refused before anything is allocated, naming the option (the command line's range check; a
    # size that passed it would meet Matrix's checked product, also a usage error).
    expect_error("--n 2^62", ["attention", "--n", str(2 ** 62)] + QUICK, USAGE, ["--n"])
    expect_error("--d 2^62", ["attention", "--n", "16", "--d", str(2 ** 62)] + QUICK, USAGE, ["--d"])
    expect_error("--n 2^63-1", ["attention", "--n", str(2 ** 63 - 1)] + QUICK, USAGE, ["--n"])


def section(fn):
    """Runs one group of cases; an exception in the test itself (e.g. h5py on a file the run
    damaged) is a failure of that group, and the other groups still run."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        chk.check(False, "%s raised %s: %s" % (fn.__name__, type(e).__name__, e))


# The full-disk and concurrent cases time runs against each other: run them alone; the others can
# share the machine.
section(full_disk)
section(concurrent_writers)
with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    for f in [pool.submit(section, fn) for fn in (nonfinite_single, checksum_chunk, output_paths, huge_sizes)]:
        f.result()
chk.finish()
