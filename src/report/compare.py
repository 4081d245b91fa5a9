#!/usr/bin/python3
"""attnbench compare: point-by-point regression check of NEW against BASE (ReFrame-style reference).

  attnbench compare BASE NEW [--tolerance 5%] [--error-factor 2]

BASE and NEW are each a study folder (results/<study>/: its archives are read), a study.h5 file
(written by `attnbench report`), or a single run archive (schema_version 1 or 2). Runs are matched
by what defines a benchmark point: kernel, algorithm, variant, ranks, threads per rank, precision
and the keys the kernel's archive contract (`attnbench <kernel> --describe`, "archive") declares
as point keys; a point key an older archive lacks (attention's batch, causal, heads, kv_heads,
layout) takes its declared default. Tuning keys (tile, block and grid sizes) do not decide the
match: a point whose tuning differs between BASE and NEW is compared, the difference listed beside
it. Repeated runs of a point with the same tuning are combined (median time and largest primary
error over its valid runs). Times are recomputed from the raw
/timings of each archive, never taken from a stored summary.

A point regresses when
  performance: NEW's median time > BASE's x (1 + tolerance), or
  accuracy:    NEW has an invalid or failed run, or NEW's primary error (/validation primary_error)
               > max(BASE's x error-factor, 4 x machine epsilon of the precision) (errors near
               rounding level are noise).
A point whose BASE has no valid run is not compared (never a baseline). A BASE point missing
from NEW fails the comparison; NEW points missing from BASE are listed.

Exit codes: 0 no regression; 1 a regression or a missing point; 2 usage error, or incompatible
inputs (no point in common, different kernel or scaling mode); 3 an input is damaged or foreign
(a checksum error in any dataset, a missing attribute, a wrong type or shape, valid = 1 with a
non-finite error, an unknown schema_version, a stored summary that disagrees with the raw
timings, a run archive of another suite; src/study/archives.py read_run): named on stderr,
nothing compared.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean (it may be read-only)
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "study"))
sys.path.insert(0, str(HERE))

import archives  # noqa: E402
import described  # noqa: E402
import report  # noqa: E402
import studyfile  # noqa: E402

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_DAMAGED = 0, 1, 2, 3
EPS = {"double": 2.0 ** -52, "single": 2.0 ** -23}


class CompareError(Exception):
    def __init__(self, msg, code=EXIT_USAGE):
        super().__init__(msg)
        self.code = code


def parse_tolerance(text: str) -> float:
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise CompareError(f"--tolerance: expected e.g. 5% or 0.05, got '{text}'") from None
    if not (0.0 <= v < 10.0) or math.isnan(v):
        raise CompareError(f"--tolerance: {text} is out of range")
    return v


def _damaged(spec, items):
    lines = "".join(f"\n  {path}: {reason}" for path, reason in items[:20])
    return CompareError(f"'{spec}': {len(items)} damaged or foreign archive(s), not compared:{lines}", EXIT_DAMAGED)


def load(spec: str) -> tuple[dict, list[dict]]:
    """(info, runs) from a study folder, a study.h5 or a run archive. Raises CompareError."""
    path = Path(spec)
    if not path.exists():
        raise CompareError(f"'{spec}' does not exist")
    if path.is_dir():  # the archives themselves (study.h5 may predate a resumed run)
        try:
            plan, rows = report.build(path, allow_incomplete=False)
        except report.ReportError as e:
            raise CompareError(str(e)) from None
        bad = [(str(path / r["archive"]), r["reason"]) for r in rows if r["status"] == "DAMAGED"]
        if bad:
            raise _damaged(spec, bad)
        return {"name": str(path), "mode": plan["mode"], "kernel": plan.get("kernel", "attention")}, rows
    try:
        import h5py
        with h5py.File(path, "r") as f:
            is_study = f.attrs.get("kind") in ("study", b"study")
            if is_study:
                version = f.attrs.get("schema_version")
                if version is None or int(version) != report.SCHEMA_VERSION:
                    raise CompareError(f"'{spec}': study.h5 schema_version {version} (this compare reads "
                                       f"{report.SCHEMA_VERSION}; run `attnbench report` on the study again)",
                                       EXIT_DAMAGED)
                table = f["runs"][()]
                names = table.dtype.names
                rows = []
                for rec in table:
                    r = {k: (rec[k].decode() if isinstance(rec[k], bytes) else rec[k].item()) for k in names}
                    rows.append(r)
                mode = f.attrs["mode"]
                info = {"name": str(path), "mode": mode.decode() if isinstance(mode, bytes) else str(mode),
                        "kernel": archives._s(f.attrs.get("kernel", "attention"))}
    except CompareError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        if path.suffix == ".h5":
            raise _damaged(spec, [(str(path), f"unreadable: {e}")]) from None
        raise CompareError(f"'{spec}': not readable as HDF5 ({e})") from None
    if is_study:
        bad = [(r["archive"], r["reason"]) for r in rows if r.get("status") == "DAMAGED"]
        if bad:
            raise _damaged(spec, bad)
        return info, rows
    try:
        r = archives.read_run(path)
    except archives.Damaged as e:
        raise _damaged(spec, [(str(path), e.reason)]) from None
    r = dict(r, status=r.get("state") or described.state(valid=r["valid"], certified=True), usable=True)
    return {"name": str(path), "mode": None, "kernel": r["kernel"]}, [r]


def archive_contract(kernel: str) -> list | None:
    """The kernel's archive contract from `attnbench <kernel> --describe` (the binary that launched
    this tool, ATTNBENCH_BIN, or the build tree's); None, with a note, when it cannot be had: then
    every stored problem key and parameter decides the match."""
    try:
        contract = studyfile.describe_kernel(described.binary(), kernel).archive
    except (studyfile.StudyError, described.DescribeError) as e:
        print(f"attnbench compare: note: no archive contract ({e}); points are matched on every stored key",
              file=sys.stderr)
        return None
    return contract or None


def combine(rows: list[dict], contract: list | None = None) -> dict:
    """(point key, tuning key) -> combined figures over its runs (failed runs count as invalid; an
    UNCERTIFIED run, valid output whose error nothing bounds, counts as a run: its time and measured
    error are compared like a VALID run's)."""
    points = {}
    for r in rows:
        if r.get("status") in ("FAILED", "TIMEOUT", "CANCELLED") or not r.get("problem"):
            key = (("failed", r["point"]), ())   # no archive: matched by its point name only
        else:
            key = (archives.point_key(r, contract), archives.tuning_key(r, contract))
        points.setdefault(key, []).append(r)
    out = {}
    for key, runs in points.items():
        done = described.ok_states()
        ok = [r for r in runs if int(r["valid"]) and r.get("status", done[0]) in done]
        out[key] = {
            "runs": len(runs),
            "invalid": len(runs) - len(ok),
            "time": report.median([r["median_time"] for r in ok]) if ok else float("nan"),
            "error": max(r["error"] for r in ok) if ok else float("nan"),
            "error_name": runs[0].get("primary_error", "error"),
            "precision": runs[0]["precision"],
        }
    return out


def describe(key) -> str:
    point, tuning = key
    if point[0] == "failed":
        return f"FAILED run of point {point[1]}"
    return archives.describe_key(point) + "".join(f" {k}={v}" for k, v in tuning)


def match(base: dict, new: dict) -> list[tuple]:
    """(BASE key, NEW key) pairs: the same point and tuning; else the same point when it has one
    tuning left unmatched on each side (a tuning change, e.g. new default tile sizes)."""
    pairs = [(k, k) for k in base if k in new]
    left_b = [k for k in base if k not in new]
    left_n = [k for k in new if k not in base]
    for kb in left_b:
        same_b = [k for k in left_b if k[0] == kb[0]]
        same_n = [k for k in left_n if k[0] == kb[0]]
        if len(same_b) == 1 and len(same_n) == 1:
            pairs.append((kb, same_n[0]))
    return pairs


def tuning_text(kb, kn) -> str:
    """The tuning of a compared pair: its values, or what changed from BASE to NEW."""
    b, n = dict(kb[1]), dict(kn[1])
    if b == n:
        return " ".join(f"{k}={v}" for k, v in sorted(b.items()))
    return "differs: " + ", ".join(f"{k} {b.get(k, '-')} -> {n.get(k, '-')}" for k in sorted(set(b) | set(n))
                                   if b.get(k) != n.get(k))


def compare(base_spec, new_spec, tol, error_factor) -> int:
    binfo, brows = load(base_spec)
    ninfo, nrows = load(new_spec)
    if binfo["kernel"] != ninfo["kernel"]:
        raise CompareError(f"incompatible: kernel {binfo['kernel']} vs {ninfo['kernel']}")
    if binfo["mode"] and ninfo["mode"] and binfo["mode"] != ninfo["mode"]:
        raise CompareError(f"incompatible studies: scaling mode {binfo['mode']} vs {ninfo['mode']}")
    contract = archive_contract(binfo["kernel"])
    base, new = combine(brows, contract), combine(nrows, contract)
    pairs = match(base, new)
    if not pairs:
        def sample(pts):
            return "; ".join(describe(k) for k in list(pts)[:3]) + (" ..." if len(pts) > 3 else "")
        raise CompareError("incompatible: no benchmark point in common\n"
                           f"  BASE {binfo['name']}: {sample(base)}\n  NEW  {ninfo['name']}: {sample(new)}")
    missing = [k for k in base if k not in {b for b, _ in pairs}]
    extra = [k for k in new if k not in {n for _, n in pairs}]

    print(f"## compare: NEW {ninfo['name']} against BASE {binfo['name']}\n")
    print(f"tolerance: time +{100 * tol:.1f}%; error x{error_factor:g} (floor 4 eps)\n")
    print("| point | base time (s) | new time (s) | change | base error | new error | verdict | tuning |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    regressions = 0
    for kb, kn in sorted(pairs, key=lambda p: (archives.sort_key(p[0][0]) if p[0][0][0] != "failed"
                                               else ("~",) + p[0][0], p[0][1])):
        b, n = base[kb], new[kn]
        verdict = []
        if b["invalid"] == b["runs"]:
            verdict.append("not compared: BASE has no valid run")
            change = "n/a"
        else:
            change = "n/a" if math.isnan(n["time"]) else f"{100 * (n['time'] / b['time'] - 1):+.1f}%"
            if n["invalid"]:
                verdict.append(f"ACCURACY REGRESSION: {n['invalid']} invalid or failed run(s)")
            elif n["error"] > max(b["error"] * error_factor, 4 * EPS.get(n["precision"], 2.0 ** -23)):
                verdict.append("ACCURACY REGRESSION")
            if not math.isnan(n["time"]) and n["time"] > b["time"] * (1 + tol):
                verdict.append("PERFORMANCE REGRESSION")
            if not verdict:
                verdict.append("ok" if n["time"] >= b["time"] * (1 - tol) else "ok (faster)")
            regressions += any("REGRESSION" in v for v in verdict)
        print(f"| {describe((kb[0], ()))} | {b['time']:.4g} | {n['time']:.4g} | {change} | {b['error']:.2e} | "
              f"{n['error']:.2e} ({n['error_name']}) | {'; '.join(verdict)} | {tuning_text(kb, kn)} |")
    for k in missing:
        print(f"| {describe(k)} | {base[k]['time']:.4g} | missing | | | | MISSING IN NEW | |")
    print()
    if extra:
        print(f"{len(extra)} point(s) only in NEW (not compared): " + "; ".join(describe(k) for k in extra))
    ok = regressions == 0 and not missing
    retuned = sum(kb[1] != kn[1] for kb, kn in pairs)
    if retuned:
        print(f"{retuned} point(s) compared across a tuning change (see the tuning column): the times "
              "compare the tunings too")
    print(f"{len(pairs)} point(s) compared, {regressions} regression(s), {len(missing)} missing in NEW: "
          + ("PASS" if ok else "FAIL"))
    return EXIT_OK if ok else EXIT_REGRESSION


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="attnbench compare", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("base", metavar="BASE")
    ap.add_argument("new", metavar="NEW")
    ap.add_argument("--tolerance", default="5%", help="allowed slow-down, e.g. 5%% or 0.05 (default 5%%)")
    ap.add_argument("--error-factor", type=float, default=2.0,
                    help="allowed growth of the relative error (default 2)")
    args = ap.parse_args(argv)
    try:
        if not args.error_factor >= 1.0:
            raise CompareError("--error-factor must be >= 1")
        return compare(args.base, args.new, parse_tolerance(args.tolerance), args.error_factor)
    except CompareError as e:
        print(f"attnbench compare: error: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
