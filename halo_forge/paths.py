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
    """Whether a process with this pid exists on this host (a permission error means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
