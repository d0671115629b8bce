"""`Tracker`: one training run (and optionally a recipe's parent run) streamed into MLflow, never fatally.

    tracker = Tracker(workspace)
    tracker.start(run_id, config.model_dump(mode="json"), modality="sft")
    trainer = SFTTrainer(..., callbacks=[progress, tracker.callback()])   # streams on_log values
    ...
    failures = tracker.finish(summary, summary_path, dataset_path=materialised_rows)

Whatever fails (server down, refused connection, locked or full disk, a value MLflow refuses) is
caught: training goes on, `finish` returns what could not be logged, and everything needed to log it
later is saved to `<workspace>/.halo-forge/tracking-pending/<run_id>.json` for `sync_pending`.
After the first connection failure the tracker stops calling the store (one refused connection, not
one per metric batch) and tries once more at `finish`/`finish_parent` when `retry_seconds` have passed.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from halo_forge.summary import SUMMARY_FILE
from halo_forge.tracking import _store, story
from halo_forge.tracking._store import (PENDING_PARENT, STEPS, Store, Unreachable, describe, mlflow_status,
                                        new_record, now_ms, numeric, remaining_steps, safe_key)
from halo_forge.tracking.pending import remove_pending, save_pending

if TYPE_CHECKING:
    from halo_forge.summary import TrainingSummary
    from halo_forge.workspace import Workspace

log = logging.getLogger("halo_forge.tracking")

# MLflow id of a parent run -> our name for it, so children started in this process can be re-nested
# by name when they are replayed into another store.
_PARENT_NAMES: dict[str, str] = {}


class Tracker:
    """An MLflow adapter on the workspace's tracking store (`workspace.mlflow_uri`; MLFLOW_TRACKING_URI wins).

    Uses its own MlflowClient (no fluent global state), so several trackers can coexist. Not meant to be
    shared between threads beyond the trainer's callback; calls are serialised by a lock anyway.
    """

    def __init__(self, workspace: "Workspace", experiment: str = "halo-forge", *, flush_every: int = 50,
                 flush_seconds: float = 5.0, retry_seconds: float = 60.0) -> None:
        _store.configure_env()
        self.workspace = workspace
        self.experiment = experiment
        self.uri = workspace.mlflow_uri
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        self.offline: str | None = None  # why the store is not used, once it failed
        self.failures: list[str] = []  # what the last finished run could not log
        self._store: Store | None = None
        self._offline_at = 0.0
        self._warned = False
        self._run: dict | None = None
        self._parent: dict | None = None
        self._last_flush = time.monotonic()
        self._last_persist = 0.0
        self._lock = threading.RLock()

    # --- public API --------------------------------------------------------------------------------
    @property
    def mlflow_run_id(self) -> str | None:
        """The MLflow id of the run in progress (None before start, when pending, or after finish)."""
        return (self._run or {}).get("mlflow_run_id")

    def start(self, run_id: str, config: dict, *, modality: str, tags: dict | None = None,
              parent_run_id: str | None = None) -> None:
        """Create the MLflow run (name = run_id) with the config as params, nested under `parent_run_id`."""
        try:
            with self._lock:
                if self._run is not None:
                    log.warning("tracking: run %s was not finished before %s started; marked KILLED",
                                self._run["run_id"], run_id)
                    self.abort("KILLED")
                parent_name = None
                if parent_run_id and parent_run_id.startswith(PENDING_PARENT):
                    parent_name = parent_run_id[len(PENDING_PARENT):]
                elif parent_run_id:
                    parent_name = _PARENT_NAMES.get(parent_run_id)
                record = new_record("run", run_id, experiment=self.experiment, tracking_uri=self.uri,
                                    config=config, modality=modality, tags=tags, parent_run_id=parent_run_id,
                                    parent_name=parent_name)
                self._run = record
                self.failures = []
                self._last_flush = time.monotonic()
                if not self._advance(record):
                    self._persist(record)
        except Exception as exc:  # a bug here must not stop training
            self._internal_error("start", exc)

    def start_parent(self, name: str, config: dict) -> str:
        """Open a recipe's parent run; returns the id to pass as `parent_run_id` to each step's `start`.

        Each invocation gets its own parent run (run_id "<name>-<epoch ms>", tag `recipe` = name): a rerun's
        duration and stages are its own. When the store is unavailable the id is "pending:<run_id>" and the
        parent is saved for `sync_pending`.
        """
        run_id = f"{name}-{now_ms()}"
        try:
            with self._lock:
                record = new_record("parent", run_id, experiment=self.experiment, tracking_uri=self.uri,
                                    config=config, modality="recipe", tags={"recipe": name})
                self._parent = record
                if not self._advance(record):
                    self._persist(record)
                if record.get("mlflow_run_id"):
                    _PARENT_NAMES[record["mlflow_run_id"]] = run_id
                    return record["mlflow_run_id"]
        except Exception as exc:
            self._internal_error("start_parent", exc)
        return PENDING_PARENT + run_id

    def finish_parent(self, status: str = "completed", stages: list[dict] | None = None) -> list[str]:
        """Close the parent run: "completed"/"failed" (or an MLflow status). `stages` (`story.stage_facts` of
        each stage that ran) become its description, tags and per-stage metrics. Returns what was not logged."""
        try:
            with self._lock:
                record = self._parent
                if record is None:
                    return []
                self._parent = None
                record.update(final=True, final_status=mlflow_status(status), end_time=now_ms(),
                              stages=list(stages or []))
                return self._complete(record)
        except Exception as exc:
            return [self._internal_error("finish_parent", exc)]

    def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
        """Buffer numeric values (others are ignored) under their `story.stream_key` names (`loss` becomes
        `<modality>_loss`; one-off and eval_* values are dropped); flushed every `flush_every` points or
        `flush_seconds`."""
        try:
            with self._lock:
                record = self._run
                if record is None or record["final"]:
                    return
                ts = now_ms()
                for key, value in metrics.items():
                    number = numeric(value)
                    name = story.stream_key(record.get("modality"), str(key))
                    if number is not None and name is not None:
                        record["metrics"].append([safe_key(name), number, ts, int(step)])
                if (len(record["metrics"]) >= self.flush_every
                        or time.monotonic() - self._last_flush >= self.flush_seconds):
                    self._flush(record)
        except Exception as exc:
            self._internal_error("log_metrics", exc)

    def flush(self) -> None:
        """Send buffered metrics now (also done by `finish`)."""
        try:
            with self._lock:
                if self._run is not None:
                    self._flush(self._run, persist_offline=True)
        except Exception as exc:
            self._internal_error("flush", exc)

    def finish(self, summary: "TrainingSummary", summary_path: Path | None, *,
               dataset_path: Path | None = None) -> list[str]:
        """Log the summary (artifact, headline metrics, dataset input, tags) and end the run FINISHED or
        FAILED per `summary.status`. Returns the things that could not be logged (empty when all went well).

        `summary_path` may be the summary file, its folder, or None (a failed run with no output folder:
        the summary itself is logged as training_summary.json)."""
        record = None
        try:
            with self._lock:
                record = self._run
                if record is None:  # finish without start: log what the summary knows
                    record = new_record("run", summary.run_id, experiment=self.experiment, tracking_uri=self.uri,
                                        config=summary.config, modality=summary.modality)
                elif record["run_id"] != summary.run_id:
                    log.warning("tracking: summary of run %s finishes tracked run %s", summary.run_id,
                                record["run_id"])
                path = Path(summary_path) if summary_path else None
                if path is not None and path.is_dir():
                    path = path / SUMMARY_FILE
                record.update(
                    final=True, final_status=mlflow_status(summary.status), end_time=now_ms(),
                    modality=record.get("modality") or summary.modality,
                    summary=summary.model_dump(mode="json"),
                    summary_path=str(path.resolve()) if path is not None else None,
                    dataset_path=str(Path(dataset_path).resolve()) if dataset_path else None,
                )
                self._run = None
                return self._complete(record)
        except Exception as exc:
            note = self._internal_error("finish", exc)
            if record is not None:  # keep what we have for `sync_pending`
                self._run = None
                self._persist(record)
            return [note]

    def abort(self, status: str = "FAILED") -> list[str]:
        """End the run in progress without a summary (training crashed): FAILED or KILLED."""
        try:
            with self._lock:
                record = self._run
                if record is None:
                    return []
                self._run = None
                record.update(final=True, final_status=mlflow_status(status), end_time=now_ms())
                return self._complete(record)
        except Exception as exc:
            return [self._internal_error("abort", exc)]

    def callback(self):
        """A transformers TrainerCallback that forwards every numeric `on_log` value at the global step."""
        from transformers import TrainerCallback

        tracker = self

        class TrackingCallback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and getattr(state, "is_world_process_zero", True):
                    tracker.log_metrics(logs, step=int(state.global_step))

            def on_train_end(self, args, state, control, **kwargs):
                tracker.flush()

        return TrackingCallback()

    # --- internals -----------------------------------------------------------------------------------
    def _connect(self, *, retry: bool = False) -> Store | None:
        if self._store is not None:
            return self._store
        if self.offline and not (retry and time.monotonic() - self._offline_at >= self.retry_seconds):
            return None
        from halo_forge.tracking.sidecar import open_store  # not at import: the helper runs that module

        try:
            self._store = open_store(self.uri, self.experiment, self.workspace.mlflow_artifacts)
            self.offline = None
        except Unreachable as exc:
            self._go_offline(str(exc))
        return self._store

    def _go_offline(self, reason: str) -> None:
        self._store = None
        self.offline = reason
        self._offline_at = time.monotonic()
        if not self._warned:
            self._warned = True
            log.warning("MLflow tracking unavailable (%s); training goes on, the record is kept under %s "
                        "for `halo-forge runs sync`", reason, self.workspace.data_dir / "tracking-pending")

    def _advance(self, record: dict) -> bool:
        """Bring `record` as far as the store allows; True when nothing is left to log."""
        store = self._connect(retry=bool(record.get("final")))
        if store is None:
            return False
        try:
            store.advance(record)
        except Unreachable as exc:
            self._go_offline(str(exc))
            return False
        return not remaining_steps(record)

    def _flush(self, record: dict, *, persist_offline: bool = False) -> None:
        self._last_flush = time.monotonic()
        if not record["metrics"]:
            return
        if self._store is None or not record.get("mlflow_run_id"):
            # offline: keep the points; save them now and then so a crash loses little
            if persist_offline or time.monotonic() - self._last_persist >= 30:
                self._persist(record)
            return
        try:
            record["failures"] += self._store.log_metrics(record)
        except Exception as exc:
            self._go_offline(f"metrics: {describe(exc)}")
            self._persist(record)

    def _complete(self, record: dict) -> list[str]:
        complete = self._advance(record)
        failures = list(record.get("failures") or [])
        if complete:
            try:
                remove_pending(self.workspace, record)
            except OSError as exc:
                failures.append(f"could not remove the pending tracking record: {describe(exc)}")
        else:
            path = self._persist(record)
            for step in remaining_steps(record):
                extra = f" ({len(record['metrics'])} points)" if step == "metrics" else ""
                failures.append(f"{STEPS[step]}{extra}: not logged")
            where = f"saved to {path}" if path else "and the pending record could not be saved"
            failures.append(f"MLflow unavailable ({self.offline or 'unknown reason'}); {where} "
                            "for `halo-forge runs sync`")
        if record["kind"] == "run":
            self.failures = failures
        return failures

    def _persist(self, record: dict) -> Path | None:
        self._last_persist = time.monotonic()
        try:
            return save_pending(self.workspace, record)
        except Exception as exc:
            note = f"could not save the pending tracking record: {describe(exc)}"
            log.warning("tracking: %s", note)
            if note not in record["failures"]:
                record["failures"].append(note)
            return None

    def _internal_error(self, where: str, exc: BaseException) -> str:
        note = f"tracking {where} failed: {describe(exc)}"
        log.warning("%s", note, exc_info=True)
        self.failures.append(note)
        return note
