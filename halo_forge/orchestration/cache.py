"""Recorded results by cache key: the fast path that answers a cache hit without Prefect.

`<workspace>/.halo-forge/results/<key>.json` holds the summary of the run that key produced. A
record only counts while the model it points to is still on disk with the same digest (a cached
path can point to a deleted folder). A hit asked for at another `--output` is materialised there
(`materialise`): the recorded files are hard-linked (copied across file systems) into a staging
folder that is renamed into place, so the folder appears complete or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from halo_forge.lineage.digests import model_digest
from halo_forge.summary import SUMMARY_FILE, TrainingSummary, write_json_atomic
from halo_forge.workspace import Workspace


def record_path(ws: Workspace, key: str) -> Path:
    return ws.results_dir / f"{key.split(':')[-1]}.json"


def read(ws: Workspace, key: str) -> dict | None:
    """The record for `key` as stored (None when there is none), whatever became of its model."""
    path = record_path(ws, key)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def lookup(ws: Workspace, key: str) -> dict | None:
    """The recorded summary for `key`, or None (no record, or its model is gone or changed)."""
    try:
        summary = read(ws, key)
    except (OSError, ValueError):
        return None
    if summary is None:
        return None
    out = summary.get("outputs", {})
    model_path = out.get("model_path")
    if summary.get("status") != "completed" or not model_path or not Path(model_path).is_dir():
        return None
    if out.get("model_digest") and model_digest(model_path) != out["model_digest"]:
        return None
    return summary


def store(ws: Workspace, key: str, summary: dict) -> Path:
    return write_json_atomic(record_path(ws, key), summary)


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of `src` into `dst` (a copy where links cannot be made)."""
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if rel == Path(".") and name == SUMMARY_FILE:
                continue  # rewritten below: a link would let that write change the recorded run's file
            try:
                os.link(Path(folder) / name, dst / rel / name)
            except OSError:
                shutil.copy2(Path(folder) / name, dst / rel / name)


def materialise(summary: TrainingSummary, output: Path, *, overwrite: bool) -> TrainingSummary:
    """The recorded run `summary` placed at `output` (unless it is there already); returns the summary
    as the requested folder holds it: `outputs.model_path` is `output`, `extra.cache_hit_from` names
    the run and folder it came from. Refuses (OutputError) a folder holding another run unless
    `overwrite`; the staging folder is removed on any failure."""
    from halo_forge.orchestration.storage import storage_errors
    from halo_forge.outputs import OutputFolder

    source = Path(summary.outputs.model_path).resolve()
    target = Path(output).resolve()
    if target == source or not source.is_dir():  # nothing to place (a record whose model is gone is not a hit)
        return summary
    placed = summary.model_copy(deep=True)
    placed.outputs.model_path = str(target)
    placed.extra["cache_hit_from"] = {"run_id": summary.run_id, "model_path": str(source)}
    existing = target / SUMMARY_FILE
    if existing.is_file():
        try:
            if json.loads(existing.read_text()).get("outputs", {}).get("model_digest") == summary.outputs.model_digest:
                return placed  # the same model is there already (an earlier hit materialised it)
        except (OSError, ValueError):
            pass
    folder = OutputFolder(target, f"hit-{summary.run_id}", overwrite=overwrite)
    with storage_errors(folder):
        try:
            staging = folder.open()
            _link_tree(source, staging)
            placed.write(staging)
            folder.publish()
        except BaseException:
            folder.abort()
            raise
    return placed
