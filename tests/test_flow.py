"""train_flow and post_training_flow for real: Prefect (local server), cache keys, recipes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.orchestration import run as run_module
from halo_forge.summary import TrainingSummary

ROWS = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}
        for a in range(10, 20) for b in range(10, 14)]
TRAIN = ["--model", "halo-forge/tiny", "--no-lora", "--max-steps", "2", "--batch-size", "4",
         "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--learning-rate", "1e-3"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return ws, data


def _train(data: Path, output: Path, *extra: str) -> int:
    return main(["sft", "train", "--data", str(data), "--output", str(output), *TRAIN, *extra])


def test_rerun_is_a_cache_hit_and_any_changed_byte_is_a_miss(workspace, capsys):
    ws, data = workspace
    out = ws.parent / "out"
    assert _train(data, out) == 0
    first = TrainingSummary.read(out)
    trained = set(run_module.TRAINED)
    assert first.run_id in trained and first.inputs.cache_key

    capsys.readouterr()
    assert _train(data, out) == 0
    assert "cache hit" in capsys.readouterr().out
    assert run_module.TRAINED == trained, "a cache hit must train nothing"
    assert TrainingSummary.read(out).run_id == first.run_id

    text = data.read_text()
    data.write_text(text.replace('"What is 10+10?"', '"What is 10+10 ?"', 1))  # one changed byte
    assert _train(data, out, "--overwrite") == 0
    second = TrainingSummary.read(out)
    assert second.run_id != first.run_id and second.inputs.cache_key != first.inputs.cache_key
    assert second.inputs.dataset_digest != first.inputs.dataset_digest

    assert _train(data, out, "--overwrite", "--no-cache") == 0
    assert TrainingSummary.read(out).run_id not in trained | {second.run_id}


def test_a_deleted_output_is_not_a_cache_hit(workspace):
    import shutil

    ws, data = workspace
    out = ws.parent / "gone"
    assert _train(data, out) == 0
    shutil.rmtree(out)
    before = set(run_module.TRAINED)
    assert _train(data, out) == 0
    assert run_module.TRAINED - before, "the recorded model is gone: the run must train again"


def test_two_identical_runs_started_together_train_once(workspace):
    ws, data = workspace
    out = ws.parent / "together"
    cmd = [sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--data", str(data), "--output", str(out),
           *TRAIN]
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws)}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    hits = sum("cache hit" in o for o, _ in outs)
    assert hits == 1, f"exactly one of two identical runs may train: {outs}"


def test_recipe_chains_stages_and_caches_each(workspace, capsys):
    ws, data = workspace
    recipe = ws.parent / "two.yaml"
    common = {"no_lora": True, "max_steps": 2, "batch_size": 4, "max_eval_samples": 4, "eval_max_new_tokens": 4}
    recipe.write_text(json.dumps({
        "name": "two", "output_dir": str(ws.parent / "recipe-out"),
        "stages": [{"name": "first", "trainer": "sft", "config": {"data": str(data), "model": "halo-forge/tiny", **common}},
                   {"name": "second", "trainer": "sft", "config": {"data": str(data), **common, "learning_rate": 1e-3}}],
    }))
    assert main(["recipe", "run", str(recipe)]) == 0
    first = TrainingSummary.read(ws.parent / "recipe-out" / "first")
    second = TrainingSummary.read(ws.parent / "recipe-out" / "second")
    assert second.model_name == first.outputs.model_path
    assert second.inputs.model_digest == first.outputs.model_digest
    capsys.readouterr()
    assert main(["recipe", "run", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert out.count("cache hit") == 2

    # Prefect shows both: the run's flow run renamed after it, and the hit as a Cached flow run (a recipe whose
    # stages are all recorded is answered from the records, without the flow engine)
    hit_link = re.findall(r"Prefect: +\S+/runs/flow-run/([0-9a-f-]{36})", out)[0]
    flow_run = _prefect(f"flow_runs/{hit_link}")
    assert flow_run["name"] == f"{first.run_id} · two/first (cache hit)" and flow_run["state_name"] == "Cached"
    assert "stage:two/first" in flow_run["tags"] and "cache-hit" in flow_run["tags"]
    (task_run,) = _prefect("task_runs/filter", {"flow_runs": {"id": {"any_": [hit_link]}}})
    key = first.inputs.cache_key.split(":")[-1]
    assert task_run["cache_key"] == key and task_run["name"] == f"train (cached) · key {key[:12]}"
    trained = _prefect(f"flow_runs/{first.inputs.model_extra['prefect_flow_run_id']}")
    assert trained["name"] == f"{first.run_id} · two/first" and f"run:{first.run_id}" in trained["tags"]
    # the trained run's task shows the same key (Prefect 3 leaves its cache_key empty)
    trained_tasks = _prefect("task_runs/filter", {"flow_runs": {"id": {"any_": [trained["id"]]}}})
    assert [t["name"] for t in trained_tasks] == [f"train · key {key[:12]}"], trained_tasks


def _prefect(path: str, body: dict | None = None):
    """GET (or POST `body` to) the session's Prefect API."""
    import urllib.request

    req = urllib.request.Request(f"{os.environ['PREFECT_API_URL']}/{path}", method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_strict_exits_3_on_a_failed_verdict(workspace):
    from halo_forge.cli.report import exit_code
    from halo_forge.summary import Effectiveness

    ws, data = workspace
    out = ws.parent / "frozen"
    frozen = ("--learning-rate", "1e-30")  # Adam moves no fp32 weight by 1e-30: "no trainable weight changed"
    assert _train(data, out, *frozen) == 0  # a failed verdict is a finished run: exit 0 without --strict
    assert TrainingSummary.read(out).effectiveness.verdict == "failed"
    assert _train(data, out, *frozen, "--strict") == 3  # (a cache hit: the recorded verdict decides)
    warned = TrainingSummary.read(out).model_copy(update={"effectiveness": Effectiveness(verdict="warned")})
    assert exit_code([warned], strict=True) == 0  # only a failed verdict fails the gate


@pytest.mark.parametrize("body, expect", [
    ("name: x\nstages:\n  - trainer: sft\n    config: {dataset: arithmetic}\n  - trainer: sparkle\n", ":5: unknown stage trainer 'sparkle'"),
    ("name: x\nstages:\n  - trainer: sft\n    config: {dataset: arithmetic, learning_rate: -1}\n", ":3: stage 'sft'"),
    ("name: x\nstages: [\n", "invalid YAML"),
    ("name: x\n", "non-empty `stages:`"),
])
def test_bad_recipes_exit_2_naming_the_line(workspace, capsys, body, expect):
    ws, _ = workspace
    recipe = ws.parent / "bad.yaml"
    recipe.write_text(body)
    assert main(["recipe", "run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and expect in err and "Traceback" not in err


def test_shipped_quickstart_recipe_matches_the_quickstart(workspace):
    from halo_forge.orchestration.recipe import load_recipe
    from halo_forge.quickstart import QUICKSTART_DPO, QUICKSTART_GRPO, QUICKSTART_SFT

    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / "quickstart.yaml")
    assert recipe.stages[0].config == QUICKSTART_SFT
    assert [(s.name, s.trainer) for s in recipe.stages] == [("sft", "sft"), ("dpo", "dpo"), ("grpo", "grpo")]
    assert recipe.stages[1].config == QUICKSTART_DPO  # its model is the sft stage's output
    assert recipe.stages[2].config == QUICKSTART_GRPO  # its model is the dpo stage's output


def test_every_shipped_recipe_opens_with_its_command_and_validates():
    from halo_forge.orchestration.recipe import load_recipe

    recipes = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        assert path.read_text().startswith(f"# halo-forge recipe run recipes/{path.name}\n"), path
        load_recipe(path)


def test_flows_serve_registers_a_cron_schedule_and_a_data_trigger(workspace):
    import asyncio

    from halo_forge.orchestration import server

    server.ensure_server()  # before Prefect is imported: it reads PREFECT_API_URL at import time
    from prefect.client.orchestration import get_client

    from halo_forge.orchestration.deploy import EVENT, DataWatcher, build_deployments

    ws, data = workspace
    recipe = Path(__file__).parents[1] / "recipes" / "quickstart.yaml"
    _, deployments = build_deployments(recipe, cron="0 3 * * *", watch=[data])
    ids = {d.name: d.apply() for d in deployments}

    async def read():
        async with get_client() as client:
            deps = {n: await client.read_deployment(i) for n, i in ids.items()}
            autos = await client.read_automations()
            return deps, autos

    deps, automations = asyncio.run(read())
    scheduled = deps["quickstart-scheduled"]
    assert [s.schedule.cron for s in scheduled.schedules] == ["0 3 * * *"]
    assert scheduled.parameters["recipe_path"] == str(recipe.resolve())
    triggered = [a for a in automations if EVENT in getattr(a.trigger, "expect", set())]
    assert triggered, "the data-change deployment must carry a trigger on halo-forge.data.changed"

    watcher = DataWatcher([data])
    assert watcher.changed() == []
    data.write_text(data.read_text() + json.dumps(ROWS[0]) + "\n")
    assert watcher.changed() == [data]
    assert watcher.changed() == []


def test_flows_serve_needs_a_schedule_or_a_watch(workspace, capsys):
    assert main(["flows", "serve", str(Path(__file__).parents[1] / "recipes" / "quickstart.yaml")]) == 2
    assert "--cron and/or --watch" in capsys.readouterr().err


def test_heartbeats_are_off_on_our_own_server_unless_asked_for(monkeypatch):
    from prefect.settings import get_current_settings

    from halo_forge.orchestration import server

    for key in server.HEARTBEAT_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HALO_FORGE_PREFECT_OWNED", "1")
    with server.flow_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")  # the user wants them (a zombie-flow automation)
    with server.flow_settings():
        assert get_current_settings().flows.heartbeat_frequency is not None
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY")
    monkeypatch.delenv("HALO_FORGE_PREFECT_OWNED")  # someone else's server: Prefect's default applies
    with server.flow_settings():
        assert get_current_settings().flows.heartbeat_frequency is not None

