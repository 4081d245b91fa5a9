#!/usr/bin/python3
"""Print a Markdown table of the attnbench archives (*.h5) in a folder.

Usage: summarize.py FOLDER
Reads only the documented archive schema (README, "Results archive") with h5py.
"""
import pathlib
import sys

import h5py


def row(path):
    with h5py.File(path, "r") as f:
        a, m, v = f.attrs, f["metrics"].attrs, f["validation"].attrs
        return {
            "algorithm": f"{a['algorithm']}/{a['variant']}",
            "n": int(a["n"]),
            "d": int(a["d"]),
            "ranks": int(a["ranks"]),
            "precision": a["precision"],
            "time_s": float(m["median_time"]),
            "gflops": float(m["gflops"]),
            "gemm_pct": 100.0 * float(m["gemm_fraction"]),
            "rel_error": float(v["rel_error"]),
            "valid": "VALID" if int(a["valid"]) else "INVALID",
        }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = pathlib.Path(sys.argv[1])
    rows = []
    for p in sorted(folder.glob("*.h5")):
        try:
            rows.append(row(p))
        except (OSError, KeyError) as e:
            print(f"summarize: skipping {p}: {e}", file=sys.stderr)
    if not rows:
        sys.exit(f"summarize: no archives in {folder}")
    rows.sort(key=lambda r: (r["algorithm"], r["precision"], r["n"], r["ranks"]))
    print(f"\n{len(rows)} archives in {folder}\n")
    print("| algorithm | n | d | ranks | precision | time (s) | GFLOP/s | % of GEMM | rel. error | validation |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['algorithm']} | {r['n']} | {r['d']} | {r['ranks']} | {r['precision']} | {r['time_s']:.4f} | "
              f"{r['gflops']:.2f} | {r['gemm_pct']:.1f} | {r['rel_error']:.2e} | {r['valid']} |")


if __name__ == "__main__":
    main()
