"""Run records: the plain JSON-able dict that carries one run to MLflow, and the pure helpers that shape
its values to MLflow's limits (keys, params, metrics, tags). Standard library only."""

from __future__ import annotations

import json
import numbers
import os
import re
import socket
import time
from typing import Any

RECORD_VERSION = 1
RUN_ID_TAG = "run_id"
ROLE_TAG = "halo_forge.role"  # "run" or "parent"
PARENT_TAG = "halo_forge.parent"  # our name for the parent run, so a parent synced later adopts its children
PENDING_PARENT = "pending:"  # prefix of a parent id handed out while the parent run exists only as a pending record
RESERVED_TAGS = {RUN_ID_TAG, ROLE_TAG, PARENT_TAG, "mlflow.parentRunId", "mlflow.runName"}  # ours to set

# MLflow limits (mlflow/utils/validation.py, 3.17)
MAX_PARAM_VAL = 6000
MAX_TAG_VAL = 8000
MAX_KEY = 250
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MAX_DIGEST = 36
MAX_INPUT_TAG_VAL = 500
CONFIG_ARTIFACT = "config.json"
TRUNCATED = "...[truncated {n} chars; full value in artifact config.json]"

FINAL_STATUS = {"completed": "FINISHED", "failed": "FAILED", "finished": "FINISHED", "killed": "KILLED"}


def now_ms() -> int:
    return int(time.time() * 1000)


def mlflow_status(status: str | None) -> str:
    s = (status or "completed").strip()
    return FINAL_STATUS.get(s.lower(), s.upper())


def new_record(kind: str, run_id: str, *, experiment: str, tracking_uri: str, config: dict | None = None,
               modality: str | None = None, tags: dict | None = None, parent_run_id: str | None = None,
               parent_name: str | None = None) -> dict:
    return {
        "version": RECORD_VERSION,
        "kind": kind,  # "run" | "parent"
        "run_id": run_id,
        "experiment": experiment,
        "tracking_uri": redact(tracking_uri),  # where it was meant to go (sync uses the current store)
        "modality": modality,
        "config": json_safe(config or {}),
        "tags": {str(k): str(v) for k, v in (tags or {}).items() if str(k) not in RESERVED_TAGS},
        "parent_run_id": parent_run_id,
        "parent_name": parent_name,
        "mlflow_run_id": None,
        "start_time": now_ms(),
        "end_time": None,
        "metrics": [],  # [key, value, timestamp_ms, step] not yet stored
        "final": False,
        "final_status": None,
        "summary": None,  # the TrainingSummary as JSON, so a replay does not depend on the file surviving
        "summary_path": None,
        "dataset_path": None,
        "done": [],
        "failures": [],  # values MLflow refused (never retried)
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- keys and values ---------------------------------------------------------------------------

def safe_key(key: str) -> str:
    """A name MLflow accepts for a param, metric or tag: [\\w .-/:], no empty/./.. path parts, <= 250."""
    text = re.sub(r"[^\w\-. /:]", "_", str(key))
    parts = [p for p in text.split("/") if p not in ("", ".", "..")]
    text = "/".join(parts) or "_"
    if len(text) > MAX_KEY:
        import hashlib

        text = text[:MAX_KEY - 9] + "~" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys; lists and other values become JSON/str text."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        elif isinstance(value, (dict, list, tuple)):
            out[name] = json.dumps(value, default=str, ensure_ascii=False)
        else:
            out[name] = str(value)
    return out


def clip(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    marker = TRUNCATED.format(n=len(value))
    return value[:limit - len(marker)] + marker


def param_items(config: dict) -> list[tuple[str, str]]:
    return [(safe_key(k), clip(v, MAX_PARAM_VAL)) for k, v in flatten(config).items()]


def numeric(value: Any) -> float | None:
    """A real number as float (numpy/torch scalars too); None for bools, text and everything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except Exception:  # noqa: BLE001 - not a one-element array/tensor
            return None
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    return None


# --- the store -----------------------------------------------------------------------------------

def bad_value(exc: BaseException) -> bool:
    """MLflow refused the value itself: retrying later would fail the same way."""
    return getattr(exc, "error_code", None) == "INVALID_PARAMETER_VALUE"


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def redact(uri: str) -> str:
    """The URI without user:password@ (it goes into messages and pending records)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1***@", uri or "")


def remote(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https", "databricks", "databricks-uc", "uc")


# what sqlite says of a truncated or corrupt file, and what to do then
DAMAGE_MARKERS = ("database disk image is malformed", "file is not a database")
REBUILD_HINT = ("`halo-forge runs sync --rebuild` moves it aside and rebuilds it from the replay records "
                "(replay/<run_id>/)")

STEPS = {
    "run": "the MLflow run",
    "start_tags": "run tags",
    "params": "params",
    "config": "config artifact",
    "metrics": "metrics",
    "summary_metrics": "summary metrics",
    "summary_artifact": "summary artifact",
    "dataset": "dataset input",
    "tags": "result tags",
    "status": "run status",
}


def remaining_steps(record: dict) -> list[str]:
    steps = ["run", "start_tags", "params", "config", "metrics"]
    if record.get("final"):
        if record.get("summary") is not None or record.get("summary_path"):
            steps += ["summary_metrics", "summary_artifact", "dataset"]
        steps += ["tags", "status"]
    done = set(record.get("done") or [])
    return [s for s in steps if s not in done and not (s == "metrics" and not record.get("metrics"))]

