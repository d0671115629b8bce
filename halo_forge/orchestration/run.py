"""`run_training(config)`: the one entry point the CLI and the Python API use for a training run."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager

from halo_forge import registry
from halo_forge.orchestration import cache, console, liveness, resilience
from halo_forge.orchestration.inputs import resolve_inputs
from halo_forge.summary import TrainingSummary
from halo_forge.workspace import Workspace, find_workspace

# run_ids trained by this process (to tell a fresh run from a result Prefect found in its cache)
TRAINED: set[str] = set()


@contextmanager
def _sigterm_as_interrupt():
    """A terminated run unwinds like Ctrl-C: staging removed, run recorded as failed."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _tracking_helper(ws: Workspace):
    """The MLflow store opened in a helper process while this one loads the trainer (see tracking.sidecar),
    let go when the run is over unless an outer run (a recipe) started it."""
    from halo_forge.tracking import sidecar

    started = sidecar.prewarm(ws)
    try:
        yield
    finally:
        if started:
            sidecar.close(ws)


@contextmanager
def _flow_run(ws: Workspace):
    """Around a flow run in this process: the Prefect server up, results persisted in the workspace,
    SIGTERM unwinding like Ctrl-C, and the flow settings (see `server.flow_settings`)."""
    from halo_forge.orchestration import server

    url = server.ensure_server()
    os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", str(ws.results_dir / "prefect"))
    with _sigterm_as_interrupt(), server.flow_settings(), console.quiet_prefect(url):
        yield


def _check(config) -> None:
    """Refuse, before anything starts, a config this machine cannot run (pure: nothing is built)."""
    from halo_forge.config import config_error

    from halo_forge.training.trainer import output_problems

    problems = registry.check(config) + output_problems(config)
    if problems:
        raise config_error(type(config), problems, "this machine")


def _retries(retries: int | None) -> int:
    return int(os.environ.get("HALO_FORGE_RETRIES", "0")) if retries is None else retries


def run_training(config, *, no_cache: bool = False, retries: int | None = None, command: list[str] | None = None,
                 parent_mlflow_run: str | None = None, ws: Workspace | None = None,
                 stage: str | None = None) -> tuple[TrainingSummary, bool]:
    """Train `config` through `train_flow` unless an identical run is recorded; returns (summary, cache_hit).

    A cache hit places the recorded model at `config.output` (see `cache.materialise`) and is still recorded
    in Prefect as a Cached flow run (`flowruns.record_cache_hit`; its id is
    `summary.extra["prefect_cache_hit_flow_run_id"]`). `stage` ("quickstart/dpo") names the recipe stage in
    Prefect and MLflow. Runs that died (killed) are cleaned up first (`liveness.sweep`); a Prefect API lost
    after training is a platform error in the summary (`resilience.recover`)."""
    ws = ws or find_workspace()
    liveness.sweep()
    inputs = resolve_inputs(config, ws)
    if not no_cache:
        hit = cache.lookup(ws, inputs.cache_key)
        if hit is not None:
            summary = cache.materialise(TrainingSummary.model_validate(hit), config.output, overwrite=config.overwrite)
            _record_hit(summary, inputs.cache_key, stage)
            return summary, True
        # A record whose model is gone or changed is stale: make Prefect's cache train again too.
        no_cache = cache.record_path(ws, inputs.cache_key).exists()
    with _tracking_helper(ws):
        _check(config)  # every problem with the backend and the output folder, before anything starts
        payload_inputs = {**inputs.__dict__, "data_file": str(inputs.data_file)}
        with _flow_run(ws):
            from halo_forge.orchestration.flow import train_flow

            try:
                payload = train_flow(config.modality, config.model_dump(mode="json"), payload_inputs, str(ws.root),
                                     no_cache=no_cache, retries=_retries(retries), command=command or sys.argv,
                                     parent_mlflow_run=parent_mlflow_run, stage=stage)
            except Exception as exc:
                recovered = resilience.recover(ws, inputs.cache_key, TRAINED, exc)
                if recovered is None:
                    raise
                payload = recovered.model_dump(mode="json")
    summary = TrainingSummary.model_validate(payload)
    if summary.run_id in TRAINED:
        return summary, False
    return cache.materialise(summary, config.output, overwrite=config.overwrite), True  # Prefect's own cache hit


def _record_hit(summary: TrainingSummary, cache_key: str, stage: str | None) -> None:
    from halo_forge.orchestration.flowruns import record_cache_hit

    flow_run_id = record_cache_hit(summary, cache_key, stage)
    if flow_run_id:
        summary.extra["prefect_cache_hit_flow_run_id"] = flow_run_id


def run_recipe(path, *, no_cache: bool = False, retries: int | None = None,
               ws: Workspace | None = None) -> list[dict]:
    """Validate a recipe, then run `post_training_flow`; returns one {stage, cache_hit, summary} per stage.

    When every stage is a recorded cache hit, the stages are answered from their records (each still shows in
    Prefect as a Cached flow run) without starting the flow engine or an MLflow parent run: nothing trains."""
    from pathlib import Path

    from halo_forge.orchestration.recipe import every_stage_recorded, load_recipe, run_stages

    ws = ws or find_workspace()
    with _tracking_helper(ws):  # MLflow opens in its helper while the stages are checked (that imports torch)
        recipe = load_recipe(Path(path))  # every stage checked before anything starts
        if not no_cache and every_stage_recorded(recipe, ws):
            return run_stages(recipe, ws, [])
        with _flow_run(ws):
            from halo_forge.orchestration.flow import post_training_flow

            return post_training_flow(str(Path(path).resolve()), str(ws.root), no_cache=no_cache,
                                      retries=_retries(retries))
