"""Study files: parse (TOML, Python's tomllib), validate, apply --set overrides, expand to points.

A study file (inputs/studies/*.toml) is declarative. Its schema is SCHEMA below; every key that is
not in it is an error, every value is type-checked, and the options of `attnbench attention` are
checked against the option list the binary itself prints (`attnbench attention --help`), so an
option added to the program is usable in a study without touching this file.

Expansion: a *point* is one MPI run configuration (rank count, threads, n, and one value of every
swept option). Each point is run `repeat` times (Slurm: a job array) and archived as
results/<study>/<point>/run<k>.h5.
"""
from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import os
import re
import subprocess
import tomllib


class StudyError(Exception):
    """A study file or override that cannot be used; the message says what and where."""


MODES = ("strong", "weak-memory", "weak-compute")
PLOTS = ("poly-transition", "accuracy-vs-cost")
TABLES = ("scaling", "attention", "slurm", "generate")   # plus the array of tables [[case]]
LAUNCHERS = ("srun", "mpirun")

# Options of `attnbench attention` that the study runner sets itself, with the reason.
RESERVED = {
    "n": "set the problem sizes in [scaling] n (they depend on the scaling mode)",
    "threads": "set [scaling] threads_per_rank",
    "out": "archives always go to results/<study>/<point>/run<k>.h5",
    "overwrite": "archives are never overwritten",
    "quiet": "the runner always passes --quiet",
    "help": "not an option of a study",
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
        "kernel": ("\"attention\"", lambda v: v == "attention"),
        "plot": ("one of " + ", ".join(PLOTS) + " (a study-specific plot and table, src/report/plot_studies.py)",
                 lambda v: v in PLOTS),
    },
    "scaling": {
        "mode": ("one of " + ", ".join(MODES), lambda v: v in MODES),
        "ranks": ("a non-empty list of positive integers or \"max\"", _ranks),
        "n": ("a positive integer or a non-empty list of them", _sizes),
        "threads_per_rank": ("a positive integer", _pos_int),
        "repeat": ("a positive integer", _pos_int),
        "oversubscribe": ("true or false", _bool),
    },
    "slurm": {
        "time": ("a Slurm time limit such as \"00:10:00\" (at least 2 minutes: the job is warned 60 s before)",
                 lambda v: _str(v) and re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", v) is not None),
        "partition": ("a string", _str),
        "account": ("a string", _str),
        "nodes": ("a positive integer", _pos_int),
        "launcher": ("one of " + ", ".join(LAUNCHERS), lambda v: v in LAUNCHERS),
        "sbatch_args": ("a list of strings", _str_list),
        "exclusive": ("true or false", _bool),
    },
    # An input file made before anything runs (local run/submit), when it does not exist yet:
    # `python3 SCRIPT ARGS... --out <results>/<study>/<output>`; it becomes the [attention] input.
    "generate": {
        "script": ("a Python script path (relative to the study file's folder)", _str),
        "args": ("a list of strings", _str_list),
        "output": ("a file name (letters, digits, '.', '_', '-'), written under results/<study>/",
                   lambda v: _str(v) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None),
    },
}
# Keys of a [[case]] table besides options of `attnbench attention`.
CASE_KEYS = {
    "label": ("a name made of letters, digits, '.', '_' or '-' (the case's tag in point names)",
              lambda v: _str(v) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None),
    "n_max": ("a positive integer (sizes of [scaling] n above it are not run for this case)", _pos_int),
    "zip": ("a list of option names swept together (equal-length lists, one point per position)", _str_list),
}
REQUIRED = [("", "name"), ("scaling", "mode"), ("scaling", "ranks"), ("generate", "script"),
            ("generate", "output")]
DEFAULTS = {
    "": {"description": "", "kernel": "attention"},
    "scaling": {"threads_per_rank": 1, "repeat": 1, "oversubscribe": False},
    "attention": {},
    "slurm": {"time": "00:30:00", "partition": "", "account": "", "nodes": 1, "launcher": "srun",
              "sbatch_args": [], "exclusive": True},
    "case": [],
}


# ---------------------------------------------------------------------------------------------
# The option list of `attnbench attention`, read from its --help.

@dataclasses.dataclass
class Option:
    name: str            # without the leading dashes
    kind: str            # INT, UINT, FLOAT, TEXT or FLAG
    choices: tuple = ()  # allowed values for TEXT:{a,b}
    positive: bool = False
    nonnegative: bool = False


_OPT_RE = re.compile(r"^\s+(?:-\w,)?--([a-z0-9][a-z0-9-]*)(?:\s+([A-Z]+)(?::(\{[^}]*\}|[A-Z]+))?)?")


def attention_options(binary: str) -> dict[str, Option]:
    """Options accepted by `binary attention`, parsed from its --help (a singleton MPI run)."""
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    try:
        out = subprocess.run([binary, "attention", "--help"], capture_output=True, text=True, env=env,
                             timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise StudyError(f"cannot run '{binary} attention --help' to learn its options: {e}") from e
    if out.returncode != 0:
        raise StudyError(f"'{binary} attention --help' failed (exit {out.returncode}): {out.stderr.strip()}")
    opts = {}
    for line in out.stdout.splitlines():
        m = _OPT_RE.match(line)
        if not m:
            continue
        name, kind, extra = m.group(1), m.group(2) or "FLAG", m.group(3) or ""
        if kind not in ("INT", "UINT", "FLOAT", "TEXT"):
            kind = "FLAG" if kind in ("", "FLAG") else "TEXT"
        opt = Option(name, kind)
        if extra.startswith("{"):
            opt.choices = tuple(x.strip() for x in extra[1:-1].split(","))
        opt.positive = extra == "POSITIVE"
        opt.nonnegative = extra == "NONNEGATIVE"
        opts[name] = opt
    if "n" not in opts or "reps" not in opts:
        raise StudyError(f"could not read the option list from '{binary} attention --help'")
    return opts


def _check_option_value(opt: Option, value, where: str):
    def bad(what):
        raise StudyError(f"{where}: expected {what}, got {value!r}")

    if opt.kind == "FLAG":
        if not _bool(value):
            bad("true or false (a flag)")
    elif opt.kind in ("INT", "UINT"):
        if not _is_int(value):
            bad("an integer")
        if opt.positive and value < 1:
            bad("a positive integer")
        if (opt.nonnegative or opt.kind == "UINT") and value < 0:
            bad("a non-negative integer")
    elif opt.kind == "FLOAT":
        if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            bad("a number")
        if opt.positive and value <= 0:
            bad("a positive number")
    else:  # TEXT
        if _bool(value) or not isinstance(value, (str, int, float)):
            bad("a string")
        if opt.choices and str(value) not in opt.choices:
            bad("one of " + ", ".join(opt.choices))


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
        if parts[0] not in SCHEMA and parts[0] != "attention":
            raise StudyError(f"--set '{text}': unknown table '{parts[0]}' (known: scaling, attention, slurm, generate)")
        table = data.setdefault(parts[0], {})
        if not isinstance(table, dict):
            raise StudyError(f"--set '{text}': '{parts[0]}' is not a table in the study file")
    table[parts[-1]] = value


def validate(data: dict, source: str, options: dict[str, Option] | None) -> dict:
    """Check every key and type; return the study with defaults filled in. `options` is the option
    list of `attnbench attention` (None: the [attention] table is not checked against it)."""
    study = copy.deepcopy(DEFAULTS)
    for key, value in data.items():
        if key == "case":
            if not isinstance(value, list) or not value or not all(isinstance(c, dict) for c in value):
                raise StudyError(f"{source}: 'case' must be an array of tables ([[case]] ...)")
            continue
        if isinstance(value, dict):
            if key not in TABLES:
                raise StudyError(f"{source}: unknown table [{key}] (known: [scaling], [attention], [slurm], "
                                 "[generate], [[case]])")
            continue
        if key not in SCHEMA[""]:
            raise StudyError(f"{source}: unknown key '{key}' (known top-level keys: "
                             + ", ".join(SCHEMA[""]) + "; tables [scaling], [attention], [slurm])")
        what, ok = SCHEMA[""][key]
        if not ok(value):
            raise StudyError(f"{source}: '{key}' must be {what}, got {value!r}")
        study[""][key] = value
    if "generate" in data:
        study["generate"] = {"args": []}
    for table in ("scaling", "slurm", "generate"):
        for key, value in data.get(table, {}).items():
            if key not in SCHEMA[table]:
                raise StudyError(f"{source}: unknown key '{key}' in [{table}] (known: "
                                 + ", ".join(SCHEMA[table]) + ")")
            what, ok = SCHEMA[table][key]
            if isinstance(value, dict) or not ok(value):
                raise StudyError(f"{source}: [{table}] {key} must be {what}, got {value!r}")
            study[table][key] = value
    for table, key in REQUIRED:
        if table in study and key not in study[table]:
            where = f"[{table}] {key}" if table else key
            raise StudyError(f"{source}: missing required key {where}")

    def check_options(table: dict, where_table: str, skip=()) -> dict:
        out = {}
        for key, value in table.items():
            if key in skip:
                continue
            opt_name = key.replace("_", "-")
            where = f"{source}: {where_table} {key}"
            if isinstance(value, dict):
                raise StudyError(f"{where}: expected a value or a list of values, got a table")
            if opt_name in RESERVED:
                raise StudyError(f"{where}: not allowed here: {RESERVED[opt_name]}")
            values = value if isinstance(value, list) else [value]
            if not values:
                raise StudyError(f"{where}: an empty list sweeps nothing")
            if options is not None:
                if opt_name not in options:
                    known = sorted(k for k in options if k not in RESERVED)
                    raise StudyError(f"{where}: unknown option (attnbench attention has: {', '.join(known)})")
                for v in values:
                    _check_option_value(options[opt_name], v, where)
            out[opt_name] = value
        return out

    study["attention"] = check_options(data.get("attention", {}), "[attention]")
    labels = set()
    for i, case in enumerate(data.get("case", []), 1):
        where = f"{source}: [[case]] {i}"
        c = {"options": check_options(case, f"[[case]] {i}:", skip=CASE_KEYS)}
        for key, (what, ok) in CASE_KEYS.items():
            if key in case:
                if not ok(case[key]):
                    raise StudyError(f"{where}: {key} must be {what}, got {case[key]!r}")
                c[key] = case[key]
        c.setdefault("label", str(c["options"].get("algo", f"case{i}")))
        if c["label"] in labels:
            raise StudyError(f"{where}: two cases are labelled '{c['label']}' (give each a distinct label)")
        labels.add(c["label"])
        zipped = [z.replace("_", "-") for z in c.get("zip", [])]
        lengths = set()
        for z in zipped:
            v = c["options"].get(z, study["attention"].get(z))
            if not isinstance(v, list):
                raise StudyError(f"{where}: zip names '{z}', which is not a list option of this case")
            lengths.add(len(v))
        if len(lengths) > 1:
            raise StudyError(f"{where}: the zipped options {', '.join(zipped)} have different lengths")
        c["zip"] = zipped
        study["case"].append(c)

    sc, att = study["scaling"], study["attention"]
    if "generate" in study:
        if "input" in att or any("input" in c["options"] for c in study["case"]):
            raise StudyError(f"{source}: [generate] makes the input file; do not also give [attention] input")
        if sc["mode"] != "strong" or "n" in sc:
            raise StudyError(f"{source}: [generate] makes the input file, which fixes n: use mode = \"strong\" "
                             "without [scaling] n")
        script = os.path.join(os.path.dirname(os.path.abspath(source)), study["generate"]["script"])
        if not os.path.isfile(script):
            raise StudyError(f"{source}: [generate] script '{study['generate']['script']}' does not exist "
                             "(a relative path is relative to the study file's folder)")
        study["generate"]["script"] = script
    elif "input" in att:
        if sc["mode"] != "strong":
            raise StudyError(f"{source}: an [attention] input file fixes n; {sc['mode']} scaling needs synthetic "
                             "inputs (remove 'input' or use mode = \"strong\")")
        if "n" in sc:
            raise StudyError(f"{source}: [scaling] n and [attention] input exclude each other")
        for f in (att["input"] if isinstance(att["input"], list) else [att["input"]]):
            if not os.path.isfile(f):
                raise StudyError(f"{source}: [attention] input file '{f}' does not exist "
                                 f"(relative paths are relative to the current directory, {os.getcwd()})")
    elif "n" not in sc:
        raise StudyError(f"{source}: missing required key [scaling] n (the problem sizes)")
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
    n: int | None       # None for file inputs
    series: str         # the curve this point belongs to in the plots (everything but ranks)
    base_n: int | None  # n at the smallest rank count (weak scaling), else n
    args: list          # options of `attnbench attention` (without --threads/--out/--quiet)
    repeat: int
    oversubscribed: bool
    case: str = ""      # label of the [[case]] it comes from ("" without cases)


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _scaled_n(mode: str, n0: int, p: int, p0: int) -> int:
    if mode == "strong":
        return n0
    if mode == "weak-memory":  # n/p constant: memory per rank constant, work per rank grows with p
        return max(1, round(n0 * p / p0))
    return max(1, round(n0 * math.sqrt(p / p0)))  # weak-compute: n^2/p constant


def expand(study: dict, cores: int, source: str) -> list[Point]:
    """All points of a study. `cores`: cores a single run may use (for 'max' and the check)."""
    sc, att = study["scaling"], study["attention"]
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
    all_sizes = sc.get("n")
    all_sizes = [None] if all_sizes is None else (all_sizes if isinstance(all_sizes, list) else [all_sizes])
    # [[case]] tables: each adds its options to [attention] (a case's value wins) and is its own set of
    # points, tagged with its label; without cases, [attention] alone is the one case.
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
                tags = [case["label"]] if case["label"] else []
                for k, v in chosen:
                    if k == "input":
                        tags.append(os.path.splitext(os.path.basename(str(v)))[0])
                    elif isinstance(v, str):
                        tags.append(v)
                    elif isinstance(v, bool):
                        tags.append(k if v else f"no-{k}")
                    else:
                        tags.append(f"{k}{_fmt(v)}")
                base = ("" if n0 is None else f"n{n0}") if sc["mode"] == "strong" else f"n0-{n0}"
                series = "-".join([x for x in [base] + tags if x])
                for p in ranks:
                    n = None if n0 is None else _scaled_n(sc["mode"], n0, p, p0)
                    args = []
                    if n is not None:
                        args += ["--n", str(n)]
                    for k, v in fixed + chosen:
                        if isinstance(v, bool):
                            if v:
                                args.append(f"--{k}")
                        else:
                            args += [f"--{k}", os.path.abspath(v) if k == "input" else _fmt(v)]
                    name = "-".join([x for x in [("" if n is None else f"n{n}"), f"p{p}", f"t{threads}"] + tags if x])
                    if name in seen:
                        raise StudyError(f"{source}: two points would share the directory '{name}'")
                    seen[name] = True
                    points.append(Point(name, p, threads, n, series, n0, args, sc["repeat"],
                                        p * threads > cores, case["label"]))
    return points


def plan_dict(study: dict, points: list[Point], cores: int, source: str) -> dict:
    """The resolved study as stored in results/<study>/plan.json (used by resume and report)."""
    return {
        "schema_version": 1,
        "study": study[""]["name"],
        "description": study[""]["description"],
        "kernel": study[""]["kernel"],
        "plot": study[""].get("plot", ""),
        "mode": study["scaling"]["mode"],
        "study_file": os.path.abspath(source),
        "cores": cores,
        "resolved": {("top" if k == "" else k): v for k, v in study.items()},
        "points": [dataclasses.asdict(p) for p in points],
    }


def same_plan(a: dict, b: dict) -> str | None:
    """None if two plans run the same points, else the first difference."""
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
