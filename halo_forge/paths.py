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
