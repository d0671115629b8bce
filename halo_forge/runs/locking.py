"""The index's file locks: a shared/exclusive `fcntl` lock behind a turnstile, polled with jittered backoff.

Writers first take the turnstile (`runs.duckdb.gate`) and hold it while they wait for the lock
(`runs.duckdb.lock`); readers pass the turnstile before taking their shared lock. A reader arriving
while a writer waits queues behind it, so a process searching in a loop cannot starve the writers.
The kernel releases both when their holder dies.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from pathlib import Path
from typing import Iterator


def _sleep(attempt: int, cap: float = 0.2) -> None:
    time.sleep(min(cap, 0.002 * 2 ** min(attempt, 7)) * (0.5 + random.random()))


def _flock(fd: int, mode: int, deadline: float, on_wait=None) -> bool:
    """flock(fd, mode) polled with jittered backoff until `deadline` (monotonic); False if not had."""
    import fcntl

    attempt = 0
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt == 0 and on_wait is not None:
                on_wait()
            if time.monotonic() >= deadline:
                return False
            _sleep(attempt, cap=0.05)
            attempt += 1


@contextlib.contextmanager
def index_lock(gate_path: Path, lock_path: Path, *, exclusive: bool, timeout: float, on_wait=None) -> Iterator[bool]:
    """An fcntl lock on the index (shared for readers, exclusive for writers); yields False on timeout.

    `on_wait` is called once if the lock is not free at the first try (readers close their kept
    connection then).
    """
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    gate = os.open(gate_path, os.O_RDWR | os.O_CREAT, 0o644)
    fd = -1
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not _flock(gate, mode, deadline, on_wait):
            yield False
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        got = _flock(fd, mode, deadline, on_wait)
        fcntl.flock(gate, fcntl.LOCK_UN)
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(gate)
        if fd >= 0:
            os.close(fd)
