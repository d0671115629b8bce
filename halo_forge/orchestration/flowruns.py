"""How a run shows in the Prefect UI: flow runs named after the halo-forge run, tagged, and cache hits recorded.

- A `train` flow run starts as "<modality> · <stage or model> (starting)" and is renamed
  "<run id> · <stage or model>" as soon as the trainer has its run id (`name_current`); its tags say
  `halo-forge`, `modality:…`, `model:…`, `stage:…`, `run:…`.
- A cache hit answered from the record trains nothing and does not import Prefect, yet it is
  recorded: `record_cache_hit` creates, over Prefect's REST API (standard library only, ~50 ms), a
  flow run in the Cached (Completed) state named "<run id> · <stage> (cache hit)" with a `train` task
  run whose `cache_key` is the run's key. Inside a recipe's flow run it is nested there as a subflow.
- The `train` task run is named "train · key <the key's first 12 hex digits>" ("train (cached) · …" for a
  hit), so a trained run and its hits show the same key: Prefect 3 leaves a task run's `cache_key` empty.

Nothing here may fail a run: Prefect refusing a name or a record is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import urllib.request
import uuid
from pathlib import PurePath

log = logging.getLogger("halo_forge.platform")

CACHED = {"type": "COMPLETED", "name": "Cached"}


def label(stage: str | None, model: str | None) -> str:
    """The stage ("quickstart/dpo"), else the model's last path part ("tiny", "sft")."""
    return stage or PurePath(str(model or "?").rstrip("/")).name or str(model)


def run_name(run_id: str, stage: str | None, model: str | None) -> str:
    return f"{run_id} · {label(stage, model)}"


def tags(modality: str, model: str | None, stage: str | None, run_id: str | None = None) -> list[str]:
    out = ["halo-forge", f"modality:{modality}", f"model:{model}"]
    if stage:
        out.append(f"stage:{stage}")
    if run_id:
        out.append(f"run:{run_id}")
    return out


def task_name(cache_key: str, *, cached: bool = False) -> str:
    """The `train` task run's name: "train · key 9509fac5ba5b" (the cache key's first 12 hex digits). Prefect 3
    keeps a task's cache key client-side (it is the result's storage key) and leaves the task run's `cache_key`
    empty, so the name carries it; the flow run's parameters hold it whole (`inputs.cache_key`)."""
    return f"train{' (cached)' if cached else ''} · key {cache_key.split(':')[-1][:12]}"


def train_task_name() -> str:
    """`task_run_name` of the `train` task (Prefect calls this inside the task run)."""
    from prefect.runtime import task_run

    return task_name(str(task_run.parameters.get("cache_key") or "?"))


def starting_name() -> str:
    """`flow_run_name` of `train_flow`: what is known before the trainer exists (Prefect calls this)."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    model = (params.get("config_json") or {}).get("model")
    return f"{params.get('modality')} · {label(params.get('stage'), model)} (starting)"


def name_current(run_id: str, modality: str, model: str | None, stage: str | None, *, cache_hit: bool = False) -> None:
    """Rename the flow run in progress after the halo-forge run id, and tag it."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.runtime import flow_run

        if not flow_run.id:
            return
        name = run_name(run_id, stage, model) + (" (cache hit)" if cache_hit else "")
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=name,
                                   tags=tags(modality, model, stage, run_id) + (["cache-hit"] if cache_hit else []))
    except Exception as exc:  # noqa: BLE001 - a name is not worth a run
        log.debug("could not name the Prefect flow run: %s", exc)


# --- cache hits answered from the record ------------------------------------------------------------

def _post(api: str, path: str, body: dict) -> dict:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    req = urllib.request.Request(f"{api.rstrip('/')}/{path}", data=json.dumps(body).encode(), headers=headers,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"{}")


def _enclosing_flow_run() -> str | None:
    """The id of the flow run this process is inside (a recipe), without importing Prefect for it."""
    if "prefect.context" not in sys.modules:
        return None
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx is not None and ctx.flow_run is not None else None


def record_cache_hit(summary, cache_key: str, stage: str | None = None) -> str | None:
    """Record a cache hit answered from the record as a Cached flow run; its id, or None when Prefect is
    out of reach (the hit itself never depends on it)."""
    from halo_forge.orchestration import server

    try:
        api = server.ensure_server()
        flow = _post(api, "flows/", {"name": "train"})
        name = run_name(summary.run_id, stage, summary.model_name) + " (cache hit)"
        state = {**CACHED, "message": f"identical inputs already trained as run {summary.run_id}: nothing trained"}
        body = {"flow_id": flow["id"], "name": name, "state": state,
                "tags": tags(summary.modality, summary.model_name, stage, summary.run_id) + ["cache-hit"],
                "parameters": {"modality": summary.modality, "run_id": summary.run_id, "cache_key": cache_key,
                               "stage": stage}}
        parent = _enclosing_flow_run()
        if parent:  # a subflow of the recipe: a task run in the parent stands for it, as Prefect does
            body["parent_task_run_id"] = _post(api, "task_runs/", {
                "flow_run_id": parent, "task_key": "train-flow", "dynamic_key": uuid.uuid4().hex, "name": name,
                "state": state})["id"]
        run = _post(api, "flow_runs/", body)
        _post(api, "task_runs/", {"flow_run_id": run["id"], "task_key": "train", "dynamic_key": "0",
                                  "name": task_name(cache_key, cached=True), "cache_key": cache_key.split(":")[-1],
                                  "state": {**state, "state_details": {"cache_key": cache_key.split(":")[-1]}}})
        return run["id"]
    except Exception as exc:  # noqa: BLE001 - Prefect down or refusing: the hit stands, unrecorded there
        log.debug("cache hit not recorded in Prefect: %s", exc)
        return None
