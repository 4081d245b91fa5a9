#!/usr/bin/python3
"""attnbench study: run or submit a scaling study described by a study file (inputs/studies/*.toml).

  attnbench study run    FILE [--set KEY=VALUE]... [--dry-run] [--results DIR]
  attnbench study submit FILE [--set KEY=VALUE]... [--dry-run] [--results DIR] [--wait]
  attnbench study check  FILE [--set KEY=VALUE]... [--cores N]

run     runs every point locally with mpirun, one after another, with progress on stderr.
submit  submits one sbatch job per point (a job array when a point is repeated) and a report job
        that depends on all of them (afterok, --kill-on-invalid-dep=yes); prints the job ids.
check   validates the study file (like --dry-run, without the plan): every key, value and point,
        including the rules between options and ranks (e.g. --grid PRxPC with PR * PC = ranks);
        --cores N checks the rank counts against N cores (e.g. a cluster's) instead of this
        machine's.

The study names its kernel (kernel = "attention" by default); its options are checked against
`attnbench <kernel> --describe` before anything is written. Archives go to
DIR/<study>/<point>/run<k>.h5 (DIR: --results, default ./results); the resolved study is kept in
DIR/<study>/plan.json. Re-running skips runs that already have a valid archive and runs claimed by
a running job (run<k>.claim: a local runner or a Slurm job, queued or running); an archive is
published with link() and never replaces an existing one. A run that ends with attnbench's
does_not_fit exit code (the configuration exceeds its memory budget; `attnbench --exit-codes`) is
recorded as DOES_NOT_FIT, a result rather than a failure.
Exit codes: 0 every run valid (VALID, or UNCERTIFIED: valid with no certificate, counted apart) or
DOES_NOT_FIT (or submitted), 1 a run failed or is invalid, 2 the
study file, an override or the results folder is unusable (nothing was run or changed).
"""
from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean (it may be read-only)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import claims  # noqa: E402
import described  # noqa: E402
import studyfile  # noqa: E402
from studyfile import StudyError  # noqa: E402

# The study tool's own exit codes (the docstring); the codes of the runs it launches are the
# binary's, asked by name (described.exit_code): the runner matches codes, never message text.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def binary() -> str:
    try:
        return described.binary()
    except described.DescribeError as e:
        raise StudyError(str(e)) from None


def local_cores() -> int:
    return len(os.sched_getaffinity(0))


def slurm_cores(nodes: int) -> int | None:
    """CPUs a job may use: CPUs per node (largest node, from sinfo) x nodes (0: every node Slurm
    has, for jobs whose node count follows their ranks); None without Slurm."""
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %c"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    per_node = {}
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 2 and f[1].rstrip("+").isdigit():
            per_node[f[0]] = int(f[1].rstrip("+"))
    if out.returncode != 0 or not per_node:
        return None
    return max(per_node.values()) * (nodes if nodes > 0 else len(per_node))


def atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_study(args):
    """Load, override and validate the study against its kernel's description. Raises StudyError."""
    data = studyfile.load(args.file, args.set or [])
    kernel = studyfile.describe_kernel(binary(), studyfile.kernel_of(data, args.file))
    described.suite()  # the exit codes, run states and plots, asked before anything is written
    study = studyfile.validate(data, args.file, kernel)
    gen = studyfile.generated_input(study, getattr(args, "results", None) or
                                    os.environ.get("ATTNBENCH_RESULTS", "results"))
    if gen:
        study["options"]["input"] = gen
    return study, kernel


def prepare(args, cores: int):
    """Load, validate and expand the study (every value checked before anything is written)."""
    study, kernel = load_study(args)
    points = studyfile.expand(study, cores, args.file, kernel)
    return study, points, studyfile.plan_dict(study, points, cores, args.file, kernel), kernel


def generate_cmd(study) -> list[str]:
    g = study["generate"]
    return [sys.executable, os.path.abspath(g["script"]), *g["args"], "--out", study["options"]["input"]]


def generate_input(study):
    """Make the [generate] input file if it does not exist yet (atomically: never a half-written file)."""
    if "generate" not in study:
        return
    out = Path(study["options"]["input"])
    if out.exists():
        log(f"input {out} exists, not regenerated")
        return
    tmp = out.with_name(out.name + ".partial")
    cmd = generate_cmd(study)
    cmd[-1] = str(tmp)
    log(f"generating the input: {shlex.join(cmd)}")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise StudyError(f"cannot run the [generate] script: {e.strerror}") from None
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise StudyError(f"the [generate] script failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    os.replace(tmp, out)


def error_reason(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errs = [x for x in lines if x.startswith("attnbench: error:")]
    return (errs[0] if errs else (lines[-1] if lines else ""))[len("attnbench: error: "):][:1000]


def study_dir(args, study) -> Path:
    return Path(args.results) / study[""]["name"]


def claim_results_dir(sdir: Path, plan: dict):
    """Create DIR/<study>/ with plan.json, or check that an existing one holds the same study."""
    pfile = sdir / "plan.json"
    if sdir.exists() and not sdir.is_dir():
        raise StudyError(f"'{sdir}' exists and is not a directory")
    if pfile.exists():
        try:
            old = json.loads(pfile.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise StudyError(f"cannot read {pfile}: {e}") from None
        diff = studyfile.same_plan(old, plan)
        if diff:
            raise StudyError(f"{sdir} already holds a different study ({diff}); nothing was changed. Use another "
                             "name (--set name=...) or another --results folder.")
        return
    # No plan.json: a folder from elsewhere (e.g. the flat archives of an older demo). Its files are
    # left alone; only a point directory of this plan that already exists would be ambiguous.
    clash = [p["name"] for p in plan["points"] if (sdir / p["name"]).exists()]
    if clash:
        raise StudyError(f"{sdir} has no plan.json but already has point folder(s) {', '.join(clash[:3])}: not "
                         "written by this study; nothing was changed. Use another name or --results folder.")
    if sdir.is_dir() and any(sdir.iterdir()):
        log(f"note: {sdir} holds files from outside this study; they are left untouched and ignored")
    sdir.mkdir(parents=True, exist_ok=True)
    atomic_write(pfile, json.dumps(plan, indent=1) + "\n")


def print_plan(study, points, cores, sdir: Path, launcher_lines):
    sc = study["scaling"]
    log(f"study '{study['']['name']}': {sc['mode']} scaling, {len(points)} points x {sc['repeat']} run(s), "
        f"{sc['threads_per_rank']} thread(s) per rank, {cores} cores available")
    log(f"archives: {sdir}/<point>/run<k>.h5 (dry run: nothing is run or written)")
    for i, (p, line) in enumerate(zip(points, launcher_lines), 1):
        flag = "  [OVERSUBSCRIBED: timings meaningless]" if p.oversubscribed else ""
        print(f"[{i}/{len(points)}] {p.name}: {line}{flag}")


def mpi_env(threads: int) -> dict:
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def mpirun_cmd(kernel: str, p: studyfile.Point, out: str) -> list[str]:
    cmd = shlex.split(os.environ.get("ATTNBENCH_MPIRUN", "mpirun")) + ["-n", str(p.ranks)]
    if p.oversubscribed:
        cmd.append("--oversubscribe")
    if p.threads > 1:
        cmd += ["--bind-to", "none"]
    return cmd + [binary(), kernel, *p.args, "--threads", str(p.threads), "--quiet", "--out", out]


def leftovers(pdir: Path, k: int) -> list[Path]:
    """Files a killed run k may have left (its unique temporary archive, partial files)."""
    return sorted(set(pdir.glob(f".run{k}.*.h5*")) | set(pdir.glob(f"run{k}.h5.partial")))


def publish(tmp: Path, final: Path) -> str:
    """Give a finished archive its final name without ever replacing one: link() fails if the name
    exists (unlike rename). Returns "" when published, else what happened to the archive."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        kept = final.with_name(f"{final.name}.duplicate-{tmp.name.split('.')[2]}")
        os.replace(tmp, kept)
        return f"{final} appeared meanwhile and was kept; this run's archive is {kept.name}"
    os.unlink(tmp)
    return ""


def read_status(path: Path) -> dict:
    """KEY=VALUE lines of a run<k>.status file ({} if there is none)."""
    try:
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    except OSError:
        return {}


def write_status(path: Path, **fields):
    atomic_write(path, "".join(f"{k}={v}\n" for k, v in fields.items()))


# ---------------------------------------------------------------------------------------------

def cmd_check(args) -> int:
    study, points, _, kernel = prepare(args, args.cores or local_cores())
    print(f"{args.file}: OK (kernel {kernel.name}, {study['scaling']['mode']} scaling, {len(points)} points)")
    return EXIT_OK


def run_one(kernel: str, p, pdir: Path, k: int, tag: str, owner: dict) -> tuple[str, int, str]:
    """Run k of point p, holding its claim: (state, exit code, summary or reason)."""
    out = pdir / f"run{k}.h5"
    for junk in leftovers(pdir, k):   # left by a run that was killed hard (we hold the claim now)
        junk.unlink()
    tmp = pdir / f".run{k}.{owner['token']}.h5"
    cmd = mpirun_cmd(kernel, p, str(tmp))
    log(f"{tag}: ranks={p.ranks} threads={p.threads}" + (f" size={p.n}" if p.n else "") + " ...")
    started, t0 = now(), time.monotonic()
    logpath = pdir / f"run{k}.log"
    with open(logpath, "a") as logf:
        logf.write(f"# {started} {shlex.join(cmd)}\n")
        logf.flush()
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=logf, text=True,
                                  env=mpi_env(p.threads), stdin=subprocess.DEVNULL)
        except OSError as e:
            raise StudyError(f"cannot launch '{cmd[0]}': {e.strerror} (is Open MPI installed? "
                             "ATTNBENCH_MPIRUN selects the launcher)") from None
        logf.write(proc.stdout if proc.stdout.endswith("\n") or not proc.stdout else proc.stdout + "\n")
    rc, elapsed = proc.returncode, time.monotonic() - t0
    note = ""
    ok, invalid, unfit = (described.exit_code(name) for name in ("ok", "invalid", "does_not_fit"))
    if tmp.exists() and rc in (ok, invalid):
        note = publish(tmp, out)
    for junk in leftovers(pdir, k):
        junk.unlink()
    state = {ok: "COMPLETED", invalid: "INVALID", unfit: "DOES_NOT_FIT"}.get(rc, "FAILED")
    if note:   # another runner published run<k>.h5 meanwhile: ours was not published
        state = "FAILED"
    elif state in ("COMPLETED", "INVALID") and not out.exists():
        state, note = "FAILED", f"exit {rc} but no archive was written"
    reason = error_reason(logpath) if state in ("FAILED", "DOES_NOT_FIT") else ""
    if note:
        reason = (note + "; " + reason).strip("; ")
    write_status(pdir / f"run{k}.status", state=state, exit_code=rc, point=p.name, run=k,
                 archive=out.name if out.exists() else "", launcher="mpirun", host=socket.gethostname(),
                 started=started, finished=now(), slurm_job_id="",
                 **({"reason": reason.replace("\n", " ")} if reason else {}))
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return state, rc, (f"{elapsed:.1f} s: {summary}" if state in ("COMPLETED", "INVALID") else reason)


def cmd_run(args) -> int:
    import archives

    cores = local_cores()
    study, points, plan, kernel = prepare(args, cores)
    sdir = study_dir(args, study)
    if args.dry_run:
        lines = [shlex.join(mpirun_cmd(kernel.name, p, f"{sdir}/{p.name}/run<k>.h5")) for p in points]
        print_plan(study, points, cores, sdir, lines)
        if "generate" in study:
            print(f"input (made first if missing): {shlex.join(generate_cmd(study))}")
        return EXIT_OK
    claim_results_dir(sdir, plan)
    lock = open(sdir / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StudyError(f"another 'attnbench study run' is running on {sdir} (lock {sdir}/.lock)") from None

    generate_input(study)
    owner = claims.new_owner("local")
    total = sum(p.repeat for p in points)
    done = ran = failed = skipped = unfit = claimed = uncertified = 0
    i = 0
    for p in points:
        pdir = sdir / p.name
        pdir.mkdir(exist_ok=True)
        for k in range(p.repeat):
            i += 1
            tag = f"[{study['']['name']} {i}/{total}] {p.name} run{k}"
            out = pdir / f"run{k}.h5"
            st = archives.state(out, kernel.name)
            prev = read_status(pdir / f"run{k}.status")
            if not st.exists and prev.get("state") == "DOES_NOT_FIT":
                log(f"{tag}: recorded as does not fit ({prev.get('reason', '')[:120]}), skipped")
                unfit += 1
                continue
            if st.exists:
                if st.readable and st.valid:
                    log(f"{tag}: valid archive exists" + ("" if st.certified else " (UNCERTIFIED)") + ", skipped")
                    done += 1
                    skipped += 1
                    uncertified += not st.certified
                else:
                    why = st.problem or "the run failed validation"
                    log(f"{tag}: {out} exists but is not usable ({why}); kept, not re-run "
                        "(move it away to re-run this point)")
                    failed += 1
                continue
            ok, holder = claims.acquire(pdir, k, owner)
            if not ok:
                log(f"{tag}: claimed by {holder}; not started here")
                claimed += 1
                continue
            try:
                if out.exists():   # finished by another runner between our check and the claim
                    log(f"{tag}: archived meanwhile by another runner, skipped")
                    done += 1
                    skipped += 1
                    continue
                state, rc, text = run_one(kernel.name, p, pdir, k, tag, owner)
            finally:
                claims.release(pdir, k, owner)
            ran += 1
            if state == "DOES_NOT_FIT":
                unfit += 1
                log(f"{tag}: does not fit (exit {rc}; recorded, not a failure): {text[:200]}")
            elif state == "COMPLETED":
                done += 1
                # exit ok is VALID or UNCERTIFIED (valid, but no certificate bounds the error): counted apart
                if not archives.state(out, kernel.name).certified:
                    uncertified += 1
                    log(f"{tag}: done in {text} ({described.state(True, False)}: no certificate)")
                else:
                    log(f"{tag}: done in {text}")
            else:
                failed += 1
                log(f"{tag}: {state} (exit {rc}){': ' + text if text else ''}; log: {pdir / f'run{k}.log'}")
                tail = (pdir / f"run{k}.log").read_text(errors="replace").strip().splitlines()[-5:]
                for line in tail:
                    log(f"    {line}")
    log(f"study '{study['']['name']}': {done}/{total} runs valid ({skipped} already archived, {ran} run now), "
        + (f"{uncertified} of them UNCERTIFIED (no certificate: error measured, not bounded), " if uncertified else "")
        + (f"{unfit} do not fit the memory budget (recorded), " if unfit else "")
        + (f"{claimed} claimed by other running jobs (not started here), " if claimed else "")
        + f"{failed} failed or invalid; report: attnbench report {sdir}")
    return EXIT_OK if failed == 0 else EXIT_FAILED


def queued_jobs(name: str) -> list[tuple[str, str]]:
    """(job id, state) of the pending or running jobs of this name (so a resubmission does not run a
    point twice, nor queue a second report job)."""
    try:
        out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%A %T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    jobs = sorted({tuple(line.split()[:2]) for line in out.stdout.splitlines() if len(line.split()) >= 2})
    return [j for j in jobs if j[1] in claims.LIVE_SLURM_STATES]


def sbatch(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise StudyError(f"cannot run sbatch: {e.strerror}") from None
    if proc.returncode != 0:
        raise StudyError(f"sbatch failed (exit {proc.returncode}): {proc.stderr.strip()}\n  command: {shlex.join(cmd)}")
    return proc.stdout.strip().split(";")[0]


def cmd_submit(args) -> int:
    import archives

    study, kernel = load_study(args)
    sl = study["slurm"]
    # With tasks_per_node a point's node count follows its ranks: any node of the cluster may serve.
    cores = slurm_cores(0 if sl["tasks_per_node"] > 0 else sl["nodes"])
    reachable = cores is not None
    if not reachable:  # still check the study itself first, against this machine
        cores = local_cores() * sl["nodes"]
        log(f"note: sinfo failed; assuming {cores} cores per job (this machine)")
    points = studyfile.expand(study, cores, args.file, kernel)
    if not reachable and not args.dry_run:
        raise StudyError("Slurm is not reachable (sinfo failed): cannot submit")
    plan = studyfile.plan_dict(study, points, cores, args.file, kernel)
    sdir = study_dir(args, study).resolve() if not args.dry_run else study_dir(args, study).absolute()
    name = study[""]["name"]
    jobs_dir = ROOT / "jobs"

    def point_cmd(p, runs):
        pdir = sdir / p.name
        array = p.repeat > 1 or runs != [0]
        cmd = ["sbatch", "--parsable", f"--job-name=attnbench-{name}-{p.name}", f"--ntasks={p.ranks}",
               f"--cpus-per-task={p.threads}", f"--nodes={studyfile.point_nodes(sl, p.ranks)}", f"--time={sl['time']}",
               "--signal=B:USR1@60",
               f"--output={pdir}/slurm-%A_%a.out" if array else f"--output={pdir}/slurm-%j.out"]
        if sl["tasks_per_node"] > 0:
            cmd.append(f"--ntasks-per-node={sl['tasks_per_node']}")
        if sl["partition"]:
            cmd.append(f"--partition={sl['partition']}")
        if sl["account"]:
            cmd.append(f"--account={sl['account']}")
        if p.oversubscribed:
            cmd.append("--oversubscribe")
        elif sl["exclusive"]:  # timings of jobs sharing a node disturb each other
            cmd.append("--exclusive")
        if array:
            cmd.append("--array=" + ",".join(str(k) for k in runs))
        cmd += sl["sbatch_args"]
        cmd += [f"--export=ALL,ATTNBENCH_BIN={binary()},ATTNBENCH_ROOT={ROOT},ATTNBENCH_LAUNCHER={sl['launcher']}",
                str(jobs_dir / "run.sbatch"), kernel.name, str(pdir), "--", *p.args]
        return cmd

    if args.dry_run:
        print_plan(study, points, cores, sdir, [shlex.join(point_cmd(p, list(range(p.repeat)))) for p in points])
        return EXIT_OK

    claim_results_dir(sdir, plan)
    generate_input(study)
    deps, bad, new_jobs = [], 0, 0
    for p in points:
        pdir = sdir / p.name
        pdir.mkdir(exist_ok=True)
        runs = []
        for k in range(p.repeat):
            st = archives.state(pdir / f"run{k}.h5", kernel.name)
            if st.exists:
                if not (st.readable and st.valid):
                    bad += 1
                    log(f"{p.name} run{k}: archive exists but is not usable ({st.problem or 'invalid run'}); kept, "
                        "not resubmitted (move it away to re-run)")
                continue
            if read_status(pdir / f"run{k}.status").get("state") == "DOES_NOT_FIT":
                log(f"{p.name} run{k}: recorded as does not fit, not resubmitted")
                continue
            info = claims.read(claims.claim_path(pdir, k))
            if info:
                alive, who = claims.holder_alive(info)
                if alive:
                    log(f"{p.name} run{k}: claimed by {who}; not submitted again")
                    if info.get("slurm_job_id") and info["slurm_job_id"] not in deps:
                        deps.append(info["slurm_job_id"])
                    continue
            runs.append(k)
        if not runs:
            log(f"{p.name}: all runs archived, claimed or recorded, not submitted")
            continue
        queued = queued_jobs(f"attnbench-{name}-{p.name}")
        if queued:
            log(f"{p.name}: already queued as job {queued[0][0]}, not submitted again")
            deps += [j for j, _ in queued if j not in deps]
            continue
        job = sbatch(point_cmd(p, runs))
        new_jobs += 1
        deps.append(job)
        # Claims for the queued runs: a local `study run` started now leaves them to this job.
        owner = claims.new_owner("submit", slurm_job_id=job)
        for k in runs:
            ok, who = claims.acquire(pdir, k, owner, same_job_ok=True)
            if not ok:
                log(f"{p.name} run{k}: claimed by {who} (the job will see the claim and skip the run)")
        print(f"{job} {p.name}" + (f" (array {','.join(map(str, runs))})" if p.repeat > 1 or runs != [0] else ""),
              flush=True)
    if bad:
        log(f"{bad} run(s) have unusable archives: no report job (it would fail); fix them and resubmit")
        return EXIT_FAILED
    # One report job per study: a queued one that already waits for every point job is kept; one
    # that would miss the jobs submitted now is replaced (cancelled while pending).
    rname = f"attnbench-{name}-report"
    queued_reports = queued_jobs(rname)
    if queued_reports and new_jobs == 0:
        ids = " ".join(j for j, _ in queued_reports)
        print(f"{queued_reports[0][0]} report (already queued; not submitted again)", flush=True)
        log(f"report job {ids} is already queued for this study: no second report job")
        if args.wait:   # as sbatch --wait would: until the queued report job has left the queue
            log(f"waiting for report job {ids} ...")
            while queued_jobs(rname):
                time.sleep(5)
            st = read_status(sdir / "report.status")
            return EXIT_OK if st.get("state") == "COMPLETED" else EXIT_FAILED
        return EXIT_OK
    for j, stt in queued_reports:
        if stt == "PENDING":
            subprocess.run(["scancel", j], capture_output=True, text=True)
            log(f"report job {j} cancelled: it did not wait for the jobs submitted now; a new one replaces it")
    rcmd = ["sbatch", "--parsable", f"--job-name={rname}", "--ntasks=1", "--time=00:15:00",
            f"--output={sdir}/report-%j.out",
            f"--export=ALL,ATTNBENCH_BIN={binary()},ATTNBENCH_ROOT={ROOT}"]
    if sl["partition"]:
        rcmd.append(f"--partition={sl['partition']}")
    if sl["account"]:
        rcmd.append(f"--account={sl['account']}")
    if deps:
        rcmd += ["--dependency=afterok:" + ":".join(deps), "--kill-on-invalid-dep=yes"]
    if args.wait:
        rcmd.append("--wait")
    rcmd += [str(jobs_dir / "report.sbatch"), str(sdir)]
    if args.wait:
        log(f"waiting for the report job ({len(deps)} point job(s) first) ...")
    try:
        proc = subprocess.run(rcmd, capture_output=True, text=True)
    except OSError as e:
        raise StudyError(f"cannot run sbatch: {e.strerror}") from None
    job = proc.stdout.strip().split(";")[0].splitlines()[0] if proc.stdout.strip() else "?"
    print(f"{job} report (after {':'.join(deps) if deps else 'nothing'})", flush=True)
    if proc.returncode != 0:
        log(f"report job {job}: sbatch exit {proc.returncode}: {proc.stderr.strip()}")
        return EXIT_FAILED
    return EXIT_OK


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="attnbench study", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    sub = ap.add_subparsers(dest="command", required=True, metavar="{run,submit,check}")
    for name, helptext in (("run", "run every point locally with mpirun"),
                           ("submit", "submit one Slurm job per point plus a report job"),
                           ("check", "validate the study file")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("file", metavar="FILE", help="study file (TOML), e.g. inputs/studies/demo.toml")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a study key, e.g. --set scaling.ranks=[1,2] --set attention.precision=single")
        if name != "check":
            p.add_argument("--dry-run", action="store_true", help="print what would run; run and write nothing")
            p.add_argument("--results", default=os.environ.get("ATTNBENCH_RESULTS", "results"),
                           help="results folder (default: ./results, or $ATTNBENCH_RESULTS)")
        if name == "check":
            p.add_argument("--cores", type=int, default=0,
                           help="cores a run may use, for 'max' and the rank check (default: this machine's)")
        if name == "submit":
            p.add_argument("--wait", action="store_true", help="block until the report job has finished")
    args = ap.parse_args(argv)
    try:
        return {"run": cmd_run, "submit": cmd_submit, "check": cmd_check}[args.command](args)
    except (StudyError, described.DescribeError) as e:
        log(f"attnbench study: error: {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        log("attnbench study: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
