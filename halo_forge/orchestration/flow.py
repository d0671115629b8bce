"""The Prefect flows: `train_flow` (one run) and `post_training_flow` (a recipe of stages).

`train` is a Prefect task cached on the content-addressed key (see `inputs.resolve_inputs`),
its result persisted under the workspace, with SERIALIZABLE isolation and a file lock so two
identical runs started together train once. A real run (a cache miss) trains, streams metrics to
MLflow, indexes the run in DuckDB and records its DVC replay stage, all inside the task, so a
cache hit repeats none of it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import CacheKeyFnPolicy

from halo_forge import registry
from halo_forge.data import SplitData
from halo_forge.errors import HaloForgeError
from halo_forge.orchestration import cache, flowruns
from halo_forge.orchestration.inputs import ResolvedInputs
from halo_forge.orchestration.liveness import watched_run
from halo_forge.orchestration.locks import LivenessLockManager
from halo_forge.orchestration.resilience import FAILED
from halo_forge.orchestration.storage import storage_errors
from halo_forge.orchestration.record import record_failure, record_success
from halo_forge.orchestration.run import TRAINED
from halo_forge.training import launch
from halo_forge.workspace import Workspace

log = logging.getLogger("halo_forge.platform")


def _key_from_parameters(context, parameters) -> str:
    return parameters["cache_key"].split(":")[-1]


# errno values of I/O failures that may pass on a second try (a full disk or a read-only folder will not)
TRANSIENT_ERRNO = frozenset({"EAGAIN", "EBUSY", "EINTR", "EIO", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED",
                             "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ESTALE"})


def is_transient(exc: BaseException) -> bool:
    """Only I/O and connection failures are retried: never user mistakes (HaloForgeError) nor bugs —
    torch reports shape and dtype bugs as RuntimeError, which keeps its traceback and fails at once."""
    import errno

    if isinstance(exc, HaloForgeError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError):
        return errno.errorcode.get(exc.errno or 0) in TRANSIENT_ERRNO
    try:
        import httpx

        return isinstance(exc, httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx is a dependency
        return False


def _transient(task, task_run, state) -> bool:
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classified, not swallowed: the task's own state keeps it
        return is_transient(exc)
    return False


@task(name="train", persist_result=True, result_serializer="json", retry_condition_fn=_transient,
      task_run_name=flowruns.train_task_name)
def train_task(modality: str, config_json: dict, cache_key: str, data_file: str, lineage: dict,
               workspace_root: str, command: list[str], parent_mlflow_run: str | None = None,
               stage: str | None = None) -> dict:
    ws = Workspace(Path(workspace_root))
    FAILED.pop(cache_key, None)  # a retry starts clean
    config = registry.config_class(modality)(**config_json)
    data = SplitData.load(Path(data_file))
    trainer = registry.get_trainer(config, data=data)
    trainer.inputs_extra = dict(lineage)
    flowruns.name_current(trainer.run_id, modality, config.model, stage)
    tracker = _tracker(ws)
    with watched_run(ws, trainer, config, lineage, lock=_lock_file(ws, cache_key), tracking=tracker is not None):
        if tracker is not None:
            tracker.start(trainer.run_id, config.model_dump(mode="json"), modality=modality,
                          tags={"cache_key": cache_key, **({"stage": stage} if stage else {})},
                          parent_run_id=parent_mlflow_run)
            trainer.callbacks.append(tracker.callback())
        trainer.inputs_extra.update(_where_tracked(tracker))
        try:
            with storage_errors(trainer.output):
                summary = launch.train(trainer)  # here, or in --num-processes ranks under `accelerate launch`
        except BaseException as exc:
            FAILED[cache_key] = exc
            record_failure(ws, trainer, config, exc, tracker=tracker, lineage=lineage)
            raise
        TRAINED.add(summary.run_id)
        summary = record_success(ws, summary, config, Path(data_file), command=command, tracker=tracker)
        payload = summary.model_dump(mode="json")
        cache.store(ws, cache_key, payload)
        return payload


def _where_tracked(tracker) -> dict:
    """The Prefect flow run and MLflow run of this run (the dashboard links to them)."""
    from prefect.runtime import flow_run

    out = {"prefect_flow_run_id": str(flow_run.id) if flow_run.id else None}
    if tracker is not None and tracker.mlflow_run_id:
        out["mlflow_run_id"] = tracker.mlflow_run_id
    return out


def _tracker(ws: Workspace):
    from halo_forge.tracking import Tracker, tracking_enabled

    return Tracker(ws) if tracking_enabled() else None


def _lock_file(ws: Workspace, cache_key: str) -> Path:
    """Where Prefect's lock manager keeps the lock of this key's cache record."""
    return ws.results_dir / "locks" / f"{cache_key.split(':')[-1]}.lock"


def _policy(ws: Workspace) -> CacheKeyFnPolicy:
    store = ws.results_dir / "prefect"
    locks = ws.results_dir / "locks"
    store.mkdir(parents=True, exist_ok=True)
    locks.mkdir(parents=True, exist_ok=True)
    return CacheKeyFnPolicy(cache_key_fn=_key_from_parameters).configure(
        key_storage=store, lock_manager=LivenessLockManager(lock_files_directory=locks),
        isolation_level="SERIALIZABLE")


@flow(name="train", log_prints=False, flow_run_name=flowruns.starting_name)
def train_flow(modality: str, config_json: dict, inputs: dict, workspace_root: str, *, no_cache: bool = False,
               retries: int = 0, retry_delay_seconds: float = 10.0, command: list[str] | None = None,
               parent_mlflow_run: str | None = None, stage: str | None = None) -> dict:
    """Train one run of any trainer; cached on the content of its inputs. `stage` names the recipe stage
    ("quickstart/dpo") in the flow run's name and tags and in MLflow."""
    ws = Workspace(Path(workspace_root))
    resolved = ResolvedInputs(**{**inputs, "data_file": Path(inputs["data_file"])})
    task_fn = train_task.with_options(cache_policy=_policy(ws), refresh_cache=no_cache, retries=retries,
                                      retry_delay_seconds=retry_delay_seconds)
    payload = task_fn(modality, config_json, resolved.cache_key, str(resolved.data_file), resolved.lineage(),
                      workspace_root, command or sys.argv, parent_mlflow_run, stage)
    if payload.get("run_id") not in TRAINED:  # Prefect's own cache answered: the task did not run
        flowruns.name_current(payload["run_id"], modality, config_json.get("model"), stage, cache_hit=True)
    return payload


def _recipe_run_name() -> str:
    from prefect.runtime import flow_run

    return f"recipe {Path(str(flow_run.parameters.get('recipe_path'))).stem}"


@flow(name="post-training", log_prints=False, flow_run_name=_recipe_run_name)
def post_training_flow(recipe_path: str, workspace_root: str, *, no_cache: bool = False, retries: int = 0) -> list[dict]:
    """Run a recipe's stages in order, each stage's model artifact feeding the next, each cached alone."""
    from halo_forge.orchestration.recipe import load_recipe, run_stages

    ws = Workspace(Path(workspace_root))
    recipe = load_recipe(Path(recipe_path))
    tracker = _tracker(ws)
    parent = tracker.start_parent(recipe.name, {"recipe": str(recipe.path), "stages": [s.name for s in recipe.stages]}) \
        if tracker is not None else None
    results: list[dict] = []
    status = "failed"
    try:
        run_stages(recipe, ws, results, no_cache=no_cache, retries=retries, parent_mlflow_run=parent)
        status = "completed"
    finally:
        if tracker is not None:
            from halo_forge.tracking.story import stage_facts

            stages = [stage_facts(r["stage"], r["summary"], r["cache_hit"]) for r in results]
            for problem in tracker.finish_parent(status, stages):
                log.warning("recipe %s: mlflow: %s", recipe.name, problem)
    return results
