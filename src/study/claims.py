"""Claims: a run of a study point is started by at most one runner at a time.

Before a runner (the local runner `attnbench study run`, a Slurm job of jobs/run.sbatch, or
`attnbench study submit` for the jobs it queues) starts run k of a point, it creates
<point>/run<k>.claim exclusively (O_CREAT | O_EXCL: of two runners exactly one succeeds) with
KEY=VALUE lines saying who holds it:

  token=<unique id>  runner=local|slurm|submit  host=<hostname>  pid=<pid>  pid_start=<jiffies>
  slurm_job_id=<id, or the array's job id>  created=<ISO time>

A claim that exists is honoured unless it is stale:
  - it names a Slurm job: stale when squeue no longer lists that job (when squeue cannot be asked,
    the claim is honoured: the runner says so and skips the run);
  - otherwise, on this host: stale when the pid is gone or is another process (its start time,
    /proc/<pid>/stat field 22, differs); on another host: honoured (it cannot be checked from here).
A stale claim is moved aside (renamed, so of two runners that both found it stale one wins) and
the claim is taken again exclusively. The holder removes its claim when the run is over.
jobs/run.sbatch implements the same rules in bash (set -o noclobber).
"""
from __future__ import annotations

import datetime
import os
import socket
import subprocess
import uuid
from pathlib import Path

LIVE_SLURM_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
                     "STOPPED", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT"}


def claim_path(pdir: Path, k: int) -> Path:
    return Path(pdir) / f"run{k}.claim"


def pid_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot ('' if it does not exist)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may contain spaces and parentheses: split after its last ')'
    return text.rsplit(")", 1)[1].split()[19]


def read(path: Path) -> dict:
    try:
        return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)
    except OSError:
        return {}


def slurm_job_state(job_id: str) -> str | None:
    """The job's state from squeue ('' when squeue does not list it), None when squeue cannot be asked."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # squeue exits non-zero for a job id it has forgotten ("Invalid job id specified")
        return "" if "invalid job id" in out.stderr.lower() else None
    states = out.stdout.split()
    return states[0] if states else ""


def holder_alive(info: dict) -> tuple[bool, str]:
    """(is the holder of this claim still running, a description of the holder)."""
    job = info.get("slurm_job_id", "")
    host = info.get("host", "?")
    if job:
        st = slurm_job_state(job)
        who = f"Slurm job {job} ({info.get('runner', '?')})"
        if st is None:
            return True, f"{who}, whose state squeue cannot tell here (the claim is honoured)"
        return (st in LIVE_SLURM_STATES), f"{who}, {st.lower() or 'no longer queued'}"
    pid = info.get("pid", "")
    who = f"{info.get('runner', '?')} runner pid {pid} on {host}"
    if host != socket.gethostname():
        return True, f"{who} (another host: cannot be checked from here; the claim is honoured)"
    if not pid.isdigit():
        return False, f"{who} (no pid)"
    start = pid_start(int(pid))
    if not start:
        return False, f"{who}, gone"
    if info.get("pid_start") and info["pid_start"] != start:
        return False, f"{who}, gone (the pid now belongs to another process)"
    return True, f"{who}, running"


def new_owner(runner: str, slurm_job_id: str = "") -> dict:
    pid = os.getpid()
    return {"token": uuid.uuid4().hex[:12], "runner": runner, "host": socket.gethostname(), "pid": str(pid),
            "pid_start": pid_start(pid), "slurm_job_id": slurm_job_id,
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def _create(path: Path, owner: dict) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in owner.items()))
        f.flush()
        os.fsync(f.fileno())
    return True


def acquire(pdir: Path, k: int, owner: dict, same_job_ok: bool = False) -> tuple[bool, str]:
    """Take run k's claim for `owner`. (True, "") when taken; (False, who holds it) otherwise.
    same_job_ok: a claim of the same Slurm job id counts as ours (submit vs its own job)."""
    path = claim_path(pdir, k)
    for _ in range(3):
        if _create(path, owner):
            return True, ""
        info = read(path)
        if not info:          # being written right now, or removed meanwhile: look again
            if not path.exists():
                continue
            return False, f"a claim being written ({path})"
        if same_job_ok and owner.get("slurm_job_id") and info.get("slurm_job_id") == owner["slurm_job_id"]:
            return True, ""
        alive, who = holder_alive(info)
        if alive:
            return False, who
        # Stale: move it aside under a unique name; only one of several runners succeeds per claim.
        aside = path.with_name(f"{path.name}.stale-{owner['token']}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        if read(aside).get("token") != info.get("token"):   # we moved a fresh claim of someone else: put it back
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
            os.unlink(aside)
            return False, "another runner (the claim changed hands just now)"
        os.unlink(aside)
    return False, f"another runner (the claim {path} keeps changing)"


def release(pdir: Path, k: int, owner: dict):
    """Remove run k's claim if it is still ours."""
    path = claim_path(pdir, k)
    if read(path).get("token") == owner["token"]:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
