#!/usr/bin/python3
"""The exit codes, run states and study plots, written once (src/core/error.hpp kExitCodes,
src/core/run_record.hpp kRunStates, src/study/study_plots.hpp; printed by `attnbench --describe`),
held against every place that restates or uses them:

  * README.md's "Exit codes" table: the same codes, and each row says what the code's meaning says
    before its first ':' or '(' (e.g. "usage error", "the run completed but failed validation");
    every "exit N" in its prose is one of the codes;
  * `attnbench --exit-codes` (what the job scripts read): the same names and codes;
  * the Python tools (src/study/*.py, src/report/*.py) hold no code of the binary: a module-level
    EXIT_* / RC_* constant is one of the tool's OWN exit codes listed below (each tool's documented
    interface), and where it shares a meaning with a binary code it equals that code; any other
    such constant fails (the tools ask src/study/described.py for the binary's codes by name);
  * the job scripts (jobs/*.sbatch, jobs/*.sh) match no literal exit code of attnbench: no case arm
    or comparison on its status with a number, no "attnbench exit N" text, and every code they use
    by name (${EXIT[name]}) is one --describe has;
  * the run states: every (valid, certified) has exactly one state, whose exit code is one of the
    codes; the tools write none of them out (no string literal "VALID" or "UNCERTIFIED" in
    src/study or src/report outside docstrings and comments; INVALID is also a state of the
    runner's status files, RUNNER_STATES below);
  * the study plots: src/report/plot_studies.py draws exactly the plots --describe names.

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

# The tools' own exit codes: (file, constant) -> the binary exit code of the same meaning, or None
# for a code only the tool has (its docstring says what it means).
TOOL_OWN = {
    ("src/study/study.py", "EXIT_OK"): "ok",
    ("src/study/study.py", "EXIT_FAILED"): None,      # a run failed or is invalid
    ("src/study/study.py", "EXIT_USAGE"): "usage",
    ("src/report/report.py", "EXIT_OK"): "ok",
    ("src/report/report.py", "EXIT_USAGE"): "usage",
    ("src/report/report.py", "EXIT_DAMAGED"): "input",
    ("src/report/report.py", "EXIT_INVALID"): "invalid",
    ("src/report/compare.py", "EXIT_OK"): "ok",
    ("src/report/compare.py", "EXIT_REGRESSION"): None,  # a regression or a missing point
    ("src/report/compare.py", "EXIT_USAGE"): "usage",
    ("src/report/compare.py", "EXIT_DAMAGED"): "input",
}
CODE_CONSTANT = re.compile(r"^(EXIT|RC)_[A-Z0-9_]+$")
# The states of a runner's status file (jobs/run.sbatch writes them, src/study/study.py too, the
# report reads them): the runner's own vocabulary, which shares the name INVALID with the run states.
RUNNER_STATES = {"COMPLETED", "INVALID", "FAILED", "DOES_NOT_FIT", "TIMEOUT", "CANCELLED"}


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


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


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


def check_readme(root: Path, by_code: dict, problems: list[str]) -> int:
    for lineno, line in enumerate((root / "README.md").read_text().splitlines(), 1):
        for m in re.finditer(r"\bexit(?:s|ing)? (?:code )?([0-9]+)\b", line):
            if int(m.group(1)) not in by_code:
                problems.append(f"README.md:{lineno}: '{m.group(0)}' is no exit code of --describe")
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
    return len(table)


def check_tools(root: Path, codes: dict[str, int], states: list[dict], problems: list[str]) -> int:
    checked = 0
    for path in sorted(list((root / "src/study").glob("*.py")) + list((root / "src/report").glob("*.py"))):
        rel = str(path.relative_to(root))
        for name, value in constants(path).items():
            if not CODE_CONSTANT.match(name):
                continue
            checked += 1
            if (rel, name) not in TOOL_OWN:
                problems.append(f"{rel}: {name} = {value} restates an exit code: ask described.exit_code(NAME), "
                                "or list it in TOOL_OWN of tests/check_exit_codes.py if it is the tool's own")
                continue
            same = TOOL_OWN[(rel, name)]
            if same is not None and codes.get(same) != value:
                problems.append(f"{rel}: {name} = {value}, but attnbench's '{same}' exit code is {codes.get(same)}")
        for lineno, text in string_literals(path):
            if text in {s["name"] for s in states} - RUNNER_STATES:
                problems.append(f"{rel}:{lineno}: the run state {text!r} written out: ask described.state(valid, "
                                "certified) or described.ok_states()")
    for (rel, name), same in TOOL_OWN.items():
        if name not in constants(root / rel):
            problems.append(f"{rel}: no constant {name} (TOOL_OWN of tests/check_exit_codes.py is out of date)")
    return checked


def check_jobs(root: Path, codes: dict[str, int], problems: list[str]) -> int:
    scripts = sorted(list((root / "jobs").rglob("*.sbatch")) + list((root / "jobs").rglob("*.sh")))
    arm = re.compile(r"^\s*\(?\s*[0-9]+(\s*\|\s*[0-9]+)*\s*\)")          # a case arm `4)` or `0|4)`
    compare = re.compile(r"\$\{?rc\}?\"?\s*(-eq|-ne|==|=|!=)\s*\"?([0-9]+)\b")
    mention = re.compile(r"attnbench('s)? exit (code )?([0-9]+)\b")
    used = re.compile(r"\$\{EXIT\[([A-Za-z_]+)\]")
    for path in scripts:
        rel = path.relative_to(root)
        in_rc_case = False
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'\bcase\s+"?\$\{?rc\}?"?\s+in\b', line):
                in_rc_case = True
            elif re.match(r"^\s*esac\b", line):
                in_rc_case = False
            elif in_rc_case and arm.match(line):
                problems.append(f"{rel}:{lineno}: a case arm on attnbench's exit status with a literal code: "
                                f"'{line.strip()}' (use ${{EXIT[name]}} from `attnbench --exit-codes`)")
            for m in compare.finditer(line):
                if m.group(2) != "0" or "EXIT[" in line:
                    problems.append(f"{rel}:{lineno}: attnbench's exit status compared with the literal {m.group(2)}")
            for m in mention.finditer(line):
                problems.append(f"{rel}:{lineno}: 'attnbench exit {m.group(3)}' written out (name the code instead)")
            for m in used.finditer(line):
                if m.group(1) not in codes:
                    problems.append(f"{rel}:{lineno}: ${{EXIT[{m.group(1)}]}}: --describe has no exit code "
                                    f"'{m.group(1)}' (it has {', '.join(codes)})")
    return len(scripts)


def check_states(states: list[dict], codes: dict[str, int], problems: list[str]) -> None:
    for valid in (False, True):
        for certified in (False, True):
            hits = [s for s in states if bool(s["valid"]) == valid
                    and (s["certified"] is None or bool(s["certified"]) == certified)]
            if len(hits) != 1:
                problems.append(f"--describe run_states: {len(hits)} states for valid={valid}, certified={certified}")
    for s in states:
        if s.get("exit_code") not in codes:
            problems.append(f"--describe run state {s.get('name')}: exit code {s.get('exit_code')!r} is not a code")


def check_plots(root: Path, plots: list[dict], problems: list[str]) -> None:
    sys.path[:0] = [str(root / "src/study"), str(root / "src/report")]
    sys.dont_write_bytecode = True
    import plot_studies  # noqa: E402 (reads no binary at import)
    drawn, named = list(plot_studies.PLOTS), [p["name"] for p in plots]
    if sorted(drawn) != sorted(named):
        problems.append(f"src/report/plot_studies.py draws {sorted(drawn)}, --describe names {sorted(named)}")


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
    suite = json.loads(p.stdout)
    codes = {e["name"]: e["code"] for e in suite["exit_codes"]}
    by_code = {e["code"]: e for e in suite["exit_codes"]}
    states, plots = suite.get("run_states", []), suite.get("study_plots", [])
    problems: list[str] = []
    if not states or not plots:
        problems.append("--describe has no run_states or no study_plots")

    q = subprocess.run([binary, "--exit-codes"], capture_output=True, text=True, timeout=60)
    listed = dict(line.split() for line in q.stdout.splitlines()) if q.returncode == 0 else {}
    if {k: int(v) for k, v in listed.items()} != codes:
        problems.append(f"`attnbench --exit-codes` lists {listed} (exit {q.returncode}), --describe {codes}")

    rows = check_readme(root, by_code, problems)
    constants_checked = check_tools(root, codes, states, problems)
    scripts = check_jobs(root, codes, problems)
    check_states(states, codes, problems)
    check_plots(root, plots, problems)

    for line in problems:
        print(line)
    print(f"check_exit_codes: {len(codes)} exit codes, {len(states)} run states, {len(plots)} study plots; "
          f"{rows} README rows, {constants_checked} tool constants, {scripts} job scripts: "
          f"{len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
