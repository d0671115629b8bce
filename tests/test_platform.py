"""The platform around a run, end to end through the CLI: MLflow, the run index, failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary
from halo_forge.workspace import Workspace

ROWS = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}
        for a in range(10, 20) for b in range(10, 14)]
TRAIN = ["--model", "halo-forge/tiny", "--no-lora", "--max-steps", "2", "--batch-size", "4",
         "--max-eval-samples", "4", "--eval-max-new-tokens", "4"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return Workspace(ws).ensure(), data


def test_mlflow_finds_the_run_with_params_metrics_summary_and_dataset(workspace, monkeypatch):
    from halo_forge.tracking import sidecar

    calls = []
    real_call = sidecar.RemoteStore._call

    def spy(self, op, record):
        result = real_call(self, op, record)
        calls.append((op, self._local is None))
        return result

    monkeypatch.setattr(sidecar.RemoteStore, "_call", spy)
    ws, data = workspace
    assert main(["sft", "train", "--data", str(data), "--output", "out", *TRAIN]) == 0
    assert calls and all(in_helper for _, in_helper in calls), calls  # the MLflow work ran in the helper
    assert not sidecar._HELPERS, "the helper is let go when the run ends"
    summary = TrainingSummary.read(Path("out"))
    assert "platform_errors" not in summary.extra

    import mlflow

    mlflow.set_tracking_uri(ws.mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["halo-forge"], filter_string=f"tags.run_id = '{summary.run_id}'",
                              output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["learning_rate"] == "0.0002" and run.data.params["max_steps"] == "2"
    assert run.data.tags["modality"] == "sft" and run.data.tags["verdict"] == summary.effectiveness.verdict
    assert run.data.tags["cache_key"] == summary.inputs.cache_key
    assert run.data.tags["steps"] == "2" and "heldout_loss" in run.data.metrics
    client = mlflow.MlflowClient(ws.mlflow_uri)
    assert "training_summary.json" in [a.path for a in client.list_artifacts(run.info.run_id)]
    inputs = run.inputs.dataset_inputs
    assert inputs and summary.inputs.dataset_digest.startswith("sha256:")


def test_an_unreachable_mlflow_never_stops_training(workspace, monkeypatch):
    ws, data = workspace
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket closes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed}")
    t0 = time.monotonic()
    assert main(["sft", "train", "--data", str(data), "--output", "out", *TRAIN]) == 0
    assert time.monotonic() - t0 < 120
    summary = TrainingSummary.read(Path("out"))
    assert summary.status == "completed" and summary.weights_updated
    assert any(e.startswith("mlflow") for e in summary.extra["platform_errors"])
    assert list((ws.data_dir / "tracking-pending").glob("*.json")), "the run must be kept for `runs sync`"

    from halo_forge.runs import RunIndex

    assert RunIndex(ws).get(summary.run_id).run_id == summary.run_id  # indexed all the same

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert main(["runs", "sync"]) == 0
    assert not list((ws.data_dir / "tracking-pending").glob("*.json"))
    import mlflow

    mlflow.set_tracking_uri(ws.mlflow_uri)
    assert len(mlflow.search_runs(experiment_names=["halo-forge"], output_format="list",
                                  filter_string=f"tags.run_id = '{summary.run_id}'")) == 1


def test_a_killed_run_is_recorded_failed_and_leaves_no_output(workspace):
    ws, data = workspace
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws.root), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--data", str(data), "--output", "killed",
           "--model", "halo-forge/tiny", "--no-lora", "--max-steps", "100000", "--batch-size", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # progress lines go to stderr
        if "sft: step" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not Path("killed").exists() and not list(Path(".").glob(".killed*partial"))

    from halo_forge.runs import RunIndex

    found = RunIndex(ws).search(status="failed")
    assert found.total == 1
    row = found.rows[0]
    assert row.verdict == "failed" and row.output_path is None
    assert RunIndex(ws).search(status="completed").total == 0


def test_eight_concurrent_runs_all_land_in_the_index(workspace):
    ws, data = workspace
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws.root)}
    procs = [subprocess.Popen([sys.executable, "-m", "halo_forge.cli.main", "sft", "train", "--data", str(data),
                               "--output", f"c{i}", "--seed", str(i), *TRAIN],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [e[-2000:] for _, e in outs]
    assert not any("lock" in (o + e).lower() and "error" in (o + e).lower() for o, e in outs)
    ids = {TrainingSummary.read(Path(f"c{i}")).run_id for i in range(8)}
    from halo_forge.runs import RunIndex

    found = RunIndex(ws).search(modality="sft", limit=100)
    assert ids <= {r.run_id for r in found.rows} and found.total == 8
