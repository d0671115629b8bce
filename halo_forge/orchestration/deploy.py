"""Deployments of the post-training flow: a cron schedule and a data-change trigger.

`halo-forge flows serve RECIPE --cron '0 3 * * *' --watch data/train.jsonl` registers up to two
deployments of `post_training_flow` with the Prefect server and serves them in this process:

- `<recipe>-scheduled` runs on the cron schedule;
- `<recipe>-on-data-change` has a Prefect deployment trigger on the event `halo-forge.data.changed`
  for this recipe. A watcher in the serving process polls the watched files' content digests and
  emits that event when a file appears or its bytes change, so the recipe reruns on new data
  (unchanged stages are cache hits).

The same flows can be deployed with `prefect deploy` from flows/ (see prefect.yaml).
"""

from __future__ import annotations

import threading
from pathlib import Path

from halo_forge.errors import ConfigError
from halo_forge.lineage.digests import file_digest
from halo_forge.workspace import find_workspace

EVENT = "halo-forge.data.changed"


def resource_id(recipe_name: str) -> str:
    return f"halo-forge.recipe.{recipe_name}"


class DataWatcher:
    """Remembers the digest of each watched file; `changed()` lists files that are new or different."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.seen: dict[Path, str | None] = {p: self._digest(p) for p in self.paths}

    @staticmethod
    def _digest(path: Path) -> str | None:
        try:
            return file_digest(path)
        except OSError:
            return None

    def changed(self) -> list[Path]:
        out = []
        for p in self.paths:
            d = self._digest(p)
            if d is not None and d != self.seen.get(p):
                out.append(p)
            self.seen[p] = d
        return out


def build_deployments(recipe_path: Path, *, cron: str | None, watch: list[Path]):
    """The RunnerDeployments for a recipe (validated first); nothing is registered yet."""
    from prefect.events import DeploymentEventTrigger

    from halo_forge.orchestration.flow import post_training_flow
    from halo_forge.orchestration.recipe import load_recipe

    if not cron and not watch:
        raise ConfigError("flows serve needs --cron and/or --watch", hint="e.g. --cron '0 3 * * *' --watch data.jsonl")
    recipe = load_recipe(recipe_path)
    ws = find_workspace()
    params = {"recipe_path": str(Path(recipe_path).resolve()), "workspace_root": str(ws.root)}
    deployments = []
    if cron:
        try:
            from croniter import croniter

            if not croniter.is_valid(cron):
                raise ValueError(cron)
        except ImportError:
            pass
        except ValueError:
            raise ConfigError(f"--cron {cron!r} is not a valid cron expression",
                              hint="five fields: minute hour day month weekday, e.g. '0 3 * * *'") from None
        deployments.append(post_training_flow.to_deployment(
            name=f"{recipe.name}-scheduled", cron=cron, parameters=params, tags=["halo-forge", "scheduled"]))
    if watch:
        trigger = DeploymentEventTrigger(expect={EVENT}, match={"prefect.resource.id": resource_id(recipe.name)})
        deployments.append(post_training_flow.to_deployment(
            name=f"{recipe.name}-on-data-change", parameters=params, triggers=[trigger],
            tags=["halo-forge", "data-trigger"]))
    return recipe, deployments


def emit_change(recipe_name: str, path: Path) -> None:
    from prefect.events import emit_event

    emit_event(event=EVENT, resource={"prefect.resource.id": resource_id(recipe_name),
                                      "halo-forge.path": str(path)})


def serve(recipe_path: Path, *, cron: str | None, watch: list[Path], poll_seconds: float = 30.0) -> None:
    from halo_forge.orchestration import server

    server.ensure_server()  # before Prefect is imported: its settings are read at import time
    from prefect import serve as prefect_serve

    recipe, deployments = build_deployments(recipe_path, cron=cron, watch=watch)
    if watch:
        watcher = DataWatcher(watch)
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(poll_seconds):
                for path in watcher.changed():
                    emit_change(recipe.name, path)

        threading.Thread(target=loop, name="halo-forge-data-watcher", daemon=True).start()
    prefect_serve(*deployments)
