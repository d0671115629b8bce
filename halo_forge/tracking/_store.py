"""The MLflow side of tracking: environment defaults, the client, and the idempotent steps that bring
one *run record* into a tracking store.

A run record is a plain JSON-able dict (see `new_record`). The live `Tracker` and `sync_pending`
drive the same steps over the same record, so a run logged live and a run replayed later from
`.halo-forge/tracking-pending/` end up identical. Every step is safe to repeat: the run is found by
its `run_id` tag before one is created, params/tags/inputs are idempotent in MLflow, and metrics
leave the record once a batch of them is stored.

The record helpers are in `records.py` (re-exported here). mlflow is imported here only, lazily (about 1.2 s), so `import halo_forge.tracking` stays cheap.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from halo_forge.tracking import story
from halo_forge.tracking.records import (  # noqa: F401 - re-exported: the record helpers lived here
    RECORD_VERSION, RUN_ID_TAG, ROLE_TAG, PARENT_TAG, PENDING_PARENT, RESERVED_TAGS, MAX_PARAM_VAL,
    MAX_TAG_VAL, MAX_KEY, PARAMS_PER_BATCH, METRICS_PER_BATCH, MAX_DIGEST, MAX_INPUT_TAG_VAL, CONFIG_ARTIFACT,
    TRUNCATED, FINAL_STATUS, now_ms, mlflow_status, new_record, json_safe, safe_key, flatten, clip,
    param_items, numeric, bad_value, describe, redact, remote, DAMAGE_MARKERS,
    REBUILD_HINT, STEPS, remaining_steps)

# Quiet, and fail fast when a tracking server is down: MLflow's defaults (7 retries with backoff, 120 s timeout)
# make one refused call cost minutes. Only set when the user has not chosen their own.
ENV_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # MLflow's own INFO lines ("Creating initial MLflow database tables...") are not the run's story;
    # its warnings and errors still print
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def tracking_enabled() -> bool:
    """False when HALO_FORGE_TRACKING=0: runs then talk to no tracking store at all."""
    return os.environ.get("HALO_FORGE_TRACKING", "1") != "0"


def configure_env() -> None:
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


class Unreachable(Exception):
    """The tracking store could not be used (down, refused, locked, disk full...): keep the record pending."""


@contextmanager
def _creation_lock(uri: str):
    """Opening a sqlite store one process at a time. The first open of a new file runs MLflow's schema
    migrations, and two processes migrating one file together fail ("table _alembic_tmp_... already
    exists"): several runs starting at once on a fresh workspace would. Other stores need no lock."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    db.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): MLflow's own behaviour
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            _seed_from_template(db)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _seed_from_template(db: Path) -> None:
    """Start a new sqlite store as a copy of an empty, already migrated one. MLflow migrates every new
    file from scratch (~6 s); the template is built once per halo-forge home and MLflow version."""
    if db.exists() and db.stat().st_size > 0:
        return
    from importlib.metadata import version

    from halo_forge.paths import home

    template = home() / "mlflow-templates" / f"empty-store-{version('mlflow')}.db"
    if not template.is_file():
        template.parent.mkdir(parents=True, exist_ok=True)
        building = template.with_name(f".{template.name}.{os.getpid()}")
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{building}").search_experiments()  # runs the migrations
        os.replace(building, template)  # concurrent builders each publish a complete file
    copying = db.with_name(f".{db.name}.{os.getpid()}")
    import shutil

    shutil.copyfile(template, copying)
    os.replace(copying, db)


class Store:
    """One MlflowClient on one tracking URI and experiment (no fluent global state)."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None) -> None:
        configure_env()
        try:
            from mlflow import MlflowClient

            self.uri = uri
            self.experiment = experiment
            with _creation_lock(uri):
                self.client = MlflowClient(tracking_uri=uri)
                self.experiment_id = self._experiment(experiment, artifact_root)
        except Exception as exc:
            damaged = any(m in str(exc) for m in DAMAGE_MARKERS)
            raise Unreachable(f"tracking store {redact(uri)} unavailable: {describe(exc)}"
                              + (f"; it is damaged: {REBUILD_HINT}" if damaged else "")) from exc

    def _experiment(self, name: str, artifact_root: Path | None) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            location = None
            if artifact_root is not None and not remote(self.uri):
                folder = Path(artifact_root) / safe_key(name).replace("/", "_")
                folder.mkdir(parents=True, exist_ok=True)
                location = folder.resolve().as_uri()
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except MlflowException as exc:  # another process created it meanwhile
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    raise exc
        if exp.lifecycle_stage == "deleted":
            self.client.restore_experiment(exp.experiment_id)
        return exp.experiment_id

    # --- lookups -------------------------------------------------------------------------------
    def find_run(self, run_id: str, role: str | None = None):
        if "'" in run_id:
            return None
        flt = f"tags.{RUN_ID_TAG} = '{run_id}'"
        if role:
            flt += f" and tags.`{ROLE_TAG}` = '{role}'"
        runs = self.client.search_runs([self.experiment_id], filter_string=flt, max_results=1,
                                       order_by=["attributes.start_time ASC"])
        return runs[0] if runs else None

    def _resolve_parent(self, record: dict) -> str | None:
        from mlflow.exceptions import MlflowException

        name, pid = record.get("parent_name"), record.get("parent_run_id")
        if pid and not pid.startswith(PENDING_PARENT):
            try:
                parent = self.client.get_run(pid)
                record["parent_name"] = name = name or parent.data.tags.get(RUN_ID_TAG)
                if parent.info.experiment_id == self.experiment_id or not name:
                    return pid
            except MlflowException as exc:
                if getattr(exc, "error_code", None) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    raise
        if name:
            found = self.find_run(name, "parent")
            if found is not None:
                return found.info.run_id
        return None

    # --- the steps -------------------------------------------------------------------------------
    def advance(self, record: dict) -> list[str]:
        """Do every step of `record` not done yet. Returns the values MLflow refused (also appended to
        record["failures"]); raises Unreachable when the store fails otherwise (the record keeps its progress)."""
        refused: list[str] = []
        for step in remaining_steps(record):
            if step != "run" and not record.get("mlflow_run_id"):
                break
            try:
                problems = getattr(self, f"_step_{step}")(record) or []
            except Unreachable:
                raise
            except Exception as exc:
                if not bad_value(exc):
                    raise Unreachable(f"{STEPS[step]}: {describe(exc)}") from exc
                problems = [f"{STEPS[step]}: {describe(exc)}"]
            refused += problems
            if step != "metrics":
                record["done"].append(step)
        record["failures"] = list(record.get("failures") or []) + refused
        return refused

    def _step_run(self, record: dict) -> list[str]:
        role = record["kind"]
        problems: list[str] = []
        parent = self._resolve_parent(record) if (record.get("parent_name") or record.get("parent_run_id")) else None
        if (record.get("parent_name") or record.get("parent_run_id")) and parent is None and record.get("final"):
            problems.append(f"parent run {record.get('parent_name') or record.get('parent_run_id')} not found: "
                            "run not nested yet (it is adopted when the parent is synced)")
        existing = self.find_run(record["run_id"], role)
        if existing is not None:
            run_uuid = existing.info.run_id
            if parent and existing.data.tags.get("mlflow.parentRunId") != parent:
                self.client.set_tag(run_uuid, "mlflow.parentRunId", parent)
            if not record.get("final") and existing.info.status != "RUNNING":
                self.client.update_run(run_uuid, status="RUNNING")
        else:
            tags = {RUN_ID_TAG: record["run_id"], ROLE_TAG: role}
            if record.get("modality"):
                tags["modality"] = str(record["modality"])
            if record.get("parent_name"):
                tags[PARENT_TAG] = str(record["parent_name"])
            if parent:
                tags["mlflow.parentRunId"] = parent
            tags = {k: clip(v, MAX_TAG_VAL) for k, v in tags.items()}
            run = self.client.create_run(self.experiment_id, start_time=record.get("start_time"), tags=tags,
                                         run_name=story.run_name(record))
            run_uuid = run.info.run_id
        record["mlflow_run_id"] = run_uuid
        if role == "parent":
            self._adopt_children(record["run_id"], run_uuid)
        return problems

    def _adopt_children(self, name: str, parent_uuid: str) -> None:
        if "'" in name:
            return
        for run in self.client.search_runs([self.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{name}'",
                                           max_results=1000):
            if run.data.tags.get("mlflow.parentRunId") != parent_uuid:
                self.client.set_tag(run.info.run_id, "mlflow.parentRunId", parent_uuid)

    def _log_each(self, what: str, items: list, log_one) -> list[str]:
        """log_one(items) for the batch; when MLflow refuses it, item by item so one bad value costs one."""
        try:
            log_one(items)
            return []
        except Exception as exc:
            if not bad_value(exc) or len(items) == 1:
                if bad_value(exc):
                    return [f"{what} {_label(items[0])}: {describe(exc)}"]
                raise
        problems = []
        for item in items:
            try:
                log_one([item])
            except Exception as exc:
                if not bad_value(exc):
                    raise
                problems.append(f"{what} {_label(item)}: {describe(exc)}")
        return problems

    def _step_start_tags(self, record: dict) -> list[str]:
        from mlflow.entities import RunTag

        tags = [RunTag(safe_key(k), clip(str(v), MAX_TAG_VAL)) for k, v in (record.get("tags") or {}).items()]
        problems = []
        for i in range(0, len(tags), PARAMS_PER_BATCH):
            problems += self._log_each("tag", tags[i:i + PARAMS_PER_BATCH],
                                       lambda b: self.client.log_batch(record["mlflow_run_id"], tags=b))
        return problems

    def _step_params(self, record: dict) -> list[str]:
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in param_items(story.params_config(record.get("config") or {}))]
        problems = []
        for i in range(0, len(params), PARAMS_PER_BATCH):
            problems += self._log_each("param", params[i:i + PARAMS_PER_BATCH],
                                       lambda b: self.client.log_batch(record["mlflow_run_id"], params=b))
        return problems

    def _step_config(self, record: dict) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="halo-forge-track-") as tmp:
            path = Path(tmp) / CONFIG_ARTIFACT
            path.write_text(json.dumps(record.get("config") or {}, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            self.client.log_artifact(record["mlflow_run_id"], str(path))
        return []

    def _step_metrics(self, record: dict) -> list[str]:
        return self.log_metrics(record)

    def log_metrics(self, record: dict) -> list[str]:
        """Store the record's buffered metrics in batches; each stored batch leaves the record."""
        from mlflow.entities import Metric

        problems: list[str] = []
        while record["metrics"]:
            chunk = record["metrics"][:METRICS_PER_BATCH]
            batch = [Metric(k, v, ts, step) for k, v, ts, step in chunk]
            problems += self._log_each("metric", batch,
                                       lambda b: self.client.log_batch(record["mlflow_run_id"], metrics=b))
            del record["metrics"][:len(chunk)]
        return problems

    def _summary(self, record: dict) -> dict:
        if record.get("summary") is None and record.get("summary_path"):
            record["summary"] = json.loads(Path(record["summary_path"]).read_text(encoding="utf-8"))
        return record.get("summary") or {}

    def _step_summary_metrics(self, record: dict) -> list[str]:
        from mlflow.entities import Metric

        ts = record.get("end_time") or now_ms()
        batch = [Metric(safe_key(k), v, ts, step) for k, v, step in story.summary_points(self._summary(record))]
        return self._log_each("metric", batch, lambda b: self.client.log_batch(record["mlflow_run_id"], metrics=b)) \
            if batch else []

    def _step_summary_artifact(self, record: dict) -> list[str]:
        path = Path(record["summary_path"]) if record.get("summary_path") else None
        if path is not None and path.is_file():
            self.client.log_artifact(record["mlflow_run_id"], str(path))
            return []
        summary = self._summary(record)
        with tempfile.TemporaryDirectory(prefix="halo-forge-track-") as tmp:
            copy = Path(tmp) / (path.name if path is not None else "training_summary.json")
            copy.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            self.client.log_artifact(record["mlflow_run_id"], str(copy))
        return []

    def _step_dataset(self, record: dict) -> list[str]:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        summary = self._summary(record)
        inputs = summary.get("inputs") or {}
        source = inputs.get("dataset") or record.get("dataset_path")
        if not source:
            return []
        digest = inputs.get("dataset_digest") or _file_digest(record.get("dataset_path"))
        if not digest:
            return [f"dataset input {source}: no digest recorded"]
        name = Path(str(source).rstrip("/")).name or str(source)
        src = {"uri": str(source)}
        if record.get("dataset_path"):
            src["materialised"] = str(record["dataset_path"])
        profile = {"train_rows": inputs.get("train_rows"), "eval_rows": inputs.get("eval_rows")}
        columns = _dataset_columns(record.get("dataset_path"))
        if columns:
            profile["columns"] = columns
        dataset = Dataset(name=name[:500], digest=str(digest)[:MAX_DIGEST],
                          source_type="local" if Path(str(source)).exists() else "external",
                          source=json.dumps(src), profile=json.dumps(profile))
        tags = [InputTag("mlflow.data.context", "train"),
                InputTag("halo_forge.digest", str(digest)[:MAX_INPUT_TAG_VAL])]
        self.client.log_inputs(record["mlflow_run_id"], datasets=[DatasetInput(dataset, tags)])
        return []

    def _step_tags(self, record: dict) -> list[str]:
        from mlflow.entities import RunTag

        from mlflow.entities import Metric

        self._summary(record)
        tags = [RunTag(k, clip(v, MAX_TAG_VAL)) for k, v in story.result_tags(record).items()]
        problems = self._log_each("tag", tags, lambda b: self.client.log_batch(record["mlflow_run_id"], tags=b))
        if record["kind"] == "parent":  # the recipe's figures stage by stage (the parent has no summary step)
            ts = record.get("end_time") or now_ms()
            batch = [Metric(safe_key(k), v, ts, step) for k, v, step in story.parent_points(record)]
            if batch:
                problems += self._log_each("metric", batch,
                                           lambda b: self.client.log_batch(record["mlflow_run_id"], metrics=b))
        return problems

    def _step_status(self, record: dict) -> list[str]:
        self.client.set_terminated(record["mlflow_run_id"], status=mlflow_status(record.get("final_status")),
                                   end_time=record.get("end_time") or now_ms())
        return []


def _label(entity: Any) -> str:
    return repr(getattr(entity, "key", entity))


def _file_digest(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _dataset_columns(path: str | None) -> list[str] | None:
    """Column names of the materialised rows (a SplitData JSON blob or JSONL), for the dataset profile."""
    if not path or not Path(path).is_file():
        return None
    try:
        p = Path(path)
        if p.suffix == ".jsonl":
            with open(p, encoding="utf-8") as fh:
                row = json.loads(fh.readline())
        else:
            if p.stat().st_size > 256 << 20:
                return None
            blob = json.loads(p.read_text(encoding="utf-8"))
            rows = blob.get("train") if isinstance(blob, dict) else blob
            row = rows[0] if rows else {}
        return [str(k) for k in row] if isinstance(row, dict) else None
    except (OSError, ValueError, IndexError, AttributeError, TypeError):
        return None
