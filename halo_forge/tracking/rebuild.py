"""A damaged MLflow store is rebuilt from the replay records, which hold every recorded run.

`store_damage(workspace)` says why the workspace's sqlite store cannot be read (truncated, corrupt),
None when it can (or is not a local sqlite file). `rebuild_store(workspace)` moves the damaged file
aside (`mlflow.db.damaged-<time>`) and logs each run recorded under `replay/<run_id>/` (config,
summary figures, summary artifact, dataset input, status) into a fresh store through the usual
pending-record sync. Step metrics (the loss curve) are not in the replay records and are not rebuilt.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from halo_forge.tracking._store import REBUILD_HINT, mlflow_status, new_record
from halo_forge.tracking.pending import SyncReport, save_pending, sync_pending

if TYPE_CHECKING:
    from halo_forge.workspace import Workspace



def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def store_damage(workspace: "Workspace") -> str | None:
    """Why the workspace's sqlite MLflow store cannot be read, or None (readable, absent, or not sqlite)."""
    path = sqlite_path(workspace.mlflow_uri)
    if path is None or not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if row and row[0] == "ok" else str(row[0] if row else "quick_check returned nothing")


def damage_error(workspace: "Workspace", why: str):
    from halo_forge.errors import TrackingStoreDamaged

    return TrackingStoreDamaged(f"the MLflow store {sqlite_path(workspace.mlflow_uri)} is damaged ({why})",
                                hint=REBUILD_HINT)


def _ms(iso: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
    except ValueError:
        return None


def _record(workspace: "Workspace", folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    summary = json.loads((folder / "recorded_summary.json").read_text(encoding="utf-8"))
    record = new_record("run", summary["run_id"], experiment="halo-forge", tracking_uri=workspace.mlflow_uri,
                        config=manifest.get("config") or summary.get("config") or {},
                        modality=summary.get("modality"), tags={"cache_key": (manifest.get("digests") or {}).get("cache_key"),
                                                                "rebuilt_from": "replay record"})
    data = Path(workspace.root) / manifest["dataset_file"] if manifest.get("dataset_file") else None
    record.update(final=True, final_status=mlflow_status(summary.get("status")), summary=summary,
                  summary_path=str(folder / "recorded_summary.json"),
                  dataset_path=str(data) if data is not None and data.is_file() else None,
                  start_time=_ms(summary.get("started_at")) or record["start_time"],
                  end_time=_ms(summary.get("ended_at")) or record["start_time"], pid=0)
    return record


def rebuild_store(workspace: "Workspace") -> tuple[Path | None, SyncReport]:
    """Move the damaged store aside (returns where) and log every recorded run into a fresh one."""
    moved = None
    path = sqlite_path(workspace.mlflow_uri)
    if path is not None and path.is_file():
        moved = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(moved)
    replay_dir = Path(workspace.replay_dir)
    for folder in sorted(replay_dir.glob("*/recorded_summary.json")) if replay_dir.is_dir() else []:
        try:
            save_pending(workspace, _record(workspace, folder.parent))
        except (OSError, ValueError, KeyError):
            continue  # a damaged record: `runs reindex` names it
    return moved, sync_pending(workspace)
