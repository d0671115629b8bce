"""Where halo-forge keeps its caches (built-in tiny models, materialised datasets)."""

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
