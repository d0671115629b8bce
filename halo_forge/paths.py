"""Where halo-forge keeps its caches (built-in tiny models, materialised datasets), and whether the processes
it started (a run, a server, a process group) still run."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """`$HALO_FORGE_HOME`, else `$XDG_CACHE_HOME/halo-forge`, else `~/.cache/halo-forge`."""
    if os.environ.get("HALO_FORGE_HOME"):
        return Path(os.environ["HALO_FORGE_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "halo-forge"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host. A zombie (exited, not yet reaped by its parent: a
    server or run this very process started and killed) is not alive; one we may not inspect is."""
    import psutil

    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False  # a damaged record: never a process group or this host's scheduler
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def end_group(pgid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group `pgid`, SIGKILL what is left after `grace` seconds. Members that have exited
    but are not reaped yet (zombies: the caller's own children) count as gone."""
    import signal
    import time

    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_alive(pgid: int) -> bool:
    """Whether a member of process group `pgid` still runs (zombies do not)."""
    import psutil

    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except OSError:
            continue
    return False


def cached_folder(target: Path, build, *, marker: str) -> Path:
    """`target`, built on first use by `build(tmp_folder)` and renamed into place atomically.

    `marker` is a file `build` writes last; its presence means the folder is complete. Two processes
    building at once both succeed: the first rename wins and the other copy is dropped.
    """
    import shutil
    import tempfile

    target = Path(target)
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
