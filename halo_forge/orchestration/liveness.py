"""Runs in progress and runs that died: a killed run never wedges, litters or haunts the next one.

Every training run registers itself in `<halo-forge home>/active-runs/<run_id>.json` while it trains:
its process (pid, the kernel's start time of that pid, host), workspace, staging folder, cache key
and MLflow run. The record goes when the run ends, however it ends — except when the process is
killed outright (`kill -9`, OOM killer, power loss). Such a record is a *dead run*: its pid is gone,
or the pid now belongs to another process (another start time). `sweep()` (called before every run)
finds them and cleans up after each: its cache lock is released, its `.partial` staging folder
removed, its MLflow run marked FAILED and the run indexed as failed. `server stop` asks
`live_runs()` which runs still train.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from halo_forge.paths import home, pid_alive
from halo_forge.summary import write_json_atomic

log = logging.getLogger("halo_forge.orchestration")

# What this process found dead since it started, and who hears of it at once (the CLI's console
# while it runs a command; else this module's logger).
FOUND_DEAD: list[str] = []
LISTENERS: list = []


def tell(line: str) -> None:
    """Say that a dead run was found (and what was cleaned up after it)."""
    FOUND_DEAD.append(line)
    for listener in LISTENERS or [lambda text: log.warning("%s", text)]:
        listener(line)


def active_dir() -> Path:
    return home() / "active-runs"


def process_stamp(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks since boot; Linux), None where unknown.

    A pid and its start time name one process for good: a recycled pid has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def this_process() -> dict:
    return {"pid": os.getpid(), "stamp": process_stamp(os.getpid()), "host": socket.gethostname()}


def holder_alive(rec: dict) -> bool:
    """Whether the process a record names still runs (a process on another host is assumed to)."""
    if rec.get("host") not in (None, socket.gethostname()):
        return True
    pid = rec.get("pid")
    if not isinstance(pid, int) or pid <= 0 or not pid_alive(pid):
        return False
    return rec.get("stamp") is None or process_stamp(pid) in (None, rec["stamp"])


class ActiveRun:
    """The record of one run in progress (`begin` on start, `update` as it learns more, `end` when over)."""

    def __init__(self, run_id: str, **fields) -> None:
        self.path = active_dir() / f"{run_id}.json"
        self.record = {"run_id": run_id, **this_process(), "started": time.time(), **fields}

    def begin(self) -> "ActiveRun":
        write_json_atomic(self.path, self.record)
        return self

    def update(self, **fields) -> None:
        self.record.update(fields)
        write_json_atomic(self.path, self.record)

    def end(self) -> None:
        self.path.unlink(missing_ok=True)


def _records() -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(active_dir().glob("*.json")) if active_dir().is_dir() else []:
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            if time.time() - path.stat().st_mtime > 60:  # not being written: a torn record of a dead run
                path.unlink(missing_ok=True)
    return out


def live_runs() -> list[dict]:
    """Records of the runs training right now (any workspace of this halo-forge home)."""
    return [rec for _, rec in _records() if holder_alive(rec)]


def sweep() -> list[str]:
    """Clean up after every dead run; returns one line per dead run found (also kept in FOUND_DEAD)."""
    found = []
    for path, rec in _records():
        if holder_alive(rec):
            continue
        try:
            done = _clean(rec)
        except Exception as exc:  # noqa: BLE001 - cleaning up after another run never stops this one
            done = [f"cleaning up failed ({type(exc).__name__}: {exc})"]
        path.unlink(missing_ok=True)
        line = (f"found a dead run {rec['run_id']} (pid {rec.get('pid')} ended without finishing, e.g. killed): "
                + ("; ".join(done) if done else "nothing left to clean"))
        tell(line)
        found.append(line)
    return found


def _clean(rec: dict) -> list[str]:
    """Release the dead run's lock, remove its staging folder, fail its MLflow run, index it as failed."""
    done = []
    lock = rec.get("lock")
    if lock and Path(lock).is_file():
        Path(lock).unlink(missing_ok=True)
        done.append("cache lock released")
    staging = rec.get("staging")
    if staging and Path(staging).exists():
        shutil.rmtree(staging, ignore_errors=True)
        done.append(f"staging folder {staging} removed")
    output = Path(rec["output"]) if rec.get("output") else None
    trash = output.parent / f".{output.name}.old.partial" if output else None
    if trash is not None and trash.is_dir() and not output.exists():  # killed mid-publish: the earlier run returns
        trash.rename(output)
        done.append(f"the earlier run in {output} put back")
    ws = _workspace(rec)
    if ws is None:
        return done
    if rec.get("tracking"):
        from halo_forge.tracking import mark_failed

        done.append(mark_failed(ws, rec["run_id"], "the run's process died (killed)"))
    problem = _index_failed(ws, rec)
    done.append(f"not indexed ({problem})" if problem else "indexed as failed")
    return done


def _workspace(rec: dict):
    from halo_forge.workspace import MARKER, MARKER_DIR, Workspace

    root = rec.get("workspace")
    if not root or not (Path(root) / MARKER_DIR / MARKER).is_file():
        return None
    return Workspace(Path(root))


def _index_failed(ws, rec: dict) -> str | None:
    from halo_forge.runs import RunIndex
    from halo_forge.summary import Effectiveness, Inputs, TrainingSummary

    try:
        summary = TrainingSummary(
            modality=rec.get("modality") or "unknown", model_name=rec.get("model") or "unknown", run_id=rec["run_id"],
            seed=rec.get("seed") or 0,
            status="failed", config=rec.get("config") or {},
            effectiveness=Effectiveness(verdict="failed", reasons=[
                f"run died: its process (pid {rec.get('pid')}) ended without finishing (killed?)"]),
            inputs=Inputs(**{k: v for k, v in (rec.get("inputs") or {}).items() if k in Inputs.model_fields}))
        RunIndex(ws).add(summary)
    except Exception as exc:  # noqa: BLE001 - the index is derived data; say why and go on
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def watched_run(ws, trainer, config, lineage: dict, *, lock: Path | None, tracking: bool):
    """Register `trainer`'s run as active for the duration of the block (see the module docstring)."""
    try:
        from prefect.runtime import flow_run

        flow_run_id = flow_run.get_id()
    except Exception:  # noqa: BLE001 - outside a flow, or no runtime context: nothing to name
        flow_run_id = None
    active = ActiveRun(trainer.run_id, workspace=str(Path(ws.root).resolve()), modality=config.modality,
                       model=str(config.model), seed=config.seed, config=config.model_dump(mode="json"),
                       inputs=dict(lineage), staging=str(trainer.output.staging), output=str(trainer.output.path), lock=str(lock) if lock else None,
                       tracking=tracking, flow_run_id=flow_run_id).begin()
    try:
        yield active
    finally:
        active.end()
