"""Reading the index: read-only connections kept per process, the version check, opens retried.

A process keeps its read connection (and DuckDB's cache of what it read) for `keepalive` idle
seconds between searches; no one can write the file meanwhile, so it never goes stale, and it is
closed as soon as this process waits for the lock or writes itself. Opens are retried with jittered
backoff, so a file held by some other program (a `duckdb` shell, or another process's kept reader)
means a short wait, never an error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from pathlib import Path

from halo_forge.runs.locking import _sleep
from halo_forge.runs.query import RunsError
from halo_forge.runs.schema import INDEX_VERSION, version


class _KeptReader:
    """This process's idle read-only connection to one index file (see RunIndex._reader)."""

    def __init__(self) -> None:
        self.use = threading.Lock()    # held for a whole search
        self.state = threading.Lock()  # guards the fields below
        self.con = None
        self.key: tuple | None = None
        self.pid = 0
        self.timer: threading.Timer | None = None

    def take(self, key: tuple | None):
        """The kept connection if it is for this version of the file (and process), else None."""
        with self.state:
            self._cancel()
            con, self.con = self.con, None
            if con is not None and (self.pid != os.getpid() or key is None or self.key != key):
                if self.pid == os.getpid():
                    _close_quietly(con)
                con = None
            return con

    def give(self, con, key: tuple | None, keepalive: float) -> None:
        with self.state:
            self._cancel()
            if keepalive <= 0 or key is None or self.con is not None:
                _close_quietly(con)
                return
            self.con, self.key, self.pid = con, key, os.getpid()
            self.timer = threading.Timer(keepalive, self.close)
            self.timer.daemon = True
            self.timer.start()

    def close(self) -> None:
        with self.state:
            self._cancel()
            if self.con is not None and self.pid == os.getpid():
                _close_quietly(self.con)
            self.con = None

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_POOLS: dict[str, _KeptReader] = {}
_POOLS_LOCK = threading.Lock()


def _pool(path: Path) -> _KeptReader:
    with _POOLS_LOCK:
        key = os.path.abspath(path)
        if key not in _POOLS:
            _POOLS[key] = _KeptReader()
        return _POOLS[key]


@atexit.register
def _close_pools() -> None:
    for pool in list(_POOLS.values()):
        pool.close()


def _close_quietly(con) -> None:
    with contextlib.suppress(Exception):
        con.close()


def _is_duckdb_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb")


def _stat_key(path: Path) -> tuple | None:
    """Which version of the index file this is: its inode, size and mtime, and the token every
    writer rewrites beside it (made here for an index written before tokens existed)."""
    token_file = Path(f"{path}.generation")
    try:
        try:
            token = token_file.read_text()
        except FileNotFoundError:
            token = os.urandom(8).hex()
            token_file.write_text(token)
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, token)


class _Reader:
    """A read-only connection plus the figure-column map, cached per version of the index file."""

    def __init__(self, con, index, key: tuple) -> None:
        self.con, self.index, self.key = con, index, key

    def execute(self, *args):
        return self.con.execute(*args)

    def figures(self) -> dict[tuple[str, str], str | None]:
        cached = self.index._figure_cache
        if cached is None or self.key is None or cached[0] != self.key:
            mapping = {(p, k): c for p, k, c in
                       self.con.execute("SELECT path, kind, col FROM figure_columns").fetchall()}
            self.index._figure_cache = cached = (self.key, mapping)
        return cached[1]



def connect(path: Path, *, read_only: bool, timeout: float):
    """A DuckDB connection, retried with jittered backoff while another program holds the file."""
    import duckdb

    if not read_only:  # DuckDB refuses a writer beside this process's own kept reader
        _pool(path).close()
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise RunsError(f"cannot open the run index {path}: {exc}",
                                hint="it is derived data: `halo-forge runs reindex` rebuilds it") from exc
            if time.monotonic() >= deadline:
                raise RunsError(f"the run index {path} is held by another program",
                                hint="close other tools that have it open (a duckdb shell?) and retry") from exc
            _sleep(attempt)
            attempt += 1


class ReadingMixin:
    """RunIndex's read side: `_reader()` yields a `_Reader` under the shared lock."""

    def _connect(self, *, read_only: bool):
        return connect(self.path, read_only=read_only, timeout=self.lock_timeout)

    def _bump(self) -> None:
        """After a write (under the exclusive lock): readers' cached facts about the file are stale."""
        Path(f"{self.path}.generation").write_text(os.urandom(8).hex())

    @contextlib.contextmanager
    def _reader(self):
        """A read-only connection under the shared lock, after ingesting pending summaries.

        With `keepalive` > 0 the connection (and DuckDB's cache of the blocks it read) is kept for
        the next search in this process for that many idle seconds. While it is open no other
        process can write the file, so it never goes stale; it is closed the moment this process
        has to wait for the lock (a writer is queued) or writes itself, and writers elsewhere retry
        their open until it closes (at most `keepalive` seconds).
        """
        self.flush()
        pool = _pool(self.path)
        for _attempt in range(2):
            with pool.use:  # one search at a time per process and index file
                with self._lock(exclusive=False, timeout=self.lock_timeout, on_wait=pool.close) as ok:
                    if not ok:
                        raise RunsError(f"the run index {self.path} stayed busy for {self.lock_timeout:.0f} s",
                                        hint="a reindex or bulk load is running; try again when it finishes")
                    if self.path.exists():
                        reader = self._open_reader(pool)
                        if reader is not None:
                            healthy = True
                            try:
                                yield reader
                                return
                            except Exception as exc:
                                healthy = not _is_duckdb_error(exc)
                                raise
                            finally:
                                pool.give(reader.con, reader.key, self.keepalive if healthy else 0)
            # missing or from another index version: (re)build under the exclusive lock, then read
            with self._lock(exclusive=True, timeout=self.lock_timeout) as ok:
                if ok:
                    self._ingest_locked(check=True)
        raise RunsError(f"the run index {self.path} could not be prepared",
                        hint="`halo-forge runs reindex` rebuilds it")

    def _open_reader(self, pool: _KeptReader) -> "_Reader | None":
        """A reader on the current file when it is at INDEX_VERSION; None (connection given back) otherwise."""
        key = _stat_key(self.path)  # changes whenever a writer has touched the file
        con = pool.take(key) or self._connect(read_only=True)
        try:
            if (key is not None and self._checked == key) or version(con) == INDEX_VERSION:
                self._checked = key
                return _Reader(con, self, key)
        except Exception as exc:
            pool.give(con, key, 0 if _is_duckdb_error(exc) else self.keepalive)
            raise
        pool.give(con, key, self.keepalive)
        return None
