"""MLflow tracking against a real sqlite store: params, streamed metrics, the summary artifact, the dataset
input, nesting, a refused server (fast, pending record) and the replay of pending records.

One store serves the whole module (a fresh sqlite store migrates for seconds); each test uses its own run ids.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import importlib.util

import pytest

if importlib.util.find_spec("mlflow") is None:  # find_spec, not importorskip: importing mlflow costs ~1.5 s
    pytest.skip("mlflow is not installed", allow_module_level=True)

from halo_forge.summary import Evaluation, Inputs, TrainingSummary, judge  # noqa: E402
from halo_forge.tracking import Tracker, list_pending, pending_dir, sync_pending  # noqa: E402
from halo_forge.tracking._store import ENV_DEFAULTS, MAX_PARAM_VAL, configure_env  # noqa: E402
from halo_forge.workspace import Workspace  # noqa: E402

EXPERIMENT = "halo-forge"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """One workspace and sqlite store for the module; the cwd is an empty folder to prove nothing lands in it."""
    root = tmp_path_factory.mktemp("tracking-ws")
    cwd = tmp_path_factory.mktemp("tracking-cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        for key in ENV_DEFAULTS:  # restored (unset) after the module, whatever the tracker sets
            mp.setenv(key, os.environ.get(key, "")) if key in os.environ else mp.delenv(key, raising=False)
        mp.chdir(cwd)
        workspace = Workspace(root).ensure()
        yield workspace
        assert not (cwd / "mlruns").exists() and not (cwd / "mlflow.db").exists(), list(cwd.iterdir())


@pytest.fixture(scope="module")
def client(ws):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=ws.mlflow_uri)


@pytest.fixture
def no_env_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _summary(run_id: str, folder: Path, *, status: str = "completed") -> tuple[TrainingSummary, Path]:
    evals = [Evaluation.of("heldout_accuracy", 0.25, 0.5, n=40, tolerance=0.02),
             Evaluation.of("heldout_loss", 2.0, 1.5, higher_is_better=False, n=40)]
    summary = TrainingSummary(
        modality="sft", model_name="halo-forge/tiny", run_id=run_id, seed=7, status=status, backend="cpu",
        duration_seconds=12.5, total_train_steps_executed=300, final_train_loss=0.125, weights_updated=True,
        effectiveness=judge(evals, steps=300, weights_updated=True),
        inputs=Inputs(dataset="arithmetic", dataset_digest=DIGEST, train_rows=160, eval_rows=40, cache_key="ck-123"),
        config={"lr": 1e-4},
    )
    return summary, summary.write(folder)


def _dataset_file(folder: Path) -> Path:
    path = folder / "rows.json"
    path.write_text(json.dumps({"source": "arithmetic", "format": "prompt_completion", "digest": DIGEST,
                                "train": [{"prompt": "1+1=", "completion": "2", "answer": "2"}], "heldout": []}))
    return path


def _one_run(client, run_id: str):
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id],
                              filter_string=f"tags.run_id = '{run_id}'")
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


CONFIG = {
    "model": "halo-forge/tiny",
    "learning_rate": 1e-4,
    "lora": {"r": 8, "alpha": 16, "targets": {"attn": ["q_proj", "v_proj"]}},
    "system_prompt": "x" * 10_000,
    "empty": {},
    "bad key (odd)!": None,
}


def test_run_logged_and_findable(ws, client, tmp_path, no_env_uri, monkeypatch):
    import mlflow
    from mlflow.tracking.client import MlflowClient

    tracker = Tracker(ws)
    parent_id = tracker.start_parent("recipe-a", {"recipe": "sft-then-dpo", "steps": ["sft", "dpo"]})
    assert not parent_id.startswith("pending:")
    tracker.start("sft-a", CONFIG, modality="sft", tags={"team": "core"}, parent_run_id=parent_id)
    assert tracker.mlflow_run_id and not tracker.failures

    metric_batches = []
    real_log_batch = MlflowClient.log_batch

    def spy(self, run_id, metrics=(), params=(), tags=(), synchronous=None):
        if metrics:
            metric_batches.append(len(metrics))
        return real_log_batch(self, run_id, metrics=metrics, params=params, tags=tags, synchronous=synchronous)

    monkeypatch.setattr(MlflowClient, "log_batch", spy)
    for step in range(1, 301):
        tracker.log_metrics({"loss": 2.0 / step, "learning_rate": 1e-4, "epoch": step / 300, "note": "text",
                             "flag": True}, step=step)
    summary, summary_path = _summary("sft-a", tmp_path / "out")
    failures = tracker.finish(summary, summary_path, dataset_path=_dataset_file(tmp_path))
    assert failures == []
    assert tracker.finish_parent("completed") == []
    monkeypatch.setattr(MlflowClient, "log_batch", real_log_batch)
    assert sum(metric_batches) == 900 + 4  # 3 numeric values x 300 steps, then 2 held-out figures x (before, after)
    assert len(metric_batches) <= 25, metric_batches  # batched, not one call per point

    run = _one_run(client, "sft-a")
    assert re.fullmatch(r"sft · tiny · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", run.info.run_name), run.info.run_name
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["model"] == "halo-forge/tiny" and p["lora.r"] == "8" and p["lora.alpha"] == "16"
    assert json.loads(p["lora.targets.attn"]) == ["q_proj", "v_proj"] and p["empty"] == "{}"
    assert "bad key _odd__" not in p  # unset values are not params (never the string "None")
    assert len(p["system_prompt"]) == MAX_PARAM_VAL and "truncated 10000 chars" in p["system_prompt"]
    full = json.loads(Path(client.download_artifacts(run.info.run_id, "config.json", str(tmp_path))).read_text())
    assert full["system_prompt"] == "x" * 10_000

    m = run.data.metrics  # step series only: one loss named for the trainer, held-out figures before -> after
    assert set(m) == {"sft_loss", "learning_rate", "epoch", "heldout_accuracy", "heldout_loss"}, m
    history = client.get_metric_history(run.info.run_id, "sft_loss")
    assert len(history) == 300 and sorted(h.step for h in history) == list(range(1, 301))
    assert sorted((h.step, h.value) for h in client.get_metric_history(run.info.run_id, "heldout_accuracy")) == \
        [(0, 0.25), (300, 0.5)]

    t = run.data.tags
    assert {k: t[k] for k in ("run_id", "modality", "cache_key", "verdict", "status", "team")} == {
        "run_id": "sft-a", "modality": "sft", "cache_key": "ck-123", "verdict": "passed", "status": "completed",
        "team": "core"}
    assert t["mlflow.parentRunId"] == parent_id
    assert (t["verdict_reasons"], t["heldout_n"]) == ("improved held-out heldout_accuracy 0.25 -> 0.5 (n=40)", "40")
    assert t["mlflow.note.content"].startswith("**Verdict: passed** · sft run `sft-a`")

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"training_summary.json", "config.json"} <= artifacts
    logged = json.loads(Path(client.download_artifacts(run.info.run_id, "training_summary.json",
                                                       str(tmp_path / "dl"))).read_text())
    assert logged["run_id"] == "sft-a"
    assert run.info.artifact_uri.startswith(ws.mlflow_artifacts.resolve().as_uri())

    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "arithmetic" and DIGEST.startswith(ds.dataset.digest) and len(ds.dataset.digest) == 36
    assert json.loads(ds.dataset.source)["uri"] == "arithmetic"
    assert {tag.key: tag.value for tag in ds.tags}["halo_forge.digest"] == DIGEST
    assert json.loads(ds.dataset.profile)["columns"] == ["prompt", "completion", "answer"]

    parent = client.get_run(parent_id)
    assert parent.data.tags["recipe"] == "recipe-a" and parent.data.tags["run_id"].startswith("recipe-a-")
    assert parent.info.status == "FINISHED" and parent.data.tags["status"] == "completed"  # one vocabulary
    assert json.loads(parent.data.params["steps"]) == ["sft", "dpo"]

    # the fluent API finds it too, by param and metric (set explicitly: another test may have set one)
    mlflow.set_tracking_uri(ws.mlflow_uri)
    df = mlflow.search_runs(experiment_names=[EXPERIMENT],
                            filter_string="params.`lora.r` = '8' and metrics.heldout_accuracy > 0.4 "
                                          "and tags.modality = 'sft'")
    assert list(df["tags.run_id"]) == ["sft-a"]
    assert list(df["tags.mlflow.parentRunId"]) == [parent_id]
    assert list_pending(ws) == []


def test_callback_streams_on_log_and_failed_status(ws, client, tmp_path, no_env_uri, monkeypatch):
    if "transformers" not in sys.modules:  # importing transformers costs ~5 s; the callback only subclasses it
        monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(TrainerCallback=object))
    tracker = Tracker(ws, flush_every=1000, flush_seconds=3600)
    tracker.start("sft-cb", {"lr": 0.1}, modality="sft")
    callback = tracker.callback()
    for step in (1, 2, 3):
        state = types.SimpleNamespace(global_step=step, is_world_process_zero=True)
        callback.on_log(None, state, None, logs={"loss": 1.0 / step, "grad_norm": 0.5, "tag": "x"})
    callback.on_log(None, types.SimpleNamespace(global_step=4, is_world_process_zero=False), None, logs={"loss": 9.0})
    callback.on_train_end(None, types.SimpleNamespace(global_step=3), None)
    assert client.get_metric_history(tracker.mlflow_run_id, "sft_loss")  # flushed at train end
    summary, path = _summary("sft-cb", tmp_path, status="failed")
    assert tracker.finish(summary, tmp_path) == []  # a folder is fine: its training_summary.json is logged
    run = _one_run(client, "sft-cb")
    assert run.info.status == "FAILED" and run.data.tags["status"] == "failed"
    assert [h.value for h in sorted(client.get_metric_history(run.info.run_id, "sft_loss"), key=lambda h: h.step)] == \
        [1.0, 0.5, 1.0 / 3]
    assert "grad_norm" in run.data.metrics and "tag" not in run.data.metrics


def test_recipe_parent_tells_its_stages_and_full_finetunes_log_no_lora_params(ws, client, tmp_path, no_env_uri):
    from halo_forge.tracking.story import stage_facts

    tracker = Tracker(ws)
    parent_id = tracker.start_parent("story", {"recipe": "story.yaml", "stages": ["sft", "dpo"]})
    tracker.start("sft-story", {"model": "halo-forge/tiny", "no_lora": True, "lora_rank": 16, "use_dora": False,
                                "init_lora_weights": "true", "data": None, "learning_rate": 0.002},
                  modality="sft", tags={"stage": "story/sft"}, parent_run_id=parent_id)
    sft, path = _summary("sft-story", tmp_path / "sft")
    assert tracker.finish(sft, path) == []
    dpo = sft.model_copy(update={"run_id": "dpo-story", "modality": "dpo", "effectiveness": judge(
        [Evaluation.of("heldout_accuracy", 0.5, 0.5, n=40)], steps=10, weights_updated=True)})
    stages = [stage_facts("sft", sft.model_dump(mode="json"), False), stage_facts("dpo", dpo.model_dump(mode="json"), True)]
    assert tracker.finish_parent("completed", stages) == []

    run = _one_run(client, "sft-story")
    assert run.info.run_name.startswith("story/sft · ") and run.data.tags["stage"] == "story/sft"
    assert run.data.params == {"model": "halo-forge/tiny", "no_lora": "True", "learning_rate": "0.002"}
    parent = client.get_run(parent_id)
    t = parent.data.tags
    assert parent.info.run_name.startswith("recipe story · ")
    assert (t["verdict"], t["stages"], t["stages_passed"], t["status"]) == ("warned", "sft -> dpo", "1/2", "completed")
    note = t["mlflow.note.content"]
    assert note.startswith("**Recipe story: warned** · 2 of 2 stages ran")
    assert "| dpo | `dpo-story` | warned | heldout_accuracy | 0.5 | 0.5 | 40 | yes |" in note
    assert "- no improvement on held-out heldout_accuracy 0.5 -> 0.5 (n=40)" in note
    # one point per stage: before the first stage at step 0, after stage i at step i
    assert sorted((h.step, h.value) for h in client.get_metric_history(parent_id, "heldout_accuracy")) == \
        [(0, 0.25), (1, 0.5), (2, 0.5)]

    again = Tracker(ws).start_parent("story", {"recipe": "story.yaml"})  # a rerun: a parent run of its own
    assert again != parent_id


def test_failed_run_without_output_folder(ws, client, no_env_uri):
    """The flow's failure path: no output folder, so the summary itself is logged."""
    tracker = Tracker(ws)
    tracker.start("sft-crash", {"lr": 0.1}, modality="sft")
    summary = TrainingSummary(modality="sft", model_name="m", run_id="sft-crash", seed=1, status="failed",
                              effectiveness={"verdict": "failed", "reasons": ["run failed: OOM"]})
    assert tracker.finish(summary, None) == []
    run = _one_run(client, "sft-crash")
    assert run.info.status == "FAILED" and run.data.tags["verdict"] == "failed"
    assert "training_summary.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert not run.inputs.dataset_inputs


def test_refused_values_are_reported_not_fatal(ws, client, tmp_path, no_env_uri):
    first = Tracker(ws)
    first.start("sft-dup", {"lr": 0.1}, modality="sft")
    assert first.finish(*_summary("sft-dup", tmp_path / "a")) == []
    # the same run id again (a resume) with a changed param: MLflow refuses the param, the rest is logged
    again = Tracker(ws)
    again.start("sft-dup", {"lr": 0.2, "epochs": 3}, modality="sft")
    failures = again.finish(*_summary("sft-dup", tmp_path / "b"))
    assert len(failures) == 1 and "param" in failures[0] and "'lr'" in failures[0], failures
    run = _one_run(client, "sft-dup")  # updated, not duplicated
    assert run.data.params == {"lr": "0.1", "epochs": "3"} and run.info.status == "FINISHED"
    assert list_pending(ws) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_server_fails_fast_then_sync_logs_it(ws, client, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    t0 = time.monotonic()
    tracker = Tracker(ws)
    parent_id = tracker.start_parent("recipe-down", {"recipe": "x"})
    assert parent_id.startswith("pending:recipe-down-")
    parent_name = parent_id.removeprefix("pending:")
    tracker.start("sft-down", CONFIG, modality="sft", tags={"team": "core"}, parent_run_id=parent_id)
    for step in range(1, 201):
        tracker.log_metrics({"loss": 1.0 / step, "learning_rate": 1e-4}, step=step)
    summary, summary_path = _summary("sft-down", tmp_path / "out")
    dataset = _dataset_file(tmp_path)
    failures = tracker.finish(summary, summary_path, dataset_path=dataset)
    parent_failures = tracker.finish_parent("completed")
    elapsed = time.monotonic() - t0
    assert elapsed < 20, elapsed
    assert any("metrics (400 points): not logged" in f for f in failures), failures
    assert any("summary artifact" in f for f in failures) and any("dataset input" in f for f in failures)
    assert "127.0.0.1" in failures[-1] and "sft-down.json" in failures[-1]
    assert parent_failures

    record = json.loads((pending_dir(ws) / "sft-down.json").read_text())
    assert record["run_id"] == "sft-down" and record["config"]["system_prompt"] == "x" * 10_000
    assert record["tags"] == {"team": "core"} and record["parent_name"] == parent_name
    assert len(record["metrics"]) == 400 and record["final_status"] == "FINISHED"
    assert record["summary_path"] == str(summary_path.resolve()) and record["dataset_path"] == str(dataset.resolve())
    assert record["summary"]["run_id"] == "sft-down"
    assert (pending_dir(ws) / f"parent-{parent_name}.json").is_file()

    # the store is back (here: the workspace's sqlite store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    report = sync_pending(ws)
    assert report.ok and report.synced == [parent_name, "sft-down"], report.lines()
    assert list_pending(ws) == []
    run, parent = _one_run(client, "sft-down"), _one_run(client, parent_name)
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.info.status == "FINISHED" and parent.info.status == "FINISHED"
    assert run.data.params["lora.r"] == "8" and run.data.tags["verdict"] == "passed"
    assert len(client.get_metric_history(run.info.run_id, "sft_loss")) == 200
    assert run.data.metrics["heldout_accuracy"] == 0.5
    assert {"training_summary.json", "config.json"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert run.inputs.dataset_inputs[0].dataset.digest == DIGEST[:36]
    assert sync_pending(ws).lines() == ["nothing pending"]


def test_partial_failure_replays_into_the_same_run(ws, client, tmp_path, no_env_uri, monkeypatch):
    from mlflow.tracking.client import MlflowClient

    tracker = Tracker(ws)
    tracker.start("sft-partial", {"lr": 0.1}, modality="sft")
    tracker.log_metrics({"loss": 1.0}, step=1)

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as mp:
        mp.setattr(MlflowClient, "log_artifact", disk_full)
        failures = tracker.finish(*_summary("sft-partial", tmp_path))
    assert any("summary artifact: not logged" in f for f in failures), failures
    assert "No space left" in failures[-1]
    record = json.loads((pending_dir(ws) / "sft-partial.json").read_text())
    assert record["mlflow_run_id"] and "params" in record["done"] and "summary_artifact" not in record["done"]
    assert _one_run(client, "sft-partial").info.status == "RUNNING"

    assert sync_pending(ws).synced == ["sft-partial"]
    run = _one_run(client, "sft-partial")
    assert run.info.run_id == record["mlflow_run_id"] and run.info.status == "FINISHED"
    assert "training_summary.json" in {a.path for a in client.list_artifacts(run.info.run_id)}

    # replaying the whole record again (every step) still updates that one run
    record["done"] = []
    (pending_dir(ws) / "sft-partial.json").write_text(json.dumps(record))
    assert sync_pending(ws).synced == ["sft-partial"]
    assert _one_run(client, "sft-partial").info.run_id == record["mlflow_run_id"]


def test_unfinished_records_wait_for_their_process(ws, client, tmp_path, no_env_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    live = Tracker(ws)
    live.start("sft-live", {"lr": 0.1}, modality="sft")  # this process is alive: its record must wait
    dead = Tracker(ws)
    dead.start("sft-crashed", {"lr": 0.1}, modality="sft")
    dead.log_metrics({"loss": 0.5}, step=3)
    dead.flush()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    path = pending_dir(ws) / "sft-crashed.json"
    record = json.loads(path.read_text())
    assert record["metrics"] == [["sft_loss", 0.5, record["metrics"][0][2], 3]]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record["pid"] = gone.pid  # as if the trainer had crashed
    path.write_text(json.dumps(record))

    report = sync_pending(ws)
    assert report.synced == ["sft-crashed"] and "sft-live" in report.skipped, report.lines()
    run = _one_run(client, "sft-crashed")
    assert run.info.status == "KILLED" and run.data.metrics["sft_loss"] == 0.5
    assert sync_pending(ws, force=True).synced == ["sft-live"]
    assert _one_run(client, "sft-live").info.status == "KILLED"


def test_env_defaults_fail_fast_but_respect_the_user(monkeypatch):
    for key in ENV_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    configure_env()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) <= 1


# --- the helper process (tracking.sidecar): the store opened beside the run -------------------------

def test_helper_logs_the_run_and_a_dead_helper_loses_nothing(ws, client, tmp_path, no_env_uri):
    from halo_forge.tracking import sidecar

    assert sidecar.prewarm(ws) and not sidecar.prewarm(ws)  # one helper per store
    helper = sidecar._HELPERS[sidecar._key(ws.mlflow_uri, EXPERIMENT, ws.mlflow_artifacts)]
    try:
        tracker = Tracker(ws, flush_every=10)
        tracker.start("sft-helper", CONFIG, modality="sft", tags={"team": "core"})
        assert isinstance(tracker._store, sidecar.RemoteStore) and tracker._store._local is None
        for step in range(1, 26):
            tracker.log_metrics({"loss": 1.0 / step}, step=step)
        summary, path = _summary("sft-helper", tmp_path / "a")
        assert tracker.finish(summary, path, dataset_path=_dataset_file(tmp_path)) == []
        assert tracker._store._local is None, "the helper did the work"
        run = _one_run(client, "sft-helper")
        assert run.info.status == "FINISHED" and run.data.params["lora.r"] == "8" and run.data.tags["team"] == "core"
        assert sorted(h.step for h in client.get_metric_history(run.info.run_id, "sft_loss")) == list(range(1, 26))
        assert run.data.metrics["heldout_accuracy"] == 0.5 and run.inputs.dataset_inputs
        assert "training_summary.json" in {a.path for a in client.list_artifacts(run.info.run_id)}

        # the helper dies mid-run: the tracker opens the store here and repeats the call
        second = Tracker(ws, flush_every=10)
        second.start("sft-helper-dies", {"lr": 0.1}, modality="sft")
        for step in range(1, 16):
            second.log_metrics({"loss": 1.0 / step}, step=step)
        helper.proc.kill()
        helper.proc.wait()
        for step in range(16, 31):
            second.log_metrics({"loss": 1.0 / step}, step=step)
        summary, path = _summary("sft-helper-dies", tmp_path / "b")
        assert second.finish(summary, path) == []
        assert second._store._local is not None
        run = _one_run(client, "sft-helper-dies")  # one run, not a second one opened by the fallback
        assert run.info.status == "FINISHED" and run.data.tags["verdict"] == "passed"
        assert sorted(h.step for h in client.get_metric_history(run.info.run_id, "sft_loss")) == list(range(1, 31))
    finally:
        sidecar.close(ws)
    assert sidecar.prewarm(ws)  # a closed helper is gone: the next run starts a fresh one...
    fresh = sidecar._HELPERS[sidecar._key(ws.mlflow_uri, EXPERIMENT, ws.mlflow_artifacts)]
    sidecar.close(ws)
    assert fresh.proc.wait(timeout=30) == 0  # ...and one let go exits by itself


def test_helper_reports_an_unreachable_store_as_the_store_does(tmp_path, monkeypatch):
    from halo_forge.tracking import sidecar

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    down = Workspace(tmp_path / "down").ensure()
    assert sidecar.prewarm(down)
    try:
        t0 = time.monotonic()
        tracker = Tracker(down)
        tracker.start("sft-helper-down", {"lr": 0.1}, modality="sft")
        assert tracker.offline and "127.0.0.1" in tracker.offline
        tracker.log_metrics({"loss": 1.0}, step=1)
        summary, path = _summary("sft-helper-down", tmp_path / "out")
        failures = tracker.finish(summary, path)
        assert time.monotonic() - t0 < 20
        assert any("metrics (1 points): not logged" in f for f in failures), failures
        assert "sft-helper-down.json" in failures[-1]
        assert [p.name for p in list_pending(down)] == ["sft-helper-down.json"]
    finally:
        sidecar.close(down)


def test_helper_is_not_started_when_tracking_is_off(ws, monkeypatch):
    from halo_forge.tracking import sidecar

    monkeypatch.setenv("HALO_FORGE_TRACKING_HELPER", "0")
    assert not sidecar.prewarm(ws)
    monkeypatch.delenv("HALO_FORGE_TRACKING_HELPER")
    monkeypatch.setenv("HALO_FORGE_TRACKING", "0")
    assert not sidecar.prewarm(ws)
    assert isinstance(sidecar.open_store(ws.mlflow_uri, EXPERIMENT, ws.mlflow_artifacts), sidecar.Store)


def test_an_interrupted_call_retires_the_helper(ws, client, tmp_path, no_env_uri):
    """Ctrl-C while the helper works: its late answer must never be read as the next request's."""
    from halo_forge.tracking import sidecar

    assert sidecar.prewarm(ws)
    helper = sidecar._HELPERS[sidecar._key(ws.mlflow_uri, EXPERIMENT, ws.mlflow_artifacts)]
    try:
        tracker = Tracker(ws)
        tracker.start("sft-helper-int", {"lr": 0.1}, modality="sft")
        real = helper.proc.stdout

        class Interrupted:
            def readline(self):
                raise KeyboardInterrupt

        helper.proc.stdout = Interrupted()
        with pytest.raises(KeyboardInterrupt):
            helper.call({"op": "open"})
        helper.proc.stdout = real
        assert helper.proc.wait(timeout=30) is not None
        summary, path = _summary("sft-helper-int", tmp_path)
        assert tracker.finish(summary, path) == []
        assert tracker._store._local is not None
        assert _one_run(client, "sft-helper-int").info.status == "FINISHED"
    finally:
        sidecar.close(ws)


def test_runs_starting_together_on_a_fresh_store_all_open_it(tmp_path):
    """The first open of a new sqlite store migrates its schema; four processes doing it at once used to
    fail ("table ... already exists", "duplicate column name"). They take turns now."""
    code = ("import sys\nfrom pathlib import Path\nfrom halo_forge.tracking._store import Store\n"
            "Store(sys.argv[1], 'halo-forge', Path(sys.argv[2]))\n")
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", code, uri, str(tmp_path / "artifacts")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), [err.splitlines()[-1:] for rc, err in results if rc]
