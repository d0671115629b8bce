"""Prefect work pools: deployments run on real process workers (`halo-forge flows worker`), two at once, and the
run index keeps every run they write; Docker and Kubernetes pools take the same deployments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_forge.cli.main import main

REPO = Path(__file__).resolve().parents[1]
STAGE = {"model": "halo-forge/tiny", "no_lora": True, "max_steps": 2, "batch_size": 4, "max_eval_samples": 2,
         "eval_max_new_tokens": 2, "checkpoint_every": 0}


def _recipe(folder: Path, name: str, data: Path, seed: int) -> Path:
    import yaml

    body = {"name": name, "output_dir": str(folder / "outputs" / name),
            "stages": [{"name": "sft", "trainer": "sft", "config": {**STAGE, "data": str(data), "seed": seed}}]}
    path = folder / f"{name}.yaml"
    path.write_text(f"# halo-forge recipe run {path.name}\n" + yaml.safe_dump(body, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def api():
    from halo_forge.orchestration import server

    return server.ensure_server()  # the session's local server, with its scheduler and trigger services


@pytest.fixture()
def project(tmp_path, monkeypatch, api, rows_file):
    ws = tmp_path / "ws"
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "HALO_FORGE_TRACKING": "0", "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    return tmp_path, ws, rows_file, env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "halo_forge.cli.main", *args]


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the worker and the flow runs it started
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_line(proc: subprocess.Popen, needle: str, timeout: float = 180) -> None:
    deadline, seen = time.monotonic() + timeout, []
    for line in proc.stdout:
        if needle in line:
            return
        seen.append(line)
        assert time.monotonic() < deadline, f"no {needle!r} in time: {''.join(seen)}"
    raise AssertionError(f"exited ({proc.wait()}) before printing {needle!r}: {''.join(seen)}")


def _wait_for_workers(pool: str, n: int, timeout: float = 180) -> None:
    """Until `n` workers of `pool` are online (the first one to start creates the pool)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            try:
                client.read_work_pool(pool)
                online = [w for w in client.read_workers_for_work_pool(pool) if w.status == "ONLINE"]
            except ObjectNotFound:
                online = []
            if len(online) >= n:
                return
            assert time.monotonic() < deadline, f"{len(online)} of {n} workers of {pool} online"
            time.sleep(0.5)


def _finished_runs(deployment_ids: list, want: int, timeout: float = 600) -> list:
    """The flow runs of `deployment_ids` once `want` of them are final (they must all be Completed)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)))
            final = [r for r in runs if r.state and r.state.is_final()]
            if len(final) >= want:
                assert all(r.state.is_completed() for r in final), [(r.name, r.state.name, r.state.message)
                                                                    for r in final]
                return final
            assert time.monotonic() < deadline, [(r.name, r.state and r.state.name) for r in runs]
            time.sleep(1)


def _deployment(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_deployments_run_on_two_process_workers_at_once_and_both_runs_are_indexed(project):
    tmp, ws, data, env = project
    pool = f"pool-{os.getpid()}-{int(time.time())}"
    started = []
    try:
        for i in (1, 2):  # `halo-forge flows worker --pool NAME`: a process worker each, one flow run at a time
            started.append(subprocess.Popen(_cli("flows", "worker", "--pool", pool, "--limit", "1", "--name", f"w{i}"),
                                            env=env, cwd=tmp, start_new_session=True, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        _wait_for_workers(pool, 2)
        # a recipe on the pool, rerun on new data (the watch stays in this process; the run goes to a worker)
        recipe = _recipe(tmp, "nightly", data, seed=1)
        serve = subprocess.Popen(_cli("flows", "serve", str(recipe), "--cron", "0 3 * * *", "--watch", str(data),
                                      "--pool", pool, "--poll-seconds", "1"),
                                 env=env, cwd=tmp, start_new_session=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        started.append(serve)
        _wait_line(serve, "watching")  # the pool exists by now: registering on it succeeded
        # prefect.yaml's `train` deployment (flows/train.py) on the same pool
        subprocess.run(_prefect("deploy", "-n", "train", "-p", pool), env=env, cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        config = {**STAGE, "data": str(data), "seed": 2, "output": str(tmp / "outputs" / "train")}
        with data.open("a") as fh:  # new data: the data-change trigger starts the recipe on a worker
            fh.write(json.dumps({"prompt": "What is 9+9?", "completion": "18", "answer": "18"}) + "\n")
        subprocess.run(_prefect("deployment", "run", "halo-forge-train/train", "--params",
                                json.dumps({"modality": "sft", "config": config})), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        ids = [_deployment(n).id for n in ("post-training/nightly-on-data-change", "halo-forge-train/train")]
        runs = _finished_runs(ids, want=2)
    finally:
        _stop(started)
    scheduled = _deployment("post-training/nightly-scheduled")
    assert scheduled.work_pool_name == pool and [s.schedule.cron for s in scheduled.schedules] == ["0 3 * * *"]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time < first.end_time, "the two workers ran their flow runs at the same time"

    from halo_forge.runs import RunIndex
    from halo_forge.workspace import Workspace

    index = RunIndex(Workspace(ws))
    rows = index.search(limit=10).rows
    assert index.count() == 2 and sorted(index.get(r.run_id).seed for r in rows) == [1, 2]


@pytest.mark.parametrize("kind", ["docker", "kubernetes"])
def test_container_pools_take_the_deployments_with_their_image(project, capsys, kind):
    tmp, ws, data, env = project
    pool = f"{kind}-{os.getpid()}-{int(time.time())}"
    subprocess.run(_prefect("work-pool", "create", pool, "--type", kind), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    recipe = _recipe(tmp, f"on-{kind}", data, seed=3)
    image = "ghcr.io/example/halo-forge:0.1"
    assert main(["flows", "serve", str(recipe), "--cron", "0 3 * * *", "--pool", pool, "--image", image]) == 0
    deployment = _deployment(f"post-training/on-{kind}-scheduled")
    assert deployment.work_pool_name == pool and deployment.job_variables["image"] == image
    assert deployment.entrypoint == "halo_forge.orchestration.flow.post_training_flow"  # loads in any image

    capsys.readouterr()
    assert main(["flows", "worker", "--pool", pool, "--type", kind]) == 2
    package = {"docker": "prefect-docker", "kubernetes": "prefect-kubernetes"}[kind]
    assert f"a {kind} worker needs the {package} package, which is not installed" in capsys.readouterr().err


def test_pool_mistakes_exit_2(project, capsys):
    tmp, ws, data, env = project
    recipe = _recipe(tmp, "mistakes", data, seed=4)
    assert main(["flows", "serve", str(recipe), "--cron", "0 3 * * *", "--pool", "no-such-pool"]) == 2
    assert "work pool 'no-such-pool' does not exist" in capsys.readouterr().err
    assert main(["flows", "serve", str(recipe), "--cron", "0 3 * * *", "--image", "x:1"]) == 2
    assert "--image names the container a work pool's workers run; it needs --pool" in capsys.readouterr().err
