"""The run index: every finished run's summary in one DuckDB file, searchable, safe under concurrency.

DuckDB lets one process write a database file and refuses even read-only opens while it does, so
the index never lets two processes open it at odds. `RunIndex` is assembled from one module per
concern:

- `inbox`: `add()` writes the summary atomically into the inbox first, so a process that dies
  anywhere leaves it for the next ingest;
- `locking`: readers hold a shared `fcntl` lock, writers an exclusive one behind a turnstile;
- `ingest`: `add`/`flush` ingest the inbox; `reindex` rebuilds the file from the summaries and the
  replay records on disk (the index is derived data);
- `schema`: the tables, version check and the one batch insert (every scalar summary leaf outside
  the headline columns gets a real column `f<N>`, mapped in `figure_columns`);
- `readers`: read-only connections kept per process for `keepalive` idle seconds;
- `search` and `lineage`: the queries.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from halo_forge.runs.inbox import InboxMixin
from halo_forge.runs.ingest import IngestMixin
from halo_forge.runs.lineage import LineageMixin
from halo_forge.runs.locking import index_lock
from halo_forge.runs.query import RunNotFound, RunsError
from halo_forge.runs.readers import ReadingMixin
from halo_forge.runs.schema import MAX_FIGURE_COLUMNS
from halo_forge.runs.search import SearchMixin
from halo_forge.workspace import Workspace, find_workspace


class RunIndex(IngestMixin, SearchMixin, LineageMixin, ReadingMixin, InboxMixin):
    """The workspace's run index (`workspace.index_path`).

        index = RunIndex(find_workspace())
        index.add(summary)                     # every trainer, when a run finishes
        index.search(modality="sft", where=["eval_after>=0.6"], sort="eval_after")

    `lock_timeout`: the longest any call waits for another process (then: add → False, reads →
    RunsError). `keepalive`: idle seconds a read connection is kept for the next search (0: never).
    """

    def __init__(self, workspace: Workspace | Path | str | None = None, *, lock_timeout: float = 60.0,
                 keepalive: float = 1.0) -> None:
        if workspace is None:
            workspace = find_workspace()
        elif not isinstance(workspace, Workspace):
            workspace = Workspace(Path(workspace))
        self.workspace = workspace
        self.path = workspace.index_path
        self.inbox = workspace.data_dir / "index-inbox"
        self.claimed = self.inbox / "claimed"
        self.rejected = self.inbox / "rejected"
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.gate_path = self.path.with_name(self.path.name + ".gate")
        self.lock_timeout = lock_timeout
        self.keepalive = keepalive  # seconds an idle read connection is kept for the next search (0: never)
        self._checked: tuple | None = None  # stat key of the index file last seen at INDEX_VERSION
        self._figure_cache: tuple[tuple, dict] | None = None  # (stat key, figure column map)

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool, timeout: float, on_wait=None) -> Iterator[bool]:
        """The index lock (see `halo_forge.runs.locking`); yields False on timeout."""
        with index_lock(self.gate_path, self.lock_path, exclusive=exclusive, timeout=timeout,
                        on_wait=on_wait) as ok:
            yield ok


__all__ = ["RunIndex", "RunsError", "RunNotFound", "MAX_FIGURE_COLUMNS"]
