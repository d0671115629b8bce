"""Replay, for real: a tiny SFT run is recorded, `dvc repro` re-trains it in another process, and the
result must be bit-identical; drift refuses unless overridden (and the reason is recorded).

One run is trained in this process (module fixture); each replay that trains costs one more
process (~15 s on two CPU cores). Every test works in a temporary workspace.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from halo_forge.cli.main import main
from halo_forge.data import SplitData
from halo_forge.lineage.replay import LOG, figures, record
from halo_forge.summary import TrainingSummary
from halo_forge.workspace import Workspace


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A workspace (`halo-forge init`) holding one tiny SFT run, recorded for replay."""
    from halo_forge import registry
    from halo_forge.config import build_config
    from halo_forge.sft.config import SFTConfig

    root = tmp_path_factory.mktemp("replay") / "ws"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(root))
        mp.chdir(root.parent)
        assert main(["init", str(root)]) == 0
        ws = Workspace(root)
        config = build_config(SFTConfig, {"dataset": "arithmetic", "max_samples": 64, "max_steps": 3, "batch_size": 8, "no_lora": True,
                                          "output": root / "outputs" / "sft", "eval_max_new_tokens": 4,
                                          "max_eval_samples": 16})
        data = registry.load_data(config)
        data_file = data.save(ws.datasets_dir / f"{data.digest.split(':')[1]}.json")
        summary = registry.get_trainer(config, data=data).train()
        folder = record(ws, summary=summary, config=config, data_file=data_file,
                        command=["halo-forge", "sft", "train", "--dataset", "arithmetic"])
        yield ws, summary, config, data_file, folder


@pytest.fixture
def in_workspace(recorded, monkeypatch):
    ws = recorded[0]
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws.root))
    monkeypatch.chdir(ws.root)
    return recorded


def copy_run(recorded, suffix: str, data_file: Path | None = None) -> tuple[str, Path]:
    """Record the fixture's run again under another run id (optionally on another dataset file)."""
    ws, summary, config, original_data, _ = recorded
    run_id = f"{summary.run_id}-{suffix}"
    folder = record(ws, summary=summary.model_copy(update={"run_id": run_id}), config=config,
                    data_file=data_file or original_data, command=["test"])
    return run_id, folder


def last_log(folder: Path) -> dict:
    return json.loads((folder / LOG).read_text().splitlines()[-1])


def test_record_writes_manifest_summary_and_stage(recorded):
    ws, summary, config, data_file, folder = recorded
    assert folder == ws.replay_dir.resolve() / summary.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_id"] == summary.run_id and manifest["modality"] == "sft" and manifest["seed"] == 42
    assert manifest["config"] == config.model_dump(mode="json")
    assert manifest["dataset_file"] == data_file.relative_to(ws.root).as_posix()
    assert manifest["digests"]["dataset"] == SplitData.load(data_file).digest == summary.inputs.dataset_digest
    assert manifest["digests"]["model"] == summary.inputs.model_digest and manifest["digests"]["code"]
    assert manifest["versions"] == summary.versions and manifest["figures"] == figures(summary)
    assert manifest["command"][:3] == ["halo-forge", "sft", "train"]
    assert TrainingSummary.read(folder / "recorded_summary.json") == summary

    stage = yaml.safe_load((folder / "dvc.yaml").read_text())["stages"]["replay"]
    assert stage["cmd"].startswith("halo-forge replay exec manifest.json --output out")
    assert "manifest.json" in stage["deps"]
    assert (folder / stage["deps"][1]).resolve() == data_file.resolve()


def test_replay_is_bit_identical_and_locked_by_dvc(in_workspace, capsys):
    ws, summary, _, data_file, folder = in_workspace
    assert main(["replay", summary.run_id]) == 0
    assert "identical" in capsys.readouterr().out

    # trained again in another process (DVC's stage): every figure and the model's bytes match
    replayed = TrainingSummary.read(folder / "out")
    assert replayed.run_id != summary.run_id
    assert replayed.final_train_loss == summary.final_train_loss
    assert replayed.outputs.model_digest == summary.outputs.model_digest
    assert replayed.effectiveness.evaluations == summary.effectiveness.evaluations
    assert replayed.extra["loss_history"] == summary.extra["loss_history"]

    lock = yaml.safe_load((folder / "dvc.lock").read_text())["stages"]["replay"]
    deps = {Path(d["path"]).name: d["md5"] for d in lock["deps"]}
    assert deps[data_file.name] == hashlib.md5(data_file.read_bytes()).hexdigest()
    assert {o["path"] for o in lock["outs"]} == {"out", "metrics.json"}
    assert json.loads((folder / "metrics.json").read_text()) == figures(summary)
    assert last_log(folder)["outcome"] == "identical"


def test_changed_data_is_refused_unless_allowed_with_a_reason(in_workspace, capsys):
    ws, _, _, data_file, _ = in_workspace
    copy = shutil.copy(data_file, ws.datasets_dir / "drifting.json")
    run_id, folder = copy_run(in_workspace, "data-drift", data_file=copy)
    data = SplitData.load(copy)
    data.train = data.train[8:]  # a different first batch: a different run
    data.save(copy)

    assert main(["replay", run_id]) == 2
    err = capsys.readouterr().err
    assert f"replay of {run_id} refused" in err and "data: dataset rows (.halo-forge/datasets/drifting.json)" in err
    assert "--allow-drift" in err and not (folder / "out").exists()
    assert last_log(folder)["outcome"] == "refused"

    assert main(["replay", run_id, "--allow-drift", "checking a relabelled batch"]) == 1
    out = capsys.readouterr().out
    assert "final_train_loss" in out and "identical" not in out
    entry = last_log(folder)
    assert entry["allow_drift"] == "checking a relabelled batch" and entry["outcome"] == "differences"
    assert [d["kind"] for d in entry["drift"]] == ["data"]
    assert "final_train_loss" in {d["figure"] for d in entry["differences"]}


def test_environment_and_model_drift_are_listed(in_workspace, capsys):
    run_id, folder = copy_run(in_workspace, "env-drift")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["versions"]["torch"] = "0.0.1"
    manifest["digests"]["model"] = "sha256:" + "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))

    assert main(["replay", run_id]) == 2
    err = capsys.readouterr().err
    assert "environment: torch 0.0.1 -> " in err and "model: base model halo-forge/tiny sha256:000000000000" in err


def test_unknown_run_is_a_clear_error(in_workspace, capsys):
    _, summary, *_ = in_workspace
    assert main(["replay", "sft-0"]) == 2
    err = capsys.readouterr().err
    assert "Error: no recorded run 'sft-0' in workspace" in err and summary.run_id in err


def test_missing_dataset_file_is_named(in_workspace, capsys):
    ws, _, _, data_file, _ = in_workspace
    copy = shutil.copy(data_file, ws.datasets_dir / "deleted.json")
    run_id, folder = copy_run(in_workspace, "gone", data_file=copy)
    Path(copy).unlink()
    assert main(["replay", run_id]) == 2
    err = capsys.readouterr().err
    assert f"the run's dataset file is missing: {ws.root / '.halo-forge/datasets/deleted.json'}" in err
    assert not (folder / LOG).exists()


def _owned_by(pid: int) -> list[int]:
    """Processes started under `replay` whose owner (HALO_FORGE_REPLAY_OWNER) is `pid`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(e.startswith(f"HALO_FORGE_REPLAY_OWNER={pid}:".encode()) for e in env):
            found.append(int(proc.name))
    return found


def test_killing_replay_ends_its_children(in_workspace):
    """`kill -9` of `halo-forge replay` takes `dvc` and the re-training it started along."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ws, summary, *_ = in_workspace
    env = {**os.environ, "HALO_FORGE_WORKSPACE": str(ws.root)}
    replay = subprocess.Popen([sys.executable, "-m", "halo_forge.cli.main", "replay", summary.run_id], env=env,
                              cwd=ws.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = _owned_by(replay.pid)
        if any(b"exec" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children if Path(f"/proc/{c}").exists()):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("`replay exec` never started")
    os.kill(replay.pid, signal.SIGKILL)
    replay.wait()
    deadline = time.monotonic() + 15
    while _owned_by(replay.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _owned_by(replay.pid) == [], "children of the killed replay kept running"


def test_an_mlx_run_replays_identically(in_workspace, capsys):
    """MLX on CPU with a fixed seed is deterministic across processes: a LoRA run (dropout on, so the generator
    matters) replayed by DVC in another process gives the same figures and the same output bytes."""
    pytest.importorskip("mlx.core", reason="the MLX replay needs the mlx extra")
    from mlx_micro import micro_model_folder

    from halo_forge import registry
    from halo_forge.config import build_config
    from halo_forge.sft.config import SFTConfig

    ws = in_workspace[0]
    config = build_config(SFTConfig, {"dataset": "arithmetic", "accelerator": "mlx", "model": str(micro_model_folder()),
                                      "max_steps": 4, "batch_size": 4, "lora_rank": 4, "lora_dropout": 0.1,
                                      "logging_steps": 2, "learning_rate": 1e-2, "output": ws.root / "outputs" / "mlx",
                                      "eval_max_new_tokens": 4, "max_eval_samples": 8})
    data = registry.load_data(config)
    data_file = data.save(ws.datasets_dir / f"{data.digest.split(':')[1]}.json")
    summary = registry.get_trainer(config, data=data).train()
    folder = record(ws, summary=summary, config=config, data_file=data_file,
                    command=["halo-forge", "sft", "train", "--accelerator", "mlx"])
    assert main(["replay", summary.run_id]) == 0
    assert "identical" in capsys.readouterr().out
    replayed = TrainingSummary.read(folder / "out")
    assert replayed.backend == "mlx" and replayed.run_id != summary.run_id and summary.weights_updated
    assert replayed.outputs.model_digest == summary.outputs.model_digest
    assert replayed.extra["loss_history"] == summary.extra["loss_history"]
