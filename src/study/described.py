"""What the attnbench binary says about itself (`attnbench --describe`), read once per process.

The binary declares its exit codes (src/core/error.hpp), the states of a run (src/core/run_record.hpp:
VALID, UNCERTIFIED, INVALID, each with the exit code such a run ends with) and the study plots of
`attnbench report` (src/study/study_plots.hpp). The study and report tools take them from here by
meaning - "the exit code named does_not_fit", "the state of a valid run without a certificate" -
and never restate a number or a list of names. tests/check_exit_codes.py holds the rest (README,
job scripts, the tools' own exit codes) against the same description.

Imports no other tool module (study, report and compare all import it).
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class DescribeError(Exception):
    """The binary could not be asked, or its description lacks what a tool needs."""


def binary() -> str:
    """The attnbench binary: $ATTNBENCH_BIN (set by `attnbench study|report|compare`), else the
    release build of this source tree."""
    b = os.environ.get("ATTNBENCH_BIN") or str(ROOT / "build/release/bin/attnbench")
    if not os.access(b, os.X_OK):
        raise DescribeError(f"attnbench binary '{b}' not found (build it, or set ATTNBENCH_BIN)")
    return b


def ask_json(cmd: list[str]) -> dict:
    """Run a describing command of the binary (`attnbench [KERNEL] --describe`) and parse its JSON."""
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DescribeError(f"cannot run '{' '.join(cmd)}': {e}") from None
    if p.returncode != 0:
        msg = p.stderr.strip().splitlines()
        raise DescribeError(f"'{' '.join(cmd)}' failed (exit {p.returncode}): {msg[-1] if msg else 'no message'}")
    try:
        obj = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise DescribeError(f"'{' '.join(cmd)}' did not print JSON ({e})") from None
    return obj


@functools.cache
def suite() -> dict:
    """`attnbench --describe` (answered before MPI_Init: no launcher needed), parsed once."""
    cmd = [binary(), "--describe"]
    obj = ask_json(cmd)
    for section in ("exit_codes", "run_states", "study_plots"):
        if not isinstance(obj.get(section), list):
            raise DescribeError(f"'{' '.join(cmd)}' has no \"{section}\" list (a binary older than these tools?)")
    return obj


def exit_codes() -> dict[str, int]:
    """name -> code, e.g. {"ok": 0, ..., "does_not_fit": 6}."""
    return {e["name"]: int(e["code"]) for e in suite()["exit_codes"]}


def exit_code(name: str) -> int:
    codes = exit_codes()
    if name not in codes:
        raise DescribeError(f"attnbench --describe has no exit code named '{name}' (it has {', '.join(codes)})")
    return codes[name]


def state(valid: bool, certified: bool) -> str:
    """The run state of an archive's valid/certified verdict (VALID, UNCERTIFIED or INVALID)."""
    for s in suite()["run_states"]:
        if bool(s["valid"]) == bool(valid) and (s["certified"] is None or bool(s["certified"]) == bool(certified)):
            return s["name"]
    raise DescribeError(f"attnbench --describe has no run state for valid={valid}, certified={certified}")


def ok_states() -> tuple[str, ...]:
    """The states of runs that count as done: those that end with the exit code named ok."""
    ok = exit_code("ok")
    return tuple(s["name"] for s in suite()["run_states"] if exit_code(s["exit_code"]) == ok)


def study_plots() -> dict[str, dict]:
    """name -> {"help", "keeps_scaling_plots"}, in the binary's order."""
    return {p["name"]: p for p in suite()["study_plots"]}
