"""MLX runtime helpers: availability, seeding, and the Metal-only calls, guarded.

mlx-lm and some MLX training code call Metal-only APIs (`mx.metal.device_info()["max_recommended_working_set_size"]`,
`set_wired_limit`, `mx.metal.get_peak_memory`). On Linux CPU these are absent, deprecated or return `{}`;
every such call goes through here so it is a no-op (or None) off Apple silicon.
"""

from __future__ import annotations

import importlib.util

from halo_forge.errors import BackendError


def require_mlx() -> None:
    """Raise a clear error unless mlx and mlx-lm are importable."""
    missing = [m for m in ("mlx", "mlx_lm") if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendError(f"the MLX backend needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                           "not installed", hint='pip install "halo-forge[mlx]" (Apple silicon, or Linux CPU with glibc >= 2.35)')


def on_metal() -> bool:
    """True when MLX runs on an Apple GPU (Metal available and the default device)."""
    import mlx.core as mx

    try:
        return bool(mx.metal.is_available()) and mx.default_device() == mx.gpu
    except (AttributeError, RuntimeError):
        return False


def device_description() -> dict:
    """What MLX runs on: {'device': 'gpu'|'cpu', 'metal': bool, **mx.device_info()} (never raises)."""
    import mlx.core as mx

    info: dict = {}
    try:
        info = dict(mx.device_info())
    except (AttributeError, RuntimeError):
        pass
    return {"device": "gpu" if on_metal() else "cpu", "metal": on_metal(), **info}


def recommended_working_set() -> int | None:
    """Metal's recommended working-set size in bytes; None off Metal."""
    return device_description().get("max_recommended_working_set_size") if on_metal() else None


def set_wired_limit(limit: int | None = None) -> int | None:
    """Wire up to `limit` bytes (default: the recommended working set) on Metal; returns the previous limit,
    or None where there is nothing to wire (CPU)."""
    import mlx.core as mx

    limit = recommended_working_set() if limit is None else limit
    if limit is None or not on_metal():
        return None
    return mx.set_wired_limit(limit)


def peak_memory_bytes() -> int | None:
    """Peak memory MLX allocated (Metal or CPU allocator); None when this mlx cannot tell."""
    import mlx.core as mx

    fn = getattr(mx, "get_peak_memory", None)
    try:
        return int(fn()) if fn is not None else None
    except RuntimeError:
        return None


def seed(value: int) -> None:
    """Seed MLX's global generator (LoRA init, dropout, sampling) and numpy's (batch order)."""
    import mlx.core as mx
    import numpy as np

    mx.random.seed(int(value))
    np.random.seed(int(value) % 2**32)
