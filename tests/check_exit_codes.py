#!/usr/bin/python3
"""The exit codes, written once (kExitCodes in src/core/error.hpp, printed by `attnbench --describe`
as "exit_codes"), held against the places that restate them:

  * README.md's "Exit codes" table: the same codes, and each row says what the code's meaning says
    before its first ':' or '(' (e.g. "usage error", "the run completed but failed validation");
  * the study runner (src/study/study.py: RC_INVALID, RC_DOES_NOT_FIT), which maps the codes of the
    runs it launches to states;
  * the report tools, whose own exit codes reuse the binary's for the same meaning
    (src/report/report.py EXIT_DAMAGED = input, EXIT_INVALID = invalid; src/report/compare.py
    EXIT_DAMAGED = input).

Prints every mismatch and exits 1 if there is any.
Usage: check_exit_codes.py ATTNBENCH_BINARY [SOURCE_ROOT]
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path


def constants(path: Path) -> dict[str, int]:
    """Module-level integer constants of a Python file (`A, B = 1, 2` too), read without running it."""
    out: dict[str, int] = {}
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            for n, v in zip(names, values):
                if isinstance(n, ast.Name) and isinstance(v, ast.Constant) and isinstance(v.value, int):
                    out[n.id] = v.value
    return out


def readme_table(readme: Path) -> dict[int, str]:
    """code -> meaning from the table under the README's "Exit codes" heading."""
    rows: dict[int, str] = {}
    in_section = False
    for line in readme.read_text().splitlines():
        if line.startswith("#"):
            in_section = "Exit codes" in line
            continue
        m = re.match(r"^\|\s*(\d+)\s*\|\s*(.*?)\s*\|\s*$", line) if in_section else None
        if m:
            rows[int(m.group(1))] = m.group(2)
    return rows


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    binary = argv[1]
    root = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parent.parent
    p = subprocess.run([binary, "--describe"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        print(f"{binary} --describe failed (exit {p.returncode}): {p.stderr.strip()}")
        return 1
    codes = {e["name"]: e for e in json.loads(p.stdout)["exit_codes"]}
    by_code = {e["code"]: e for e in codes.values()}
    problems: list[str] = []

    table = readme_table(root / "README.md")
    if sorted(table) != sorted(by_code):
        problems.append(f"README.md exit-code table has codes {sorted(table)}, --describe {sorted(by_code)}")
    for code, text in sorted(table.items()):
        if code not in by_code:
            continue
        gist = re.split(r"[:(]", by_code[code]["meaning"])[0].strip().lower()
        if gist not in text.lower():
            problems.append(f"README.md exit code {code}: '{text}' does not say '{gist}' "
                            f"(--describe: {by_code[code]['meaning']})")

    expected = [
        ("src/study/study.py", "RC_INVALID", "invalid"),
        ("src/study/study.py", "RC_DOES_NOT_FIT", "does_not_fit"),
        ("src/report/report.py", "EXIT_DAMAGED", "input"),
        ("src/report/report.py", "EXIT_INVALID", "invalid"),
        ("src/report/compare.py", "EXIT_DAMAGED", "input"),
    ]
    for rel, constant, name in expected:
        found = constants(root / rel).get(constant)
        if name not in codes:
            problems.append(f"--describe has no exit code named '{name}'")
        elif found != codes[name]["code"]:
            problems.append(f"{rel}: {constant} = {found}, but attnbench's '{name}' exit code is {codes[name]['code']}")

    for line in problems:
        print(line)
    print(f"check_exit_codes: {len(by_code)} exit codes, {len(table)} README rows, {len(expected)} tool constants: "
          f"{len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
