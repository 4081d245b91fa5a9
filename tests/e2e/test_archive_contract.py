#!/usr/bin/python3
"""The archive contract holds both ways, for every kernel and algorithm: every key a run archives
(every attribute of every group, every dataset but /timings/<phase>) is declared by
`attnbench <kernel> --describe` ("archive": the harness's frame and the kernel's keys) for that
algorithm with that type, and every key declared as always written for the algorithm is there.
Also: the root attribute problem_keys is the declared point and tuning root keys the run wrote, in
their declared order, and every declared default parses as its type.

One tiny run per kernel and algorithm (--reps 1 --warmup 0), a few with options that write the
conditional keys (--save-output, single precision, batch > 1, --bound classic, --fixed-iterations,
--check-every); the conditional
keys no run wrote are listed (not a failure: some need a singular matrix or an invalid run).
"""
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_util  # noqa: E402

TINY = ["--reps", "1", "--warmup", "0", "--quiet"]
LSH = ["--bucket-size", "4", "--samples", "4", "--lsh-planes", "2"]
RUNS = [
    ("attention", "exact", ["--n", "16", "--d", "4", "--batch", "2", "--heads", "2", "--precision", "single",
                            "--save-output"]),
    ("attention", "poly", ["--n", "16", "--d", "4", "--save-output"]),
    ("attention", "kde", ["--n", "16", "--d", "4"] + LSH),
    ("attention", "hyper", ["--n", "16", "--d", "4"] + LSH),
    ("attention", "performer", ["--n", "16", "--d", "4", "--features", "8"]),
    ("solve", "cholesky", ["--n", "8", "--save-output"]),
    ("solve", "lu", ["--n", "8"]),
    ("sparsify", "leverage", ["--n", "4", "--d", "64", "--save-output"]),
    ("sparsify", "leverage-sketch", ["--n", "4", "--d", "64"]),
    ("sparsify", "leverage-sketch", ["--n", "4", "--d", "64", "--bound", "classic"]),
    ("sparsify", "bss", ["--n", "4", "--d", "64"]),
    ("sparsify", "uniform", ["--n", "4", "--d", "64"]),
    ("sparsify", "gaussian", ["--n", "4", "--d", "64"]),
    ("regress", "newton", ["--n", "16", "--d", "2"]),
    ("regress", "gd", ["--n", "16", "--d", "2", "--fixed-iterations", "--max-iter", "3"]),
    ("regress", "alternating", ["--n", "16", "--d", "2"]),
    ("regress", "newton-sketch", ["--n", "16", "--d", "2", "--sample-rows", "8", "--check-every", "1", "--max-iter", "3"]),
]


def describe(args, kernel):
    r = subprocess.run([args.attnbench, kernel, "--describe"], capture_output=True, text=True, env=e2e_util.mpi_env(),
                       timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"{kernel} --describe failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def declared_keys(desc):
    """Every declared key (the archive section's groups flattened); fields missing from an older
    --describe take the widest meaning (all algorithms, always written)."""
    keys = []
    for group_keys in desc.get("archive", {}).values():
        for k in group_keys:
            keys.append(dict(k, algorithms=k.get("algorithms") or [], always=k.get("always", True),
                             role=k.get("role", "result")))
    return keys


def matches(key, algo, group, name):
    if key["group"] != group or (key["algorithms"] and algo not in key["algorithms"]):
        return False
    return name.startswith(key["name"][:-1]) if key["name"].endswith("*") else name == key["name"]


def written(path):
    """{(group, name): type} of every attribute and dataset in the archive (/timings datasets aside:
    the kernel's phases are not part of the contract)."""
    import h5py
    out = {}

    def attr_type(obj, name):
        aid = obj.attrs.get_id(name)
        dt = aid.dtype
        if h5py.check_string_dtype(dt) is not None or dt.kind in "SU":
            return "string"
        if aid.shape not in ((), None):
            return "other"
        return {("i", 8): "int64", ("u", 8): "uint64", ("f", 8): "float64"}.get((dt.kind, dt.itemsize), "other")

    def visit(obj, path):
        for name in obj.attrs:
            out[(path, name)] = attr_type(obj, name)
        if isinstance(obj, h5py.Group):
            for child in obj:
                visit(obj[child], (path.rstrip("/") + "/" + child))
        else:
            group, _, name = path.rpartition("/")
            out[(group or "/", name)] = "dataset"

    with h5py.File(path, "r") as f:
        visit(f, "/")
    return out


def check_run(chk, label, algo, keys, desc, path, seen):
    import h5py
    got = written(path)
    for (group, name), typ in sorted(got.items()):
        if group == "/timings" and typ == "dataset" and name not in ("total", "setup", "io"):
            continue
        key = next((k for k in keys if matches(k, algo, group, name)), None)
        where = f"{label}: {group.rstrip('/')}/{name} ({typ})"
        if chk.check(key is not None, f"{where} is written but not declared for --algo {algo}"):
            chk.check(typ in key["type"].split("|"), f"{where}: declared {key['type']}")
            seen.add((key["group"], key["name"], tuple(key["algorithms"])))
    for k in keys:
        if k["always"] and (not k["algorithms"] or algo in k["algorithms"]) and not k["name"].endswith("*"):
            chk.check((k["group"], k["name"]) in got,
                      f"{label}: {k['group'].rstrip('/')}/{k['name']} is declared always written, but is not there")
    with h5py.File(path, "r") as f:
        listed = [x for x in str(f.attrs.get("problem_keys", "")).split(",") if x]
        expect = [k for k in desc["problem_keys"] if ("/", k) in got]
        chk.check(listed == expect, f"{label}: problem_keys {listed}, expected the declared {expect}")


def check_defaults(chk, kernel, keys):
    for k in keys:
        if "default" not in k:
            continue
        try:
            {"int64": int, "uint64": int, "float64": float}.get(k["type"], str)(k["default"])
            ok = k["role"] in ("point", "tuning")
        except ValueError:
            ok = False
        chk.check(ok, f"{kernel}: the default {k['default']!r} of {k['group']}{k['name']} is not a "
                      f"{k['type']} of a point or tuning key")


def main():
    args = e2e_util.parse_args(__doc__.split("\n")[0])
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    chk = e2e_util.Checker("archive_contract")
    descs = {k: describe(args, k) for k in sorted({r[0] for r in RUNS})}
    for kernel, desc in descs.items():
        check_defaults(chk, kernel, declared_keys(desc))
        algos = {a["name"] for a in desc["algorithms"]}
        ran = {r[1] for r in RUNS if r[0] == kernel}
        chk.check(algos == ran, f"{kernel}: algorithms {sorted(algos)}, this test runs {sorted(ran)}")
    seen = set()
    for i, (kernel, algo, extra) in enumerate(RUNS):
        label = f"{kernel} {algo} {' '.join(extra)}"
        out = os.path.join(args.workdir, f"run{i}.h5")
        argv = [kernel, "--algo", algo] + extra + TINY + ["--out", out]
        r = e2e_util.run_to_end(args, chk, label, argv, args.workdir)
        if r is None:
            continue
        # regress alternating and newton-sketch do not converge in --max-iter on these instances:
        # INVALID (4), archived all the same.
        if not chk.check(set(r.rank_codes.values()) <= {0, 4} and os.path.exists(out),
                         f"{label}: exit codes {r.rank_codes}, no archive{e2e_util.detail(r, argv)}"):
            continue
        keys = declared_keys(descs[kernel])
        check_run(chk, label, algo, keys, descs[kernel], out, seen)
    unseen = [f"{k} {g.rstrip('/')}/{n}" + (f" [{','.join(a)}]" if a else "")
              for k, desc in descs.items() for g, n, a in
              sorted({(x["group"], x["name"], tuple(x["algorithms"])) for x in declared_keys(desc)
                      if not x["always"] and not x.get("common")}) if (g, n, a) not in seen]
    print(f"conditional keys no run here wrote ({len(unseen)}): " + ", ".join(unseen))
    chk.finish()


if __name__ == "__main__":
    main()
