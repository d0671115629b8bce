"""Recovery from damaged stores, for real: a truncated summary file, a truncated run index and a
truncated MLflow store are rebuilt from the replay records (`runs reindex`, `runs sync --rebuild`)."""

from __future__ import annotations

import json
import os

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

TRAIN = ["sft", "train", "--dataset", "arithmetic", "--max-samples", "64", "--model", "halo-forge/tiny", "--no-lora", "--max-steps", "2",
         "--batch-size", "8", "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--seed", "6"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("recovery")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri elsewhere leaves it set
        mp.setenv("HALO_FORGE_WORKSPACE", str(root / "ws"))
        mp.chdir(root)
        assert main([*TRAIN, "--output", str(root / "out")]) == 0
    return root / "ws", root / "out", TrainingSummary.read(root / "out")


@pytest.fixture()
def ws(trained, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(trained[0]))
    monkeypatch.chdir(trained[0])
    return trained


def truncate(path, size: int) -> None:
    os.truncate(path, min(size, os.path.getsize(path) // 2))


def test_reindex_restores_a_damaged_summary_from_the_replay_record(ws, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # long paths on one line
    root, out, summary = ws
    truncate(out / "training_summary.json", 100)
    assert main(["runs", "reindex", str(out.parent)]) == 0
    text = capsys.readouterr().out
    assert f"restored {out / 'training_summary.json'} from" in text and "recorded_summary.json" in text
    assert TrainingSummary.read(out) == TrainingSummary.read(root / "replay" / summary.run_id / "recorded_summary.json")
    assert main(["runs", "show", summary.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == summary.run_id


def test_a_truncated_index_is_named_and_rebuilt(ws, capsys):
    root, out, summary = ws
    truncate(root / ".halo-forge/runs.duckdb", 4096)
    assert main(["runs", "search"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the run index" in err and "runs reindex" in err
    assert main(["runs", "reindex"]) == 0
    capsys.readouterr()
    assert main(["runs", "show", summary.run_id, "--json"]) == 0


def test_a_truncated_mlflow_store_is_named_and_rebuilt(ws, capsys):
    import mlflow

    root, out, summary = ws
    store = root / ".halo-forge/mlflow.db"
    truncate(store, 8192)
    assert main(["runs", "sync"]) == 2
    err = capsys.readouterr().err
    assert f"Error: the MLflow store {store} is damaged" in err and "runs sync --rebuild" in err
    assert main(["runs", "sync", "--rebuild"]) == 0
    text = capsys.readouterr().out
    assert "moved the damaged store to" in text and f"synced {summary.run_id}" in text
    assert list(store.parent.glob("mlflow.db.damaged-*"))
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    runs = client.search_runs([client.get_experiment_by_name("halo-forge").experiment_id])
    (run,) = [r for r in runs if r.data.tags.get("run_id") == summary.run_id]
    assert run.info.status == "FINISHED" and run.data.tags["steps"] == str(summary.total_train_steps_executed)
    assert run.data.tags["verdict"] == summary.effectiveness.verdict
    assert run.data.params  # the config, from the manifest
