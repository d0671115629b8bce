"""Deployments of the post-training flow: a cron schedule and a data-change trigger.

`halo-forge flows serve RECIPE --cron '0 3 * * *' --watch data/train.jsonl` registers up to two
deployments of `post_training_flow` with the Prefect server and serves them in this process:

- `<recipe>-scheduled` runs on the cron schedule;
- `<recipe>-on-data-change` has a Prefect deployment trigger on the event `halo-forge.data.changed`
  for this recipe. A watcher in the serving process polls the watched files' content digests and
  emits that event when a file appears or its bytes change, so the recipe reruns on new data
  (unchanged stages are cache hits).

With `--pool NAME` the deployments are registered on that Prefect work pool instead of being served
here: the server schedules and triggers them, and the pool's workers run them
(`halo-forge flows worker --pool NAME`, or Prefect's own Docker and Kubernetes workers with `--image`).
Their entry point is the module path `halo_forge.orchestration.flow.post_training_flow`, so a worker
anywhere with halo-forge installed can load it; the process keeps running only to watch `--watch` files.

The same flows can be deployed with `prefect deploy` from flows/ (see prefect.yaml).
"""

from __future__ import annotations

import threading
import time
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


def build_deployments(recipe_path: Path, *, cron: str | None, watch: list[Path], module_path: bool = False):
    """The RunnerDeployments for a recipe (validated first); nothing is registered yet. `module_path`: the
    entry point is the flow's module path (what a work pool's workers load), not this file."""
    from prefect.deployments.runner import EntrypointType
    from prefect.events import DeploymentEventTrigger

    from halo_forge.orchestration.flow import post_training_flow
    from halo_forge.orchestration.recipe import load_recipe

    if not cron and not watch:
        raise ConfigError("flows serve needs --cron and/or --watch", hint="e.g. --cron '0 3 * * *' --watch data.jsonl")
    recipe = load_recipe(recipe_path)
    ws = find_workspace()
    params = {"recipe_path": str(Path(recipe_path).resolve()), "workspace_root": str(ws.root)}
    entry = {"entrypoint_type": EntrypointType.MODULE_PATH} if module_path else {}
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
            name=f"{recipe.name}-scheduled", cron=cron, parameters=params, tags=["halo-forge", "scheduled"], **entry))
    if watch:
        trigger = DeploymentEventTrigger(expect={EVENT}, match={"prefect.resource.id": resource_id(recipe.name)})
        deployments.append(post_training_flow.to_deployment(
            name=f"{recipe.name}-on-data-change", parameters=params, triggers=[trigger],
            tags=["halo-forge", "data-trigger"], **entry))
    return recipe, deployments


def emit_change(recipe_name: str, path: Path) -> None:
    from prefect.events import emit_event

    emit_event(event=EVENT, resource={"prefect.resource.id": resource_id(recipe_name),
                                      "halo-forge.path": str(path)})


def serve(recipe_path: Path, *, cron: str | None, watch: list[Path], poll_seconds: float = 30.0,
          pool: str | None = None, image: str | None = None) -> None:
    """Serve the recipe's deployments in this process, or register them on work pool `pool` (then only
    watch the files, if any, in this process)."""
    from halo_forge.orchestration import server

    server.ensure_server()  # before Prefect is imported: its settings are read at import time
    if image and not pool:
        raise ConfigError("--image names the container a work pool's workers run; it needs --pool",
                          hint="add --pool NAME (a docker or kubernetes work pool), or drop --image")
    recipe, deployments = build_deployments(recipe_path, cron=cron, watch=watch, module_path=pool is not None)
    watcher = DataWatcher(watch) if watch else None
    if pool is None:
        from prefect import serve as prefect_serve

        if watcher is not None:
            threading.Thread(target=_watch, args=(watcher, recipe.name, poll_seconds), daemon=True,
                             name="halo-forge-data-watcher").start()
        prefect_serve(*deployments)
        return
    names = register_on_pool(deployments, pool, image=image)
    print(f"registered {', '.join(names)} on work pool {pool!r}; its workers run them "
          f"(`halo-forge flows worker --pool {pool}`)", flush=True)
    if watcher is not None:
        print(f"watching {', '.join(map(str, watch))} every {poll_seconds:g} s (Ctrl-C stops watching)", flush=True)
        _watch(watcher, recipe.name, poll_seconds)


def _watch(watcher: DataWatcher, recipe_name: str, poll_seconds: float) -> None:
    while True:
        time.sleep(poll_seconds)
        for path in watcher.changed():
            emit_change(recipe_name, path)


def register_on_pool(deployments, pool: str, *, image: str | None = None) -> list[str]:
    """Register `deployments` on work pool `pool` (which must exist); returns their names."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            work_pool = client.read_work_pool(pool)
        except ObjectNotFound:
            raise ConfigError(f"work pool {pool!r} does not exist on the Prefect server",
                              hint=f"start a worker, which creates a process pool: `halo-forge flows worker --pool "
                                   f"{pool}`; or `prefect work-pool create {pool} --type docker` "
                                   "(or --type kubernetes)") from None
    if image and "image" not in work_pool.base_job_template.get("variables", {}).get("properties", {}):
        raise ConfigError(f"work pool {pool!r} is a {work_pool.type} pool, which runs no container image",
                          hint="drop --image, or use a docker or kubernetes work pool")
    for deployment in deployments:
        deployment.apply(work_pool_name=pool, image=image)
    return [d.name for d in deployments]
