"""Study files: parse (TOML, Python's tomllib), validate, apply --set overrides, expand to points.

A study file (inputs/studies/*.toml) is declarative. It names its kernel (`kernel = "attention"`
by default) and has a section named after it ([attention], [solve], ...) with the kernel's
options. Its schema is SCHEMA below; every key that is not in it is an error, every value is
type-checked, an empty value is an error (reject_empty), and the kernel's options are checked
against the description the binary itself prints (`attnbench <kernel> --describe`, JSON: names,
types, choices, the algorithms each option applies to, the kernel's size key and work/memory
exponents), so an option or a kernel added to the program is usable in a study without touching
this file. Relations between options and the rank count that the description cannot state
(--grid PRxPC = ranks, sparsify's d >= n) are POINT_RULES, checked for every point.

Expansion: a *point* is one MPI run configuration (rank count, threads, problem size, and one value
of every swept option). Each point is run `repeat` times (Slurm: a job array) and archived as
results/<study>/<point>/run<k>.h5. Every value is validated and every point name is made safe
(letters, digits, '.', '_', '+', '-'; never '..'), unique and bounded in number (max_points)
before anything is written.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import math
import os
import re
import tomllib

import described


class StudyError(Exception):
    """A study file or override that cannot be used; the message says what and where."""


MODES = ("strong", "weak-memory", "weak-compute")
TABLES = ("scaling", "slurm", "generate")   # plus the kernel's section and the array of tables [[case]]
LAUNCHERS = ("srun", "mpirun")
# Points per study unless [scaling] max_points says otherwise: far below a cluster's MaxJobCount
# (often 10000) and a plan.json of a few MB. A study beyond it is refused before anything is written.
DEFAULT_MAX_POINTS = 1000
# The shortest Slurm time limit: the job is warned 60 s before its limit (--signal=B:USR1@60) and
# needs the rest to run at all.
MIN_SLURM_SECONDS = 120

# Options of every kernel that the study runner sets itself, with the reason (the kernel's size
# option, e.g. --n, is reserved too: [scaling] sets it).
RESERVED = {
    "threads": "set [scaling] threads_per_rank",
    "out": "archives always go to results/<study>/<point>/run<k>.h5",
    "overwrite": "archives are never overwritten",
    "quiet": "the runner always passes --quiet",
    "help": "not an option of a study",
    "describe": "not an option of a study",
}

# Top-level schema: table -> {key: (type description, checker)}.
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _pos_int(v):
    return _is_int(v) and v >= 1


def _str(v):
    return isinstance(v, str)


def _bool(v):
    return isinstance(v, bool)


def _ranks(v):
    return isinstance(v, list) and len(v) > 0 and all((_pos_int(x) or x == "max") for x in v)


def _sizes(v):
    return (_pos_int(v)) or (isinstance(v, list) and len(v) > 0 and all(_pos_int(x) for x in v))


def _str_list(v):
    return isinstance(v, list) and all(_str(x) for x in v)


SCHEMA = {
    "": {
        "name": ("a name made of letters, digits, '.', '_' or '-'",
                 lambda v: _str(v) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None),
        "description": ("a string", _str),
        "kernel": ("a kernel name (a subcommand of attnbench, e.g. \"attention\")",
                   lambda v: _str(v) and re.fullmatch(r"[a-z][a-z0-9_-]*", v) is not None),
        # The names are the binary's (`attnbench --describe`, "study_plots"): checked in validate().
        "plot": ("a study plot of `attnbench --describe` (a study-specific plot and table)", _str),
    },
    "scaling": {
        "mode": ("one of " + ", ".join(MODES), lambda v: v in MODES),
        "ranks": ("a non-empty list of positive integers or \"max\"", _ranks),
        "size": ("a positive integer or a non-empty list of them (the kernel's size key; for attention "
                 "also [scaling] n)", _sizes),
        "max_points": ("a positive integer (the most points this study may expand to; default "
                       f"{DEFAULT_MAX_POINTS})", _pos_int),
        "threads_per_rank": ("a positive integer", _pos_int),
        "repeat": ("a positive integer", _pos_int),
        "oversubscribe": ("true or false", _bool),
    },
    "slurm": {
        "time": ("a Slurm time limit such as \"00:10:00\" (at least 2 minutes: the job is warned 60 s before)",
                 lambda v: _str(v) and slurm_seconds(v) is not None),
        "partition": ("a string", _str),
        "account": ("a string", _str),
        "nodes": ("a positive integer (each point's job spans min(nodes, ranks) nodes, more when "
                  "tasks_per_node asks for it)", _pos_int),
        "tasks_per_node": ("a non-negative integer (at most this many ranks per node: a point of p ranks "
                           "spans at least ceil(p / tasks_per_node) nodes; 0: as Slurm packs them)",
                           lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
        "launcher": ("one of " + ", ".join(LAUNCHERS), lambda v: v in LAUNCHERS),
        "sbatch_args": ("a list of strings", _str_list),
        "exclusive": ("true or false", _bool),
    },
    # An input file made before anything runs (local run/submit), when it does not exist yet:
    # `python3 SCRIPT ARGS... --out <results>/<study>/<output>`; it becomes the kernel's input.
    "generate": {
        "script": ("a Python script path (relative to the study file's folder)", _str),
        "args": ("a list of strings", _str_list),
        "output": ("a file name (letters, digits, '.', '_', '-'), written under results/<study>/",
                   lambda v: _str(v) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None),
    },
}
# Keys of a [[case]] table besides options of the kernel.
CASE_KEYS = {
    "label": ("a name made of letters, digits, '.', '_' or '-' (the case's tag in point names)",
              lambda v: _str(v) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None),
    "n_max": ("a positive integer (sizes of [scaling] size above it are not run for this case)", _pos_int),
    "zip": ("a list of option names swept together (equal-length lists, one point per position)", _str_list),
}
REQUIRED = [("", "name"), ("scaling", "mode"), ("scaling", "ranks"), ("generate", "script"),
            ("generate", "output")]
DEFAULTS = {
    "": {"description": "", "kernel": "attention"},
    "scaling": {"threads_per_rank": 1, "repeat": 1, "oversubscribe": False, "max_points": DEFAULT_MAX_POINTS},
    "slurm": {"time": "00:30:00", "partition": "", "account": "", "nodes": 1, "tasks_per_node": 0, "launcher": "srun",
              "sbatch_args": [], "exclusive": True},
    "case": [],
}


# ---------------------------------------------------------------------------------------------
# The kernel's description, from `attnbench <kernel> --describe` (JSON; see README, "Adding a
# kernel"). No --help text is parsed anywhere.

OPTION_TYPES = ("integer", "number", "string", "flag", "size")
_SIZE_RE = re.compile(r"\d+(\.\d+)?\s*([kKMGTP]i?B?|B)?")


@dataclasses.dataclass
class Option:
    name: str                   # without the leading dashes
    type: str                   # integer | number | string | flag | size
    default: str | None = None
    choices: tuple = ()
    algorithms: tuple = ()      # the algorithms it applies to (empty: all)
    synthetic: bool = False     # describes synthetic input: excluded by --input
    common: bool = False
    min: float = -math.inf
    max: float = math.inf
    min_exclusive: bool = False


@dataclasses.dataclass
class Kernel:
    name: str
    algorithms: list
    options: dict               # name -> Option
    problem_keys: list
    size_key: str
    work_exponent: float
    memory_exponent: float
    # The archive contract: every key a run archives (the "archive" groups of --describe, flattened),
    # each {"group", "name", "type", "role", "algorithms", "default"?, ...}; empty from a binary that
    # does not declare it.
    archive: list = dataclasses.field(default_factory=list)

    @property
    def default_algorithm(self) -> str:
        algo = self.options.get("algo")
        return algo.default if algo is not None and algo.default else (self.algorithms[0] if self.algorithms else "")


def parse_kernel(obj, where: str) -> Kernel:
    """A kernel object of --describe, checked field by field (a malformed description is an error)."""
    def bad(what):
        raise StudyError(f"{where}: malformed description: {what}")

    if not isinstance(obj, dict):
        bad("not a JSON object")
    for key in ("kernel", "algorithms", "options", "problem_keys", "size_key"):
        if key not in obj:
            bad(f"no '{key}'")
    algos = [a.get("name") if isinstance(a, dict) else a for a in obj["algorithms"]]
    if not all(isinstance(a, str) and a for a in algos):
        bad("'algorithms' must name each algorithm")
    opts = {}
    for o in obj["options"]:
        if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not o["name"].startswith("--"):
            bad(f"option {o!r} has no '--name'")
        if o.get("type") not in OPTION_TYPES:
            bad(f"option {o['name']}: type {o.get('type')!r} is not one of {', '.join(OPTION_TYPES)}")
        name = o["name"][2:]

        def num(key, default):
            v = o.get(key, default)
            return default if v is None else float(v)
        opts[name] = Option(name, o["type"], None if o.get("default") is None else str(o["default"]),
                            tuple(str(c) for c in (o.get("choices") or ())),
                            tuple(o.get("algorithms") or ()), bool(o.get("synthetic", False)),
                            bool(o.get("common", False)), num("min", -math.inf), num("max", math.inf),
                            bool(o.get("min_exclusive", False)))
    keys = obj["problem_keys"]
    if not (isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys)):
        bad("'problem_keys' must be a non-empty list of names")
    if obj["size_key"] not in keys:
        bad(f"size_key {obj['size_key']!r} is not one of problem_keys")
    try:
        we, me = float(obj.get("work_exponent", 1)), float(obj.get("memory_exponent", 1))
    except (TypeError, ValueError):
        bad("work_exponent and memory_exponent must be numbers")
    if not (we > 0 and me > 0 and math.isfinite(we) and math.isfinite(me)):
        bad("work_exponent and memory_exponent must be positive")
    archive = obj.get("archive") or {}
    if not isinstance(archive, dict):
        bad("'archive' must be an object of key lists")
    contract = [k for group in archive.values() if isinstance(group, list) for k in group
                if isinstance(k, dict) and isinstance(k.get("group"), str) and isinstance(k.get("name"), str)]
    return Kernel(str(obj["kernel"]), algos, opts, list(keys), str(obj["size_key"]), we, me, contract)


def describe_kernel(binary: str, kernel: str) -> Kernel:
    """Run `binary <kernel> --describe` (a singleton MPI run of the binary) and parse its JSON."""
    cmd = [binary, kernel, "--describe"]
    try:
        obj = described.ask_json(cmd)
    except described.DescribeError as e:
        raise StudyError(f"{e} (is '{kernel}' a kernel of this attnbench, and does the binary support "
                         "--describe?)") from None
    k = parse_kernel(obj, f"'{' '.join(cmd)}'")
    if k.name != kernel:
        raise StudyError(f"'{' '.join(cmd)}' describes kernel {k.name!r}, not {kernel!r}")
    return k


def _check_option_value(opt: Option, value, where: str):
    def bad(what):
        raise StudyError(f"{where}: expected {what}, got {value!r}")

    def in_range(x):
        lo_ok = x > opt.min if opt.min_exclusive else x >= opt.min
        if not lo_ok or x > opt.max:
            lo = ("> " if opt.min_exclusive else ">= ") + f"{opt.min:g}" if opt.min > -math.inf else ""
            hi = f"<= {opt.max:g}" if opt.max < math.inf else ""
            bad("a value " + " and ".join(x for x in (lo, hi) if x))

    if opt.type == "flag":
        if not _bool(value):
            bad("true or false (a flag)")
    elif opt.type == "integer":
        if not _is_int(value):
            bad("an integer")
        if opt.min >= 1 and value < 1:
            bad("a positive integer")
        in_range(value)
    elif opt.type == "number":
        if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            bad("a number")
        if opt.min == 0 and opt.min_exclusive and value <= 0:
            bad("a positive number")
        in_range(value)
    elif opt.type == "size":
        if not ((_is_int(value) and value >= 0) or (_str(value) and _SIZE_RE.fullmatch(value.strip()))):
            bad("a size in bytes (an integer, or e.g. \"512MiB\", \"4GiB\")")
    else:  # string
        if _bool(value) or not isinstance(value, (str, int, float)):
            bad("a string")
        if isinstance(value, str) and ("\0" in value or "\n" in value):
            bad("a string without NUL or newline characters")
    if opt.choices and _fmt(value) not in opt.choices:
        bad("one of " + ", ".join(opt.choices))


def slurm_seconds(text: str) -> int | None:
    """Seconds of a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS); None if the
    text is not one. ("0", "UNLIMITED" and "infinite" mean no limit to Slurm: not accepted here.)"""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        return None
    d, a, b, c = m.groups()
    if d is not None:   # D-HH[:MM[:SS]]
        secs = int(d) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        secs = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # MM:SS
        secs = int(a) * 60 + int(b)
    else:                # MM
        secs = int(a) * 60
    return secs if secs >= MIN_SLURM_SECONDS else None


# ---------------------------------------------------------------------------------------------
# Loading, overrides, validation.

def load(path: str, overrides: list[str]) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise StudyError(f"study file '{path}' does not exist") from None
    except OSError as e:
        raise StudyError(f"cannot read study file '{path}': {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: not valid TOML: {e}") from None
    for ov in overrides:
        apply_override(data, ov)
    return data


def apply_override(data: dict, text: str):
    """--set key=value: key is dotted (scaling.ranks, attention.precision, name); the value is read
    as a TOML value (1024, [1, 2], true, "x"); a bare word is taken as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise StudyError(f"--set '{text}': expected KEY=VALUE, e.g. --set scaling.ranks=[1,2]")
    try:
        value = tomllib.loads("v = " + raw)["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "case":
        cases = data.get("case")
        if not isinstance(cases, list) or not cases:
            raise StudyError(f"--set '{text}': the study has no [[case]] tables")
        sel = parts[1]
        found = [c for i, c in enumerate(cases, 1) if isinstance(c, dict) and (str(i) == sel or c.get("label") == sel)]
        if not found:
            raise StudyError(f"--set '{text}': no case '{sel}' (give its label or its number, 1..{len(cases)})")
        found[0][parts[2]] = value
        return
    if len(parts) > 2:
        raise StudyError(f"--set '{text}': keys are NAME, TABLE.NAME or case.LABEL.NAME")
    table = data
    if len(parts) == 2:
        if parts[0] not in SCHEMA and parts[0] != kernel_of(data, "--set"):
            raise StudyError(f"--set '{text}': unknown table '{parts[0]}' (known: scaling, slurm, generate and the "
                             "kernel's section, e.g. attention)")
        table = data.setdefault(parts[0], {})
        if not isinstance(table, dict):
            raise StudyError(f"--set '{text}': '{parts[0]}' is not a table in the study file")
    table[parts[-1]] = value


def kernel_of(data: dict, source: str) -> str:
    """The study's kernel (top-level `kernel`, default "attention"), checked before anything else."""
    k = data.get("kernel", DEFAULTS[""]["kernel"])
    what, ok = SCHEMA[""]["kernel"]
    if not ok(k):
        raise StudyError(f"{source}: 'kernel' must be {what}, got {k!r}")
    return k


# Keys whose default is the empty string, so that `key = ""` (as inputs/studies/README.md shows)
# means "not given": the only place an empty value is accepted.
EMPTY_MEANS_DEFAULT = {("", "description"), ("slurm", "partition"), ("slurm", "account")}


def reject_empty(data: dict, source: str):
    """Every empty value (a string that is empty or only blanks, alone or in a list) is an error
    naming its key: passed on, `scale = ""` would become `--scale ""`, which the kernel refuses
    only at run time. Exceptions: EMPTY_MEANS_DEFAULT."""
    def walk(value, table: str, key: str, where: str):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, table, k, f"{where}{' ' if where else ''}{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, table, key, f"{where}[{i}]")
        elif isinstance(value, str) and not value.strip() and (table, key) not in EMPTY_MEANS_DEFAULT:
            raise StudyError(f"{source}: {where}: an empty value ({value!r}); give a value or leave the key out")

    for key, value in data.items():
        if key == "case" and isinstance(value, list):
            for i, case in enumerate(value, 1):
                walk(case, "case", "", f"[[case]] {i}:")
        elif isinstance(value, dict):
            walk(value, key, "", f"[{key}]")
        else:
            walk(value, "", key, key)


def validate(data: dict, source: str, kernel: Kernel) -> dict:
    """Check every key and type against the schema and the kernel's description; return the study
    with defaults filled in. The kernel's options are in study[kernel.name] (and study["options"])."""
    reject_empty(data, source)
    kname = kernel.name
    study = copy.deepcopy(DEFAULTS)
    study[""]["kernel"] = kname
    for key, value in data.items():
        if key == "case":
            if not isinstance(value, list) or not value or not all(isinstance(c, dict) for c in value):
                raise StudyError(f"{source}: 'case' must be an array of tables ([[case]] ...)")
            continue
        if isinstance(value, dict):
            if key not in TABLES and key != kname:
                raise StudyError(f"{source}: unknown table [{key}] (known: [scaling], [{kname}] (the options of "
                                 f"this study's kernel, kernel = \"{kname}\"), [slurm], [generate], [[case]])")
            continue
        if key not in SCHEMA[""]:
            raise StudyError(f"{source}: unknown key '{key}' (known top-level keys: "
                             + ", ".join(SCHEMA[""]) + f"; tables [scaling], [{kname}], [slurm], [generate])")
        what, ok = SCHEMA[""][key]
        if not ok(value):
            raise StudyError(f"{source}: '{key}' must be {what}, got {value!r}")
        if key == "plot" and value not in described.study_plots():
            raise StudyError(f"{source}: 'plot' must be one of {', '.join(described.study_plots())} (a study-specific "
                             f"plot and table, src/report/plot_studies.py), got {value!r}")
        study[""][key] = value
    if "generate" in data:
        study["generate"] = {"args": []}
    size_alias = kernel.size_key if kernel.size_key not in SCHEMA["scaling"] else None
    for table in ("scaling", "slurm", "generate"):
        for key, value in data.get(table, {}).items():
            if table == "scaling" and key == size_alias:
                if "size" in data["scaling"]:
                    raise StudyError(f"{source}: [scaling] {key} and [scaling] size are the same key; give one")
                key = "size"
            if key not in SCHEMA[table]:
                known = list(SCHEMA[table]) + ([size_alias] if table == "scaling" and size_alias else [])
                raise StudyError(f"{source}: unknown key '{key}' in [{table}] (known: " + ", ".join(known) + ")")
            what, ok = SCHEMA[table][key]
            if isinstance(value, dict) or not ok(value):
                shown = size_alias if key == "size" and size_alias in data.get("scaling", {}) else key
                raise StudyError(f"{source}: [{table}] {shown} must be {what}, got {value!r}")
            study[table][key] = value
    for table, key in REQUIRED:
        if table in study and key not in study[table]:
            where = f"[{table}] {key}" if table else key
            raise StudyError(f"{source}: missing required key {where}")
    reserved = dict(RESERVED)
    reserved[kernel.size_key.replace("_", "-")] = (f"set the problem sizes in [scaling] size"
                                                   + (f" (or {kernel.size_key})" if size_alias else "")
                                                   + " (they depend on the scaling mode)")

    def check_options(table: dict, where_table: str, skip=()) -> dict:
        out = {}
        for key, value in table.items():
            if key in skip:
                continue
            opt_name = key.replace("_", "-")
            where = f"{source}: {where_table} {key}"
            if isinstance(value, dict):
                raise StudyError(f"{where}: expected a value or a list of values, got a table")
            if opt_name in reserved:
                raise StudyError(f"{where}: not allowed here: {reserved[opt_name]}")
            values = value if isinstance(value, list) else [value]
            if not values:
                raise StudyError(f"{where}: an empty list sweeps nothing")
            if opt_name not in kernel.options:
                known = sorted(k for k in kernel.options if k not in reserved)
                raise StudyError(f"{where}: unknown option (attnbench {kname} has: {', '.join(known)})")
            for v in values:
                _check_option_value(kernel.options[opt_name], v, where)
            out[opt_name] = value
        return out

    def check_distinct(options: dict, zipped: list, where: str):
        """No sweep point twice: a swept list holds each value once, and zipped lists (advanced
        together) hold each combination once; a value may repeat in a zipped list (r = [0.1, 0.1]
        with seed = [1, 2] is two points)."""
        for key, value in options.items():
            if isinstance(value, list) and key not in zipped and len(set(map(_fmt, value))) != len(value):
                raise StudyError(f"{where} {key.replace('-', '_')}: a value is listed twice")
        if zipped:
            combos = list(zip(*[[_fmt(v) for v in options[z]] for z in zipped]))
            if len(set(combos)) != len(combos):
                raise StudyError(f"{where}: the zipped options {', '.join(zipped)} list a combination twice")

    opts = check_options(data.get(kname, {}), f"[{kname}]")
    study[kname] = opts
    study["options"] = opts
    labels = set()
    for i, case in enumerate(data.get("case", []), 1):
        where = f"{source}: [[case]] {i}"
        c = {"options": check_options(case, f"[[case]] {i}:", skip=CASE_KEYS)}
        for key, (what, ok) in CASE_KEYS.items():
            if key in case:
                if not ok(case[key]):
                    raise StudyError(f"{where}: {key} must be {what}, got {case[key]!r}")
                c[key] = case[key]
        c.setdefault("label", safe_tag(str(c["options"].get("algo", f"case{i}"))))
        if c["label"] in labels:
            raise StudyError(f"{where}: two cases are labelled '{c['label']}' (give each a distinct label)")
        labels.add(c["label"])
        zipped = [z.replace("_", "-") for z in c.get("zip", [])]
        lengths = set()
        for z in zipped:
            v = c["options"].get(z, opts.get(z))
            if not isinstance(v, list):
                raise StudyError(f"{where}: zip names '{z}', which is not a list option of this case")
            lengths.add(len(v))
        if len(lengths) > 1:
            raise StudyError(f"{where}: the zipped options {', '.join(zipped)} have different lengths")
        c["zip"] = zipped
        check_distinct({**opts, **c["options"]}, zipped, where)
        study["case"].append(c)
    if not study["case"]:
        check_distinct(opts, [], f"{source}: [{kname}]")

    sc = study["scaling"]
    inputs = [x for x in [opts] + [c["options"] for c in study["case"]] if "input" in x]
    if "generate" in study:
        if inputs:
            raise StudyError(f"{source}: [generate] makes the input file; do not also give [{kname}] input")
        if sc["mode"] != "strong" or "size" in sc:
            raise StudyError(f"{source}: [generate] makes the input file, which fixes the problem size: use mode = "
                             "\"strong\" without [scaling] size")
        script = os.path.join(os.path.dirname(os.path.abspath(source)), study["generate"]["script"])
        if not os.path.isfile(script):
            raise StudyError(f"{source}: [generate] script '{study['generate']['script']}' does not exist "
                             "(a relative path is relative to the study file's folder)")
        study["generate"]["script"] = script
    elif inputs:
        if sc["mode"] != "strong":
            raise StudyError(f"{source}: an input file fixes the problem size; {sc['mode']} scaling needs synthetic "
                             "inputs (remove 'input' or use mode = \"strong\")")
        if "size" in sc:
            raise StudyError(f"{source}: [scaling] size and an input file exclude each other")
        for x in inputs:
            for f in (x["input"] if isinstance(x["input"], list) else [x["input"]]):
                if not os.path.isfile(f):
                    raise StudyError(f"{source}: [{kname}] input file '{f}' does not exist "
                                     f"(relative paths are relative to the current directory, {os.getcwd()})")
    elif "size" not in sc:
        raise StudyError(f"{source}: missing required key [scaling] size"
                         + (f" (or {kernel.size_key})" if size_alias else "") + " (the problem sizes)")
    return study


def generated_input(study: dict, results_dir: str) -> str | None:
    """Where [generate] puts the input file (results/<study>/<output>), None without [generate]."""
    if "generate" not in study:
        return None
    return os.path.join(results_dir, study[""]["name"], study["generate"]["output"])


# ---------------------------------------------------------------------------------------------
# Expansion into points.

@dataclasses.dataclass
class Point:
    name: str           # directory name under results/<study>/
    ranks: int
    threads: int
    n: int | None       # the problem size (the kernel's size key); None for file inputs
    series: str         # the curve this point belongs to in the plots (everything but ranks)
    base_n: int | None  # the size at the smallest rank count (weak scaling), else the size
    args: list          # options of `attnbench <kernel>` (without --threads/--out/--quiet)
    repeat: int
    oversubscribed: bool
    case: str = ""      # label of the [[case]] it comes from ("" without cases)
    algorithm: str = ""  # the point's --algo (given, or the kernel's default)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def safe_tag(value: str, limit: int = 48) -> str:
    """A value as a piece of a point directory name: runs of characters other than letters, digits,
    '.', '_', '+', '-' become '_' ("1/sqrt(d)" -> "1_sqrt_d"); never empty, never only dots (".."
    -> "v-<hash>"); long values are cut and keep a hash of the whole, so distinct values stay
    distinct."""
    text = str(value)
    tag = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_")
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    if not tag or set(tag) <= {"."}:
        return "v-" + digest
    if tag.startswith("."):
        tag = "v" + tag
    if len(tag) > limit:
        tag = tag[:limit - 9] + "-" + digest
    return tag


# ---------------------------------------------------------------------------------------------
# Rules across options and the rank count, which `--describe` cannot state (it gives each option's
# type, range and choices, not relations between options), kept here in one place, one list per
# kernel. The binary has no mode that checks a command line without running it, so without these
# a point breaking them would fail only when its turn came. Each rule gets the point's values
# (options by name, the size key's value, the kernel's defaults for the rest) and its rank count,
# and returns why the point cannot run, or None.

def _rule_grid(values: dict, ranks: int, kernel: Kernel) -> str | None:
    """solve and regress: --grid PRxPC is the process grid; PR * PC must be the rank count
    (grid::parse_grid_shape). Without --grid the kernel takes the squarest shape: always fine."""
    text = values.get("grid")
    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        return f"grid = {_fmt(text)!r} is not PRxPC (e.g. \"1x2\")"
    pr, pc = int(m.group(1)), int(m.group(2))
    if pr < 1 or pc < 1 or pr * pc != ranks:
        return (f"grid = {_fmt(text)!r} is {pr * pc} process(es), but the point runs on {ranks} rank(s) "
                "(PR x PC must equal the rank count: leave grid out for the squarest grid at every rank "
                "count, or give ranks that fit the grid)")
    return None


def _rule_wide(values: dict, ranks: int, kernel: Kernel) -> str | None:
    """sparsify, synthetic X: d >= n (sparsification keeps columns of a wide X of rank n;
    sparsify/generator.cpp check_spec). An input file decides its own shape."""
    if "input" in values:
        return None
    n, d = values.get("n"), values.get("d")
    if isinstance(n, int) and isinstance(d, int) and d < n:
        return f"d = {d} is below n = {n} (the synthetic X is n x d and must be wide: d >= n)"
    return None


POINT_RULES = {
    "solve": [_rule_grid],
    "regress": [_rule_grid],
    "sparsify": [_rule_wide],
}


def check_point(kernel: Kernel, values: dict, size, ranks: int, name: str, source: str):
    """Apply the kernel's POINT_RULES to one point (before anything is run or written)."""
    rules = POINT_RULES.get(kernel.name, [])
    if not rules:
        return
    full = {}
    for k, opt in kernel.options.items():   # the kernel's defaults, as typed values
        if opt.default is not None and opt.type == "integer" and re.fullmatch(r"-?\d+", opt.default):
            full[k] = int(opt.default)
    full.update(values)
    if size is not None:
        full[kernel.size_key.replace("_", "-")] = size
    for rule in rules:
        why = rule(full, ranks, kernel)
        if why:
            raise StudyError(f"{source}: point '{name}': [{kernel.name}] {why}")


def _scaled_size(mode: str, n0: int, p: int, p0: int, kernel: Kernel) -> int:
    """strong: n0. weak-memory: memory per rank constant, size ~ p^(1/memory_exponent).
    weak-compute: work per rank constant, size ~ p^(1/work_exponent) (attention: 1 and 2)."""
    if mode == "strong":
        return n0
    e = kernel.memory_exponent if mode == "weak-memory" else kernel.work_exponent
    return max(1, round(n0 * (p / p0) ** (1.0 / e)))


def expand(study: dict, cores: int, source: str, kernel: Kernel) -> list[Point]:
    """All points of a study. `cores`: cores a single run may use (for 'max' and the check).
    Refuses (StudyError) options given to an algorithm they do not apply to, synthetic-input options
    with an input file, name collisions, and more than [scaling] max_points points."""
    sc, att = study["scaling"], study["options"]
    threads = sc["threads_per_rank"]
    ranks = []
    for r in sc["ranks"]:
        p = max(1, cores // threads) if r == "max" else r
        if p not in ranks:
            ranks.append(p)
    ranks.sort()
    for p in ranks:
        if p * threads > cores and not sc["oversubscribe"]:
            raise StudyError(f"{source}: {p} ranks x {threads} threads = {p * threads} cores, but only {cores} are "
                             "available (reduce [scaling] ranks, or set [scaling] oversubscribe = true for "
                             "correctness runs; oversubscribed timings are meaningless)")
    p0 = ranks[0]
    all_sizes = sc.get("size")
    all_sizes = [None] if all_sizes is None else (all_sizes if isinstance(all_sizes, list) else [all_sizes])
    size_opt = "--" + kernel.size_key.replace("_", "-")
    size_tag = "n" if kernel.size_key == "n" else kernel.size_key.replace("_", "")
    max_points = sc["max_points"]
    # [[case]] tables: each adds its options to the kernel's section (a case's value wins) and is its
    # own set of points, tagged with its label; without cases, the section alone is the one case.
    cases = study.get("case") or [{"options": {}, "label": "", "zip": []}]

    points, seen = [], {}
    for case in cases:
        merged = dict(att)
        merged.update(case["options"])
        sizes = [n for n in all_sizes if n is None or "n_max" not in case or n <= case["n_max"]]
        zipped = case.get("zip", [])
        sweeps = [(k, v) for k, v in merged.items() if isinstance(v, list) and k not in zipped]
        fixed = [(k, v) for k, v in merged.items() if not isinstance(v, list)]
        # dimensions of the sweep: one per swept option, one for the zipped group (advanced together)
        dims = [[[(k, x)] for x in v] for k, v in sweeps]
        if zipped:
            dims.append([[(k, merged[k][i]) for k in zipped] for i in range(len(merged[zipped[0]]))])
        for n0 in sizes:
            for combo in itertools.product(*dims) if dims else [()]:
                chosen = [kv for group in combo for kv in group]
                values = dict(fixed + chosen)
                algo = _fmt(values.get("algo", kernel.default_algorithm))
                for k in values:
                    opt = kernel.options[k]
                    if opt.algorithms and algo not in opt.algorithms:
                        raise StudyError(f"{source}: option {k} applies to algorithm(s) {', '.join(opt.algorithms)}, "
                                         f"not to {algo} (give it in a [[case]] with algo = "
                                         f"\"{opt.algorithms[0]}\")")
                    if opt.synthetic and "input" in values:
                        raise StudyError(f"{source}: option {k} describes synthetic input and cannot be combined "
                                         "with an input file")
                tags = [case["label"]] if case["label"] else []
                for k, v in chosen:
                    if k == "input":
                        tags.append(safe_tag(os.path.splitext(os.path.basename(str(v)))[0]))
                    elif isinstance(v, str):
                        tags.append(safe_tag(v))
                    elif isinstance(v, bool):
                        tags.append(k if v else f"no-{k}")
                    else:
                        tags.append(safe_tag(f"{k}{_fmt(v)}"))
                base = ("" if n0 is None else f"{size_tag}{n0}") if sc["mode"] == "strong" else f"{size_tag}0-{n0}"
                series = "-".join([x for x in [base] + tags if x])
                for p in ranks:
                    n = None if n0 is None else _scaled_size(sc["mode"], n0, p, p0, kernel)
                    args = []
                    if n is not None:
                        args += [size_opt, str(n)]
                    for k, v in fixed + chosen:
                        if isinstance(v, bool):
                            if v:
                                args.append(f"--{k}")
                        else:
                            args += [f"--{k}", os.path.abspath(v) if k == "input" else _fmt(v)]
                    name = "-".join([x for x in [("" if n is None else f"{size_tag}{n}"), f"p{p}", f"t{threads}"]
                                     + tags if x])
                    if name in seen:
                        raise StudyError(f"{source}: two points would share the directory '{name}' (arguments "
                                         f"{' '.join(seen[name])} and {' '.join(args)}): give values that differ "
                                         "in letters or digits, or labels to the cases")
                    seen[name] = args
                    check_point(kernel, values, n, p, name, source)
                    if len(points) >= max_points:
                        raise StudyError(f"{source}: the study expands to more than {max_points} points (the limit; "
                                         "raise it with [scaling] max_points = N if you mean it; a cluster's "
                                         "MaxJobCount is often 10000)")
                    points.append(Point(name, p, threads, n, series, n0, args, sc["repeat"],
                                        p * threads > cores, case["label"], algo))
    return points


def plan_dict(study: dict, points: list[Point], cores: int, source: str, kernel: Kernel) -> dict:
    """The resolved study as stored in results/<study>/plan.json (used by resume and report)."""
    return {
        "schema_version": 2,
        "study": study[""]["name"],
        "description": study[""]["description"],
        "kernel": study[""]["kernel"],
        "size_key": kernel.size_key,
        "problem_keys": kernel.problem_keys,
        "plot": study[""].get("plot", ""),
        "mode": study["scaling"]["mode"],
        "study_file": os.path.abspath(source),
        "cores": cores,
        "resolved": {("top" if k == "" else k): v for k, v in study.items() if k != "options"},
        "points": [dataclasses.asdict(p) for p in points],
    }


def same_plan(a: dict, b: dict) -> str | None:
    """None if two plans run the same points, else the first difference."""
    if a.get("kernel", "attention") != b.get("kernel", "attention"):
        return f"kernel {a.get('kernel', 'attention')} vs {b.get('kernel', 'attention')}"
    if a.get("mode") != b.get("mode"):
        return f"scaling mode {a.get('mode')} vs {b.get('mode')}"
    pa = {p["name"]: p for p in a.get("points", [])}
    pb = {p["name"]: p for p in b.get("points", [])}
    for name in sorted(set(pa) | set(pb)):
        if name not in pa or name not in pb:
            return f"point '{name}' is only in one of them"
        for key in ("args", "ranks", "threads", "repeat"):
            if pa[name][key] != pb[name][key]:
                return f"point '{name}': {key} {pa[name][key]} vs {pb[name][key]}"
    return None


def point_nodes(slurm: dict, ranks: int) -> int:
    """Nodes the Slurm job of a point with `ranks` ranks spans: [slurm] nodes, but never more than
    its ranks, and at least ceil(ranks / tasks_per_node) when tasks_per_node is set."""
    nodes = min(slurm["nodes"], ranks)
    if slurm["tasks_per_node"] > 0:
        nodes = max(nodes, -(-ranks // slurm["tasks_per_node"]))
    return nodes
