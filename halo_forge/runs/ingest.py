"""Writing the index: `add`/`flush` ingest the inbox; `reindex` rebuilds the whole file from disk.

The index is derived data. `reindex()` rebuilds it from the `training_summary.json` files under
the given roots and from the replay records (`replay/<run_id>/recorded_summary.json`, with the
manifest's `original_output`): a run whose summary file is damaged or gone is indexed from its
replay record, and its summary file is restored from it. The new index is built beside the old one
(which may itself be damaged: it is never read) and swapped in atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from halo_forge.runs import schema
from halo_forge.runs.columns import HEADLINE, arrow_type
from halo_forge.runs.inbox import inbox_name, why
from halo_forge.runs.models import ReindexReport
from halo_forge.runs.query import RunsError
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic

SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
RECORDED = "recorded_summary.json"


def summary_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
        if SUMMARY_FILE in files:
            yield Path(folder) / SUMMARY_FILE


def replay_records(replay_dir: Path) -> dict[str, tuple[Path, str | None]]:
    """run_id → (its recorded summary, the output folder the run wrote) for every readable replay record."""
    out: dict[str, tuple[Path, str | None]] = {}
    for recorded in sorted(Path(replay_dir).glob(f"*/{RECORDED}")) if Path(replay_dir).is_dir() else []:
        original = None
        try:
            original = json.loads((recorded.parent / "manifest.json").read_text(encoding="utf-8")).get("original_output")
        except (OSError, ValueError, AttributeError):
            pass
        out[recorded.parent.name] = (recorded, original)
    return out


def _read_summaries(files: list[Path]) -> tuple[dict[str, tuple[float, TrainingSummary]], dict[str, str], int]:
    """(run_id → (mtime, newest summary), damaged file → why, duplicates) of `files`."""
    found: dict[str, tuple[float, TrainingSummary]] = {}
    rejected: dict[str, str] = {}
    duplicates = 0
    for f in files:
        try:
            s = TrainingSummary.model_validate_json(f.read_bytes())
        except (OSError, ValueError) as exc:
            rejected[str(f)] = why(exc)
            continue
        mtime = f.stat().st_mtime
        if s.run_id in found:
            duplicates += 1
            if found[s.run_id][0] > mtime:
                continue
        found[s.run_id] = (mtime, s)
    return found, rejected, duplicates


def _from_replay(found: dict, rejected: dict[str, str], replay_dir: Path) -> tuple[dict[str, str], int]:
    """Add the runs only the replay records still hold; restore damaged summary files from them.

    Returns (damaged file → record it was restored from, runs indexed from a record alone)."""
    recovered: dict[str, str] = {}
    added = 0
    for run_id, (recorded, original) in replay_records(replay_dir).items():
        if run_id in found:
            continue
        try:
            s = TrainingSummary.model_validate_json(recorded.read_bytes())
        except (OSError, ValueError) as exc:
            rejected[str(recorded)] = why(exc)
            continue
        found[run_id] = (-1.0, s)
        added += 1
        target = Path(original) / SUMMARY_FILE if original else None
        if target is not None and target.parent.is_dir() and (str(target) in rejected or not target.exists()):
            try:
                write_json_atomic(target, s.model_dump(mode="json"))
            except OSError:
                continue
            rejected.pop(str(target), None)
            recovered[str(target)] = str(recorded)
    return recovered, added


class IngestMixin:
    """RunIndex's write side."""

    def add(self, summary: TrainingSummary, *, wait: float | None = None) -> bool:
        """Record a finished run (replacing any earlier record of its run_id).

        The summary is safe on disk when this returns. True when it is in the index too; False when
        another process held the index for longer than `wait` seconds (default `lock_timeout`): the
        run then stays in the inbox and the next add/search/reindex writes it. Never raises on lock
        contention.
        """
        write_json_atomic(self.inbox / inbox_name(summary.run_id), summary.model_dump(mode="json"))
        return self.flush(self.lock_timeout if wait is None else wait)

    def flush(self, timeout: float | None = None) -> bool:
        """Write every pending inbox summary into the index; False if the lock was not had in time."""
        if self.path.exists() and not self.pending():
            return True
        with self._lock(exclusive=True, timeout=self.lock_timeout if timeout is None else timeout) as ok:
            if not ok:
                return False
            self._ingest_locked()
        return True


    def _ingest_locked(self, *, check: bool = False) -> None:
        if not check and self.path.exists() and not self.pending():
            return  # another process ingested our summaries while we waited for the lock
        summaries, files = self._claim()
        con = self._connect(read_only=False)
        try:
            schema.ensure_schema(con, self.path)
            if summaries:
                schema.insert_summaries(con, summaries)
        finally:
            con.close()
            self._bump()
        for f in files:
            f.unlink(missing_ok=True)

    def reindex(self, roots: Iterable[Path | str] | None = None) -> ReindexReport:
        """Rebuild the whole index from the `training_summary.json` files under `roots` (default: the
        workspace root), the replay records and any summaries still in the inbox. The new index is
        built beside the old one and swapped in atomically; the old one is never read."""
        t0 = time.monotonic()
        roots = [Path(r).expanduser().resolve() for r in (roots or [self.workspace.root])]
        missing = [str(r) for r in roots if not r.exists()]
        if missing:
            raise RunsError(f"reindex: no such folder: {', '.join(missing)}",
                            hint="give folders that hold runs (each with a training_summary.json)")
        files = sorted({f for root in roots for f in summary_files(root)})
        found, rejected, duplicates = _read_summaries(files)
        recovered, from_replay = _from_replay(found, rejected, self.workspace.replay_dir)
        with self._lock(exclusive=True, timeout=self.lock_timeout) as ok:
            if not ok:
                raise RunsError(f"the run index {self.path} stayed busy for {self.lock_timeout:.0f} s",
                                hint="another halo-forge process is writing it; try again when it finishes")
            inbox, claimed = self._claim()
            for s in inbox:
                found[s.run_id] = (float("inf"), s)
            self._rebuild([s for _, s in found.values()])
            for f in claimed:
                f.unlink(missing_ok=True)
        return ReindexReport(roots=[str(r) for r in roots], found=len(files), indexed=len(found),
                             duplicates=duplicates, rejected=rejected, recovered=recovered, from_replay=from_replay,
                             seconds=round(time.monotonic() - t0, 3))

    def _rebuild(self, summaries: list[TrainingSummary]) -> None:
        """Under the exclusive lock: write `summaries` into a new file and swap it in for the index."""
        import duckdb

        from halo_forge.runs.readers import _pool

        tmp = self.path.with_name(self.path.name + ".rebuild")
        for p in (tmp, Path(f"{tmp}.wal")):
            p.unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
        try:
            schema.ensure_schema(con, tmp)
            schema.insert_summaries(con, summaries)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _pool(self.path).close()
        Path(f"{self.path}.wal").unlink(missing_ok=True)
        os.replace(tmp, self.path)
        self._bump()

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
                schema.ensure_schema(con, self.path)
                schema.insert(con, head, figs)
            finally:
                con.close()
                self._bump()
        return n
