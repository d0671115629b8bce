"""Recorded results by cache key: the fast path that answers a cache hit without Prefect.

`<workspace>/.halo-forge/results/<key>.json` holds the summary of the run that key produced. A
record only counts while the model it points to is still on disk with the same digest (a cached
path can point to a deleted folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from halo_forge.lineage.digests import model_digest
from halo_forge.summary import write_json_atomic
from halo_forge.workspace import Workspace


def record_path(ws: Workspace, key: str) -> Path:
    return ws.results_dir / f"{key.split(':')[-1]}.json"


def lookup(ws: Workspace, key: str) -> dict | None:
    """The recorded summary for `key`, or None (no record, or its model is gone or changed)."""
    path = record_path(ws, key)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
