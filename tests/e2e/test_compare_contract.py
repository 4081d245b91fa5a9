#!/usr/bin/python3
"""`attnbench compare` matches benchmark points through the archive contract: an archive made
before attention's batch, causal, heads, kv_heads and layout keys existed, with other tile sizes,
is the same point as a new run of the same problem (the missing keys take the defaults declared
by `attnbench attention --describe`), and the differing tile sizes are listed beside the
comparison; a point key that really differs (causal = 1) is still no point in common.

- "old": a copy of a new tiny run with those five keys deleted (and dropped from problem_keys) and
  its tiles swapped, as the archives of the time were;
- the shipped schema-2 fixture (tests/fixtures, made by main 2cdbe4b before those keys existed) at
  its own rank count, 2;
- compare run with ATTNBENCH_BIN = a wrapper whose --describe declares another default for layout
  no longer matches: the defaults come from --describe, not from the Python tools;
- the pairing itself (compare.match): equal tunings first, a tile sweep stays apart.
"""
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NEW_KEYS = ("batch", "causal", "heads", "kv_heads", "layout")


def compare(args, base, new, env=None, direct=False):
    """Exit code and output of `attnbench compare BASE NEW` (direct: src/report/compare.py itself,
    with the environment given)."""
    cmd = ([sys.executable, os.path.join(SRC, "src/report/compare.py")] if direct else [args.attnbench, "compare"])
    r = subprocess.run(cmd + [base, new, "--tolerance", "900%"], capture_output=True, text=True,
                       env=env or e2e_util.mpi_env(), timeout=120)
    return r.returncode, r.stdout + r.stderr


def make_old(new, old, causal=None):
    import h5py
    shutil.copy(new, old)
    with h5py.File(old, "r+") as f:
        a = f.attrs
        tiles = int(a["tile_q"]), int(a["tile_k"])
        for k in NEW_KEYS:
            del a[k]
        a["problem_keys"] = ",".join(k for k in str(a["problem_keys"]).split(",") if k not in NEW_KEYS)
        a["tile_q"], a["tile_k"] = tiles[1], tiles[0]
        if causal is not None:  # a causal run of the time: the key listed among the problem keys
            a["causal"] = causal
            a["problem_keys"] = str(a["problem_keys"]) + ",causal"
    return tiles


def main():
    args = e2e_util.parse_args(__doc__.split("\n")[0])
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    chk = e2e_util.Checker("compare_contract")
    new = os.path.join(args.workdir, "new.h5")
    argv = ["attention", "--n", "16", "--d", "8", "--seed", "7", "--reps", "1", "--warmup", "0", "--quiet",
            "--out", new]
    r = e2e_util.run_to_end(args, chk, "new run", argv, args.workdir)
    if r is None or not e2e_util.check_exit(chk, r, "new run", argv, 0, args.np):
        chk.finish()

    old = os.path.join(args.workdir, "old.h5")
    tq, tk = make_old(new, old)
    rc, out = compare(args, old, new)
    chk.check(rc == 0 and "1 point(s) compared" in out and "no benchmark point in common" not in out,
              f"old vs new: exit {rc}, expected the point compared:\n{out}")
    chk.check(f"tile_k {tq} -> {tk}, tile_q {tk} -> {tq}" in out,
              f"old vs new: the differing tiles are not listed beside the comparison:\n{out}")
    for k, v in (("batch", 1), ("causal", 0), ("heads", 1), ("kv_heads", 1), ("layout", "contiguous")):
        chk.check(f" {k}={v} " in out, f"old vs new: the point does not show {k}={v}:\n{out}")

    # A point key that differs is a different point, whatever the defaults.
    causal = os.path.join(args.workdir, "old-causal.h5")
    make_old(new, causal, causal=1)
    rc, out = compare(args, causal, new)
    chk.check(rc == 2 and "no benchmark point in common" in out, f"causal=1 vs new: exit {rc}, expected 2:\n{out}")

    # The shipped archive of main 2cdbe4b (2 ranks, the same command) is the same point.
    if args.np == 2:
        fixture = os.path.join(SRC, "tests/fixtures/schema2-attention-n16.h5")
        rc, out = compare(args, fixture, new)
        chk.check(rc == 0 and "1 point(s) compared" in out and "differs: tile_k 512 ->" in out,
                  f"fixture vs new: exit {rc}, expected the point compared, its tiles listed:\n{out}")

    # The defaults are --describe's: a binary declaring layout's default "striped" no longer matches.
    wrapper = os.path.join(args.workdir, "describe-striped")
    with open(wrapper, "w") as f:
        f.write(f"""#!/bin/sh
"{args.attnbench}" "$@" | {sys.executable} -c '
import json, sys
d = json.load(sys.stdin)
for k in d.get("archive", {{}}).get("root", []):
    if k["name"] == "layout": k["default"] = "striped"
json.dump(d, sys.stdout)'
""")
    os.chmod(wrapper, 0o755)
    env = dict(e2e_util.mpi_env(), ATTNBENCH_BIN=wrapper)
    rc, out = compare(args, old, new, env=env, direct=True)
    chk.check(rc == 2 and "no benchmark point in common" in out and "layout=striped" in out,
              f"old vs new with layout's default striped: exit {rc}, expected 2:\n{out}")
    check_pairing(chk)
    chk.finish()


def check_pairing(chk):
    """compare.match: equal tunings pair first, so a tile sweep on both sides stays apart; a point
    left with one tuning on each side pairs across the change; an ambiguous one does not."""
    sys.path[:0] = [os.path.join(SRC, "src/report"), os.path.join(SRC, "src/study")]
    import compare
    t = lambda q: (("tile_q", str(q)),)  # noqa: E731
    base = {("P", t(256)): 0, ("P", t(512)): 0, ("Q", t(256)): 0, ("R", t(1)): 0, ("R", t(2)): 0}
    new = {("P", t(256)): 0, ("P", t(512)): 0, ("Q", t(512)): 0, ("R", t(3)): 0}
    got = sorted(compare.match(base, new))
    want = sorted([(("P", t(256)), ("P", t(256))), (("P", t(512)), ("P", t(512))), (("Q", t(256)), ("Q", t(512)))])
    chk.check(got == want, f"compare.match paired {got}, expected {want}")
    chk.check(compare.tuning_text(("Q", t(256)), ("Q", t(512))) == "differs: tile_q 256 -> 512",
              compare.tuning_text(("Q", t(256)), ("Q", t(512))))


if __name__ == "__main__":
    main()
