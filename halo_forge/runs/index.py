"""The run index: every finished run's summary in one DuckDB file, searchable, safe under concurrency.

DuckDB lets one process write a database file and refuses even read-only opens while it does, so
the index never lets two processes open it at odds:

- `add()` first writes the summary atomically into `<workspace>/.halo-forge/index-inbox/`, then
  *ingests* the inbox: under an exclusive `fcntl` lock on `runs.duckdb.lock` it moves the inbox
  files to `index-inbox/claimed/`, writes them in one transaction through a short-lived connection
  and only then deletes them. A process that dies anywhere leaves its summary in the inbox or in
  `claimed/`, and the next ingest (any `add`, `search` or `reindex`) picks it up; re-adding a run
  replaces it, so ingesting twice is harmless.
- Readers hold a shared lock while they use their read-only connection; writers take the
  exclusive one (through a turnstile, so a process searching in a loop cannot starve them). A
  process that cannot get the lock in time leaves its file for the next ingest instead of
  failing. Opens are retried with jittered backoff, so a file held by some other program (a
  `duckdb` shell, or another process's kept reader) means a short wait, never an error.
- A process keeps its read connection (and DuckDB's cache of what it read) for `keepalive` idle
  seconds between searches; no one can write the file meanwhile, so it never goes stale, and it
  is closed as soon as this process waits for the lock or writes itself.
- The index is derived data: `reindex()` rebuilds it from the `training_summary.json` files on disk
  (into a new file, swapped in atomically).

Every scalar summary leaf outside the headline columns gets a real column of its own (named `f<N>`,
mapped in `figure_columns`), so a filter on `extra.steps_per_second` costs what one on
`final_train_loss` does. Paths through lists (or beyond `MAX_FIGURE_COLUMNS`) are read from the
summary JSON instead.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from halo_forge.runs.columns import FACETS, HEADLINE, arrow_type, build_batch
from halo_forge.runs.models import (Comparison, Lineage, LineageLink, ReindexReport, RunRow, SearchResult)
from halo_forge.runs.query import RunNotFound, RunsError, build_where, parse_condition, quote, sort_sql
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic
from halo_forge.workspace import Workspace, find_workspace

log = logging.getLogger("halo_forge.runs")

INDEX_VERSION = "2"  # 2: the dataset column (and facet)
MAX_FIGURE_COLUMNS = 1000
MAX_LIMIT = 10_000
MODEL_FACET_TOP = 20
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,150}$")
HEAD_SQL = ", ".join(quote(c) for c in HEADLINE)

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS runs ("
    + ", ".join(f"{quote(c.name)} {c.sql}" + (" PRIMARY KEY" if c.name == "run_id" else "")
                for c in HEADLINE.values())
    + ", summary JSON, search_text VARCHAR)",
    "CREATE TABLE IF NOT EXISTS edges (src VARCHAR, dst VARCHAR, kind VARCHAR, run_id VARCHAR)",
    "CREATE TABLE IF NOT EXISTS figure_columns (path VARCHAR, kind VARCHAR, col VARCHAR, PRIMARY KEY (path, kind))",
]
# dataset digest → run, base model → run, run → output model (nodes are `dataset:…`, `model:…`, `run:…`)
EDGES_FROM_BATCH = """
INSERT INTO edges
SELECT 'dataset:' || dataset_digest, 'run:' || run_id, 'dataset', run_id FROM _batch WHERE dataset_digest IS NOT NULL
UNION ALL
SELECT 'model:' || coalesce(model_digest, 'hub:' || model_name), 'run:' || run_id, 'base_model', run_id FROM _batch
 WHERE model_digest IS NOT NULL OR model_name IS NOT NULL
UNION ALL
SELECT 'run:' || run_id, 'model:' || output_model_digest, 'output_model', run_id FROM _batch
 WHERE output_model_digest IS NOT NULL
"""


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "+00:00"
    return value


def _row(values: Sequence[Any]) -> RunRow:
    return RunRow(**{name: _iso(v) for name, v in zip(HEADLINE, values)})


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


def _inbox_name(run_id: str) -> str:
    if _SAFE_NAME.match(run_id):
        return f"{run_id}.json"
    return "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:32] + ".json"


def _scalars(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted leaves of a dict; a list is one leaf (its JSON, or its length when long)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _scalars(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        text = json.dumps(node, default=str)
        yield prefix.rstrip("."), text if len(text) <= 200 else f"[{len(node)} items]"
    else:
        yield prefix.rstrip("."), node


class RunIndex:
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

    # --- writing --------------------------------------------------------------------------------

    def add(self, summary: TrainingSummary, *, wait: float | None = None) -> bool:
        """Record a finished run (replacing any earlier record of its run_id).

        The summary is safe on disk when this returns. True when it is in the index too; False when
        another process held the index for longer than `wait` seconds (default `lock_timeout`): the
        run then stays in the inbox and the next add/search/reindex writes it. Never raises on lock
        contention.
        """
        write_json_atomic(self.inbox / _inbox_name(summary.run_id), summary.model_dump(mode="json"))
        return self.flush(self.lock_timeout if wait is None else wait)

    def pending(self) -> int:
        """Summaries waiting in the inbox (not yet in the index)."""
        return len(self._inbox_files()) + len(self._claimed_files())

    def flush(self, timeout: float | None = None) -> bool:
        """Write every pending inbox summary into the index; False if the lock was not had in time."""
        if self.path.exists() and not self.pending():
            return True
        with self._lock(exclusive=True, timeout=self.lock_timeout if timeout is None else timeout) as ok:
            if not ok:
                return False
            self._ingest_locked()
        return True

    def reindex(self, roots: Iterable[Path | str] | None = None) -> ReindexReport:
        """Rebuild the whole index from the `training_summary.json` files under `roots` (default: the
        workspace root) plus any summaries still in the inbox. The new index is built beside the old
        one and swapped in atomically."""
        t0 = time.monotonic()
        roots = [Path(r).expanduser().resolve() for r in (roots or [self.workspace.root])]
        missing = [str(r) for r in roots if not r.exists()]
        if missing:
            raise RunsError(f"reindex: no such folder: {', '.join(missing)}",
                            hint="give folders that hold runs (each with a training_summary.json)")
        found: dict[str, tuple[float, TrainingSummary]] = {}
        rejected: dict[str, str] = {}
        files = sorted({f for root in roots for f in _summary_files(root)})
        duplicates = 0
        for f in files:
            try:
                s = TrainingSummary.model_validate_json(f.read_bytes())
            except (OSError, ValueError) as exc:
                rejected[str(f)] = _why(exc)
                continue
            mtime = f.stat().st_mtime
            if s.run_id in found:
                duplicates += 1
                if found[s.run_id][0] > mtime:
                    continue
            found[s.run_id] = (mtime, s)
        with self._lock(exclusive=True, timeout=self.lock_timeout) as ok:
            if not ok:
                raise RunsError(f"the run index {self.path} stayed busy for {self.lock_timeout:.0f} s",
                                hint="another halo-forge process is writing it; try again when it finishes")
            inbox, claimed = self._claim()
            for s in inbox:
                found[s.run_id] = (float("inf"), s)
            tmp = self.path.with_name(self.path.name + ".rebuild")
            for p in (tmp, Path(f"{tmp}.wal")):
                p.unlink(missing_ok=True)
            import duckdb

            con = duckdb.connect(str(tmp))
            try:
                self._ensure_schema(con)
                summaries = [s for _, s in found.values()]
                for i in range(0, len(summaries), 20_000):
                    self._insert(con, *build_batch(summaries[i:i + 20_000]))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _pool(self.path).close()
            Path(f"{self.path}.wal").unlink(missing_ok=True)
            os.replace(tmp, self.path)
            self._bump()
            for f in claimed:
                f.unlink(missing_ok=True)
        return ReindexReport(roots=[str(r) for r in roots], found=len(files), indexed=len(found),
                             duplicates=duplicates, rejected=rejected, seconds=round(time.monotonic() - t0, 3))

    def load_frame(self, frame: Any) -> int:
        """Bulk-load pre-flattened runs from a pandas DataFrame or pyarrow Table (the benchmark's path).

        Columns: the headline columns (`run_id` required), `summary` (the summary JSON, required),
        optionally `search_text` (lower-case free text; built from the headline text columns when
        absent) and figure columns named by dotted path (`extra.steps_per_second`), numeric or text.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        names = set(table.column_names)
        if not {"run_id", "summary"} <= names:
            raise RunsError("load_frame needs run_id and summary columns", hint="add them to the frame")
        unknown = [n for n in names if n not in HEADLINE and n not in ("summary", "search_text") and "." not in n]
        if unknown:
            raise RunsError(f"load_frame: unknown columns {unknown}",
                            hint=f"use headline names ({', '.join(HEADLINE)}) or dotted figure paths")
        n = table.num_rows
        cols = {}
        for name, col in HEADLINE.items():
            cols[name] = (table[name].cast(arrow_type(col.sql)) if name in names
                          else pa.nulls(n, type=arrow_type(col.sql)))
        cols["summary"] = table["summary"].cast(pa.string())
        if "search_text" in names:
            cols["search_text"] = table["search_text"].cast(pa.string())
        else:
            parts = [pc.fill_null(cols[c], "") for c in ("run_id", "modality", "model_name", "status", "verdict")]
            cols["search_text"] = pc.utf8_lower(pc.binary_join_element_wise(*parts, " "))
        head = pa.table(cols)
        figs = {}
        for name in table.column_names:
            if "." in name:
                arr = table[name]
                if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                    figs[(name, "str")] = arr.cast(pa.string())
                else:
                    figs[(name, "num")] = arr.cast(pa.float64())
        with self._lock(exclusive=True, timeout=self.lock_timeout) as ok:
            if not ok:
                raise RunsError(f"the run index {self.path} stayed busy for {self.lock_timeout:.0f} s")
            con = self._connect(read_only=False)
            try:
                self._ensure_schema(con)
                self._insert(con, head, figs)
            finally:
                con.close()
                self._bump()
        return n

    # --- reading --------------------------------------------------------------------------------

    def search(self, *, modality: str | Sequence[str] | None = None, model: str | None = None,
               verdict: str | Sequence[str] | None = None, status: str | Sequence[str] | None = None,
               since: str | None = None, until: str | None = None, where: str | Sequence[str] = (),
               text: str | None = None, sort: str = "started_at", descending: bool = True,
               limit: int = 20, offset: int = 0, facets: bool = True) -> SearchResult:
        """Runs matching every filter given, a page of them sorted, the total and facet counts.

        modality/verdict/status: one value, a list or comma-separated values. model: substring of
        the model name (any case). since/until: ISO dates or times on started_at (a bare `until`
        date includes that day). where: `FIELD OP VALUE` expressions (see `halo_forge.runs.query`).
        text: every word must occur in the run id, model, modality, status, verdict reasons,
        dataset or text config settings. sort: a headline column. Raises RunsError on a bad filter.
        """
        if not 0 <= int(limit) <= MAX_LIMIT:
            raise RunsError(f"limit {limit} is out of range", hint=f"use 0 ≤ limit ≤ {MAX_LIMIT}")
        if int(offset) < 0:
            raise RunsError(f"offset {offset} is negative", hint="use offset ≥ 0")
        for expr in [where] if isinstance(where, str) else list(where or ()):
            parse_condition(expr)  # syntax errors before touching the index
        with self._reader() as con:
            figures = con.figures
            where_sql, params = build_where(modality=modality, model=model, verdict=verdict, status=status,
                                            since=since, until=until, where=where, text=text, figures=figures)
            order = sort_sql(sort, figures)
            clause = f"WHERE {where_sql}" if where_sql else ""
            direction = "DESC" if descending else "ASC"
            if "search_text" in where_sql or "json_extract" in where_sql:
                ids, total, facet_counts = _page_and_facets(con, clause, params, order, direction, int(limit),
                                                            int(offset), facets)
            else:
                # the page's row ids first, then their columns: a filter matching many rows then
                # reads ~25 columns for 20 rows instead of for every match
                ids = [r[0] for r in con.execute(
                    f"SELECT rowid FROM runs {clause} ORDER BY {order} {direction} NULLS LAST, rowid {direction} "
                    "LIMIT ? OFFSET ?", [*params, int(limit), int(offset)]).fetchall()]
                facet_counts: dict[str, dict[str, int]] = {}
                if facets:
                    total, facet_counts = _facets(con, clause, params)
                elif offset == 0 and len(ids) < limit:
                    total = len(ids)
                else:
                    total = con.execute(f"SELECT count(*) FROM runs {clause}", params).fetchone()[0]
            got = {r[-1]: r[:-1] for r in con.execute(
                f"SELECT {HEAD_SQL}, rowid FROM runs WHERE rowid = ANY(?)", [ids]).fetchall()} if ids else {}
            rows = [got[i] for i in ids]
        return SearchResult(rows=[_row(r) for r in rows], total=total, limit=int(limit), offset=int(offset),
                            sort=sort, descending=descending, facets=facet_counts)

    def get(self, run_id: str) -> TrainingSummary:
        """The full summary of one run; RunNotFound (a HaloForgeError) when it is not indexed."""
        with self._reader() as con:
            hit = con.execute("SELECT summary FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
        return TrainingSummary.model_validate_json(hit[0])

    def row(self, run_id: str) -> RunRow:
        """The headline figures of one run."""
        with self._reader() as con:
            hit = con.execute(f"SELECT {HEAD_SQL} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
        return _row(hit)

    def compare(self, run_ids: Sequence[str]) -> Comparison:
        """Headline figures side by side, and the config settings and `extra` figures that differ."""
        ids = list(dict.fromkeys(run_ids))
        if len(ids) < 2:
            raise RunsError("compare needs at least two different run ids", hint="halo-forge runs compare RUN RUN …")
        with self._reader() as con:
            got = {r[0]: r for r in con.execute(
                f"SELECT {HEAD_SQL}, summary FROM runs WHERE run_id IN ({', '.join('?' * len(ids))})", ids).fetchall()}
            missing = [i for i in ids if i not in got]
            if missing:
                raise _not_found(con, missing)
        rows = [_row(got[i][:-1]) for i in ids]
        docs = [json.loads(got[i][-1]) for i in ids]
        headline = {name: [getattr(r, name) for r in rows] for name in HEADLINE}
        differing = [name for name, values in headline.items()
                     if name != "run_id" and len({json.dumps(v) for v in values}) > 1]
        return Comparison(runs=rows, headline=headline, differing=differing,
                          config=_differences([d.get("config") or {} for d in docs]),
                          extra=_differences([d.get("extra") or {} for d in docs]))

    def lineage(self, run_id: str, *, max_depth: int = 50) -> Lineage:
        """Earlier stages (the runs whose output model this run trained from, and theirs) and later
        ones (runs that trained from this run's output model), plus runs on the same dataset."""
        with self._reader() as con:
            hit = con.execute(f"SELECT {HEAD_SQL} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if hit is None:
                raise _not_found(con, [run_id])
            run = _row(hit)
            base = run.model_digest or (f"hub:{run.model_name}" if run.model_name else None)
            upstream = _walk(con, run.run_id, base, up=True, max_depth=max_depth)
            downstream = _walk(con, run.run_id, run.output_model_digest, up=False, max_depth=max_depth)
            same = []
            if run.dataset_digest:
                same = [r[0] for r in con.execute(
                    "SELECT run_id FROM edges WHERE kind = 'dataset' AND src = ? AND run_id <> ? "
                    "ORDER BY run_id LIMIT 50",
                    [f"dataset:{run.dataset_digest}", run.run_id]).fetchall()]
        return Lineage(run=run, dataset_digest=run.dataset_digest, base_model=base,
                       output_model_digest=run.output_model_digest, upstream=upstream, downstream=downstream,
                       same_dataset=same)

    def count(self) -> int:
        with self._reader() as con:
            return con.execute("SELECT count(*) FROM runs").fetchone()[0]

    # --- machinery ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool, timeout: float, on_wait=None) -> Iterator[bool]:
        """An fcntl lock on the index (shared for readers, exclusive for writers); yields False on timeout.

        Writers first take a turnstile lock and hold it while they wait, and readers pass the
        turnstile before taking their shared lock: a reader arriving while a writer waits queues
        behind it, so a process searching in a loop cannot starve the writers. `on_wait` is called
        once if the lock is not free at the first try (readers close their kept connection then).
        """
        import fcntl

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        gate = os.open(self.gate_path, os.O_RDWR | os.O_CREAT, 0o644)
        fd = -1
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            if not _flock(gate, mode, deadline, on_wait):
                yield False
                return
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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

    def _connect(self, *, read_only: bool):
        """A DuckDB connection, retried with jittered backoff while another program holds the file."""
        import duckdb

        if not read_only:  # DuckDB refuses a writer beside this process's own kept reader
            _pool(self.path).close()
        deadline = time.monotonic() + self.lock_timeout
        attempt = 0
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise RunsError(f"cannot open the run index {self.path}: {exc}",
                                    hint="it is derived data: `halo-forge runs reindex` rebuilds it") from exc
                if time.monotonic() >= deadline:
                    raise RunsError(f"the run index {self.path} is held by another program",
                                    hint="close other tools that have it open (a duckdb shell?) and retry") from exc
                _sleep(attempt)
                attempt += 1

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
        for attempt in range(2):
            with pool.use:  # one search at a time per process and index file
                with self._lock(exclusive=False, timeout=self.lock_timeout, on_wait=pool.close) as ok:
                    if not ok:
                        raise RunsError(f"the run index {self.path} stayed busy for {self.lock_timeout:.0f} s",
                                        hint="a reindex or bulk load is running; try again when it finishes")
                    if self.path.exists():
                        key = _stat_key(self.path)  # changes whenever a writer has touched the file
                        con = pool.take(key) or self._connect(read_only=True)
                        healthy = True
                        try:
                            if (key is not None and self._checked == key) or _version(con) == INDEX_VERSION:
                                self._checked = key
                                yield _Reader(con, self, key)
                                return
                        except Exception as exc:
                            healthy = not _is_duckdb_error(exc)
                            raise
                        finally:
                            pool.give(con, key, self.keepalive if healthy else 0)
            # missing or from another index version: (re)build under the exclusive lock, then read
            with self._lock(exclusive=True, timeout=self.lock_timeout) as ok:
                if ok:
                    self._ingest_locked(check=True)
        raise RunsError(f"the run index {self.path} could not be prepared",
                        hint="`halo-forge runs reindex` rebuilds it")

    def _bump(self) -> None:
        """After a write (under the exclusive lock): readers' cached facts about the file are stale."""
        Path(f"{self.path}.generation").write_text(os.urandom(8).hex())

    def _inbox_files(self) -> list[Path]:
        try:
            return [p for p in self.inbox.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        except FileNotFoundError:
            return []

    def _claimed_files(self) -> list[Path]:
        try:
            return [p for p in self.claimed.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        except FileNotFoundError:
            return []

    def _claim(self) -> tuple[list[TrainingSummary], list[Path]]:
        """Under the exclusive lock: move inbox files to claimed/ and read every claimed summary."""
        self.claimed.mkdir(parents=True, exist_ok=True)
        for p in self._inbox_files():
            os.replace(p, self.claimed / p.name)
        summaries: dict[str, TrainingSummary] = {}
        files = sorted(self._claimed_files())
        for f in files:
            try:
                s = TrainingSummary.model_validate_json(f.read_bytes())
            except (OSError, ValueError) as exc:
                self._reject(f, exc)
                continue
            summaries[s.run_id] = s
        return list(summaries.values()), files

    def _reject(self, f: Path, exc: Exception) -> None:
        self.rejected.mkdir(parents=True, exist_ok=True)
        log.warning("run index: %s is not a valid training summary (%s); moved to %s", f.name, _why(exc), self.rejected)
        (self.rejected / f"{f.name}.error.txt").write_text(_why(exc) + "\n", encoding="utf-8")
        os.replace(f, self.rejected / f.name)

    def _ingest_locked(self, *, check: bool = False) -> None:
        if not check and self.path.exists() and not self.pending():
            return  # another process ingested our summaries while we waited for the lock
        summaries, files = self._claim()
        con = self._connect(read_only=False)
        try:
            self._ensure_schema(con)
            if summaries:
                self._insert(con, *build_batch(summaries))
        finally:
            con.close()
            self._bump()
        for f in files:
            f.unlink(missing_ok=True)

    def _ensure_schema(self, con) -> None:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        if tables and _version(con) != INDEX_VERSION:
            # another index version: rebuild from the summaries it holds (the JSON column is the truth)
            old = []
            if "runs" in tables:
                with contextlib.suppress(Exception):
                    old = [r[0] for r in con.execute("SELECT summary FROM runs").fetchall()]
            for t in tables:
                con.execute(f"DROP TABLE IF EXISTS {quote(t)}")
            self._create(con)
            keep = []
            for doc in old:
                with contextlib.suppress(ValueError):
                    keep.append(TrainingSummary.model_validate_json(doc))
            for i in range(0, len(keep), 20_000):
                self._insert(con, *build_batch(keep[i:i + 20_000]))
            log.warning("run index: rebuilt %s for index version %s (%d runs)", self.path, INDEX_VERSION, len(keep))
        elif not tables or "runs" not in tables:
            self._create(con)

    @staticmethod
    def _create(con) -> None:
        for stmt in SCHEMA:
            con.execute(stmt)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [INDEX_VERSION])

    @staticmethod
    def _insert(con, head, figs: dict) -> None:
        """Replace-or-insert a batch (one transaction): rows, their edges, new figure columns."""
        con.execute("BEGIN TRANSACTION")
        try:
            mapping = {(p, k): c for p, k, c in con.execute("SELECT path, kind, col FROM figure_columns").fetchall()}
            used = [int(c[1:]) for c in mapping.values() if c]
            next_n, n_cols = max(used, default=0) + 1, len(used)
            for key in figs:
                if key in mapping:
                    continue
                col = None
                if n_cols < MAX_FIGURE_COLUMNS:
                    col, next_n, n_cols = f"f{next_n}", next_n + 1, n_cols + 1
                    sql_type = "DOUBLE" if key[1] == "num" else "VARCHAR"
                    con.execute(f"ALTER TABLE runs ADD COLUMN {quote(col)} {sql_type}")
                con.execute("INSERT INTO figure_columns VALUES (?, ?, ?)", [key[0], key[1], col])
                mapping[key] = col
            table = head
            for key, arr in figs.items():
                if mapping[key]:
                    table = table.append_column(mapping[key], arr)
            con.register("_batch", table)
            con.execute("DELETE FROM edges WHERE run_id IN (SELECT run_id FROM _batch)")
            con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM _batch)")
            con.execute("INSERT INTO runs BY NAME SELECT * FROM _batch")
            con.execute(EDGES_FROM_BATCH)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(Exception):
                con.unregister("_batch")


# --- helpers ------------------------------------------------------------------------------------

def _why(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _version(con) -> str | None:
    try:
        hit = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except Exception:  # no meta table: not an index this code wrote
        return None
    return hit[0] if hit else None


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

    def __init__(self, con, index: RunIndex, key: tuple) -> None:
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


_GROUPING = ", ".join(f"GROUPING({quote(f)})" for f in FACETS)
_FACET_COLS = ", ".join(quote(f) for f in FACETS)
_FACET_SETS = ", ".join(["()"] + [f"({quote(f)})" for f in FACETS])


def _facet_sql(source: str, facets: bool) -> str:
    """Rows of (grouping flags…, facet values…, count) over `source` (FROM … WHERE …): one per facet
    value, and one with every flag set holding the total."""
    if not facets:
        return f"SELECT {', '.join(['1'] * len(FACETS))}, {', '.join(['NULL'] * len(FACETS))}, count(*) {source}"
    return f"SELECT {_GROUPING}, {_FACET_COLS}, count(*) {source} GROUP BY GROUPING SETS ({_FACET_SETS})"


def _parse_facets(rows) -> tuple[int, dict[str, dict[str, int]]]:
    k = len(FACETS)
    total = 0
    out: dict[str, dict[str, int]] = {f: {} for f in FACETS}
    for r in rows:
        flags, values, n = r[:k], r[k:2 * k], r[2 * k]
        if all(flags):
            total = n
            continue
        i = flags.index(0)
        out[FACETS[i]][values[i] if values[i] is not None else "(none)"] = n
    for f in FACETS:
        items = sorted(out[f].items(), key=lambda kv: (-kv[1], kv[0]))
        out[f] = dict(items[:MODEL_FACET_TOP] if f in ("model_name", "dataset") else items)
    return total, out


def _facets(con, clause: str, params: list) -> tuple[int, dict[str, dict[str, int]]]:
    return _parse_facets(con.execute(_facet_sql(f"FROM runs {clause}", True), params).fetchall())


def _page_and_facets(con, clause: str, params: list, order: str, direction: str, limit: int, offset: int,
                     facets: bool) -> tuple[list[int], int, dict[str, dict[str, int]]]:
    """One pass of an expensive filter (free text, JSON paths): the matching row ids are kept and
    both the page and the facet counts come from them."""
    k = len(FACETS)
    nulls = ", ".join(["NULL"] * (2 * k + 1))
    sql = (f"WITH m AS MATERIALIZED (SELECT rowid AS rid, {order} AS k FROM runs {clause}), "
           f"t AS (SELECT rid, row_number() OVER (ORDER BY k {direction} NULLS LAST, rid {direction}) AS pos FROM m "
           f"ORDER BY k {direction} NULLS LAST, rid {direction} LIMIT ? OFFSET ?), "
           f"f AS ({_facet_sql('FROM runs WHERE rowid IN (SELECT rid FROM m)', facets)}) "
           f"SELECT 0, *, NULL, NULL FROM f UNION ALL SELECT 1, {nulls}, rid, pos FROM t")
    rows = con.execute(sql, [*params, limit, offset]).fetchall()
    page = sorted((r for r in rows if r[0] == 1), key=lambda r: r[-1])
    total, counts = _parse_facets([r[1:-2] for r in rows if r[0] == 0])
    return [r[-2] for r in page], total, (counts if facets else {})


def _not_found(con, ids: list[str]) -> RunNotFound:
    hints = []
    for run_id in ids[:3]:
        hints += [r[0] for r in con.execute(
            "SELECT run_id FROM (SELECT run_id, jaro_winkler_similarity(run_id, ?) AS s FROM runs) "
            "WHERE s >= 0.75 ORDER BY s DESC, run_id LIMIT 3", [run_id]).fetchall()]
    hint = ("did you mean " + ", ".join(dict.fromkeys(hints)) + "?") if hints else \
        "`halo-forge runs search` lists the indexed runs; `halo-forge runs reindex` picks up runs on disk"
    what = "run" if len(ids) == 1 else "runs"
    return RunNotFound(f"no {what} {', '.join(ids)} in the run index", hint=hint)


def _walk(con, run_id: str, digest: str | None, *, up: bool, max_depth: int) -> list[LineageLink]:
    """Breadth-first along model digests: up = runs that produced `digest`, down = runs trained from it."""
    links: list[LineageLink] = []
    seen = {run_id}
    frontier = [digest] if digest else []
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        nodes = [f"model:{d}" for d in frontier]
        end, kind = ("dst", "output_model") if up else ("src", "base_model")
        rows = con.execute(
            f"SELECT e.{end}, {', '.join('r.' + quote(c) for c in HEADLINE)} FROM edges e "
            f"JOIN runs r ON r.run_id = e.run_id WHERE e.kind = ? AND e.{end} IN ({', '.join('?' * len(nodes))}) "
            "ORDER BY r.started_at NULLS LAST, r.run_id", [kind, *nodes]).fetchall()
        frontier = []
        for node, *values in rows:
            row = _row(values)
            if row.run_id in seen:
                continue
            seen.add(row.run_id)
            links.append(LineageLink(run_id=row.run_id, depth=depth, via=node.removeprefix("model:"),
                                     modality=row.modality, model_name=row.model_name, verdict=row.verdict,
                                     started_at=row.started_at, output_model_digest=row.output_model_digest))
            nxt = (row.model_digest or (f"hub:{row.model_name}" if row.model_name else None)) if up \
                else row.output_model_digest
            if nxt:
                frontier.append(nxt)
    return links


def _summary_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
        if SUMMARY_FILE in files:
            yield Path(folder) / SUMMARY_FILE



def _differences(docs: list[dict]) -> dict[str, list[Any]]:
    """Dotted scalar settings whose values are not the same in every doc (absent = None)."""
    flat = [dict(_scalars(d)) for d in docs]
    keys = sorted(set().union(*flat))
    return {k: [f.get(k) for f in flat] for k in keys
            if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1}


__all__ = ["RunIndex", "RunsError", "RunNotFound"]
