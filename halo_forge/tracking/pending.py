"""Pending tracking records and their replay (`halo-forge runs sync`).

A run that could not be logged completely is saved, atomically, as
`<workspace>/.halo-forge/tracking-pending/<run_id>.json` (a recipe's parent run as `parent-<name>.json`):
run id, config, tags, parent, the metric points not yet stored, the summary (path and content), the
dataset path, and which steps are already done. `sync_pending` replays each record into the current
tracking store and removes the file once nothing is left; replaying twice does not duplicate a run
(it is found by its `run_id` tag and updated).
"""

from __future__ import annotations

import json
import os
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from halo_forge.paths import pid_alive
from halo_forge.summary import write_json_atomic
from halo_forge.tracking._store import (RECORD_VERSION, STEPS, Store, Unreachable, describe, mlflow_status, now_ms,
                                        redact, remaining_steps)

if TYPE_CHECKING:
    from halo_forge.workspace import Workspace

PENDING_DIR = "tracking-pending"


def pending_dir(workspace: "Workspace") -> Path:
    return workspace.data_dir / PENDING_DIR


def pending_path(workspace: "Workspace", record: dict) -> Path:
    name = re.sub(r"[^\w.-]", "_", str(record["run_id"])).lstrip(".") or "_"
    return pending_dir(workspace) / (f"parent-{name}.json" if record.get("kind") == "parent" else f"{name}.json")


def save_pending(workspace: "Workspace", record: dict) -> Path:
    record["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return write_json_atomic(pending_path(workspace, record), record)


def remove_pending(workspace: "Workspace", record: dict) -> None:
    pending_path(workspace, record).unlink(missing_ok=True)


def list_pending(workspace: "Workspace") -> list[Path]:
    folder = pending_dir(workspace)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@dataclass
class SyncReport:
    synced: list[str] = field(default_factory=list)  # run ids now fully in the tracking store
    failed: dict[str, str] = field(default_factory=dict)  # run id -> why it is still pending
    skipped: dict[str, str] = field(default_factory=dict)  # run id or file -> why it was not attempted
    refused: dict[str, list[str]] = field(default_factory=dict)  # run id -> values MLflow refused (not retried)
    tracking_uri: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [f"synced {rid}" for rid in self.synced]
        out += [f"failed {rid}: {why}" for rid, why in self.failed.items()]
        out += [f"skipped {rid}: {why}" for rid, why in self.skipped.items()]
        out += [f"refused by MLflow in {rid}: {what}" for rid, items in self.refused.items() for what in items]
        return out or ["nothing pending"]


def sync_pending(workspace: "Workspace", *, experiment: str | None = None, force: bool = False) -> SyncReport:
    """Replay every pending record into the current tracking store (`workspace.mlflow_uri`).

    Unfinished records whose process is still alive (or ran on another host) are skipped unless
    `force`; an unfinished record whose process is gone is logged as KILLED. Never raises for
    tracking failures: they are in the report, and the records stay pending.
    """
    report = SyncReport(tracking_uri=redact(workspace.mlflow_uri))
    if not list_pending(workspace):
        return report
    with _sync_lock(pending_dir(workspace)):
        records = _load_records(workspace, report, force=force)
        stores: dict[str, Store | Unreachable] = {}
        for path, record in records:
            name = experiment or record.get("experiment") or "halo-forge"
            if name not in stores:
                try:
                    stores[name] = Store(workspace.mlflow_uri, name, workspace.mlflow_artifacts)
                except Unreachable as exc:
                    stores[name] = exc
            _sync_one(workspace, stores[name], path, record, report)
    return report


def _load_records(workspace: "Workspace", report: SyncReport, *, force: bool) -> list[tuple[Path, dict]]:
    """The pending records to replay, parents first; unreadable ones and (unless `force`) unfinished ones whose
    process may still run are skipped, in the report; unfinished ones whose process is gone become KILLED."""
    records: list[tuple[Path, dict]] = []
    for path in list_pending(workspace):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or "run_id" not in record:
                raise ValueError("not a tracking record")
        except (OSError, ValueError) as exc:
            report.skipped[path.name] = f"unreadable: {describe(exc)}"
            continue
        if int(record.get("version", 0)) > RECORD_VERSION:
            report.skipped[record["run_id"]] = f"record version {record.get('version')} is newer than this code"
            continue
        if not record.get("final"):
            if _maybe_running(record) and not force:
                report.skipped[record["run_id"]] = (
                    f"unfinished: its process ({record.get('host')} pid {record.get('pid')}) may still be "
                    "running; force it to log the run as KILLED")
                continue
            record.update(final=True, final_status=mlflow_status("killed"),
                          end_time=record.get("end_time") or now_ms())
        records.append((path, record))
    records.sort(key=lambda pr: (pr[1].get("kind") != "parent", pr[1].get("start_time") or 0))
    return records


def _sync_one(workspace: "Workspace", store, path: Path, record: dict, report: SyncReport) -> None:
    """Bring one record into `store` (or say in the report why not); its pending file goes once it is all in."""
    rid = record["run_id"]
    if isinstance(store, Unreachable):
        report.failed[rid] = str(store)
        return
    if record.get("tracking_uri") != redact(workspace.mlflow_uri):
        # another store than the one the run started in: its run id means nothing here, start over
        # (metric points already stored there are not in the record any more)
        if record.get("mlflow_run_id"):
            record["mlflow_run_id"], record["done"] = None, []
        record["tracking_uri"] = redact(workspace.mlflow_uri)
    try:
        store.advance(record)
    except Unreachable as exc:
        report.failed[rid] = str(exc)
        _save_progress(workspace, path, record, report)
        return
    left = remaining_steps(record)
    if left:
        report.failed[rid] = "not logged: " + ", ".join(STEPS[s] for s in left)
        _save_progress(workspace, path, record, report)
        return
    if record.get("failures"):
        report.refused[rid] = list(record["failures"])
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        report.failed[rid] = f"logged, but the pending file could not be removed: {describe(exc)}"
        return
    report.synced.append(rid)


def _save_progress(workspace: "Workspace", path: Path, record: dict, report: SyncReport) -> None:
    try:
        record["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(path, record)
    except Exception as exc:  # progress not saved: the next sync repeats the done steps (idempotent)
        report.failed[record["run_id"]] += f"; progress not saved: {describe(exc)}"


def _maybe_running(record: dict) -> bool:
    if record.get("host") != socket.gethostname():
        return True
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    return pid == os.getpid() or pid_alive(pid)


@contextmanager
def _sync_lock(folder: Path) -> Iterator[None]:
    """One sync at a time per workspace (so two syncs never both create a run)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".sync.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def mark_failed(workspace: "Workspace", run_id: str, reason: str, experiment: str = "halo-forge") -> str:
    """End the MLflow run of `run_id` FAILED if it is still RUNNING (its process died); says what was done."""
    try:
        store = Store(workspace.mlflow_uri, experiment, workspace.mlflow_artifacts)
        run = store.find_run(run_id)
        if run is None:
            return "no MLflow run to mark"
        if run.info.status != "RUNNING":
            return f"MLflow run already {run.info.status}"
        store.client.set_tag(run.info.run_id, "halo_forge.failure", reason)
        store.client.set_terminated(run.info.run_id, status="FAILED", end_time=now_ms())
        return "MLflow run marked FAILED"
    except Exception as exc:  # noqa: BLE001 - the sweep goes on; `runs sync` can still fix the store
        return f"MLflow run not marked failed ({describe(exc)})"
