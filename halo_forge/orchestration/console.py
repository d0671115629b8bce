"""What Prefect may print on the console during a halo-forge run.

Prefect logs every failed task and flow with a traceback. For a user's mistake (a `HaloForgeError`:
bad data, a full disk, an output folder holding another run) the CLI prints one `Error:` line
instead, so those records are dropped; so is everything Prefect logs while its API does not answer
(retries, event-worker tracebacks), since the run's summary names that failure once as a platform
error. Bugs keep Prefect's traceback.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from halo_forge import errors


def _user_error_names() -> tuple[str, ...]:
    found, todo = [], [errors.HaloForgeError]
    while todo:
        cls = todo.pop()
        found.append(cls.__name__)
        todo.extend(cls.__subclasses__())
    return tuple(found)


class PrefectNoise(logging.Filter):
    """Drops Prefect's records about user errors, and all of them while its API does not answer."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.checked, self.up = url, 0.0, True
        self.user_errors = _user_error_names()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("prefect"):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, errors.HaloForgeError):
            return False
        if record.levelno >= logging.ERROR and any(f"exception {n}" in str(record.msg) or f" {n}(" in str(record.msg)
                                                   for n in self.user_errors):
            return False
        if time.monotonic() - self.checked > 1.0:
            from halo_forge.orchestration.server import healthy

            self.up, self.checked = healthy(self.url, timeout=0.5), time.monotonic()
        return self.up


@contextmanager
def quiet_prefect(url: str | None):
    """Install `PrefectNoise` on every handler Prefect logs through, for the block."""
    if not url:
        yield
        return
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect's handlers exist from here on
    flt = PrefectNoise(url.removesuffix("/api") + "/api")
    names = ["", *[n for n in logging.root.manager.loggerDict if n.startswith("prefect")]]
    handlers = {h for n in names for h in logging.getLogger(n).handlers}
    for h in handlers:
        h.addFilter(flt)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(flt)
