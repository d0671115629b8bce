"""A cache hit honours --output: the recorded model is placed there atomically (hard links), and the
console and the summary say which run it came from."""

from __future__ import annotations

import json
import os

from halo_forge.cli.main import main
from halo_forge.orchestration import run as run_module
from halo_forge.summary import TrainingSummary

TRAIN = ["sft", "train", "--dataset", "arithmetic", "--max-samples", "64", "--model", "halo-forge/tiny", "--no-lora", "--max-steps", "2",
         "--batch-size", "8", "--max-eval-samples", "4", "--eval-max-new-tokens", "4", "--seed", "9"]


def test_cache_hit_is_placed_at_the_requested_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")  # long paths on one line
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    assert main([*TRAIN, "--output", str(first)]) == 0
    trained = set(run_module.TRAINED)
    recorded = TrainingSummary.read(first)
    capsys.readouterr()

    assert main([*TRAIN, "--output", str(second)]) == 0
    out = capsys.readouterr().out
    assert run_module.TRAINED == trained, "a cache hit trains nothing"
    assert f"already trained as run {recorded.run_id}" in out and f"placed at {second} (from {first})" in out
    placed = TrainingSummary.read(second)
    assert placed.run_id == recorded.run_id and placed.outputs.model_path == str(second)
    assert placed.extra["cache_hit_from"] == {"run_id": recorded.run_id, "model_path": str(first)}
    assert placed.outputs.model_digest == recorded.outputs.model_digest
    weights = "model.safetensors"
    assert os.stat(second / weights).st_ino == os.stat(first / weights).st_ino  # linked, not copied
    assert TrainingSummary.read(first).outputs.model_path == str(first)  # the recorded run's own file is intact
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    # a folder holding another run is refused, as for a real run
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "training_summary.json").write_text(json.dumps({"run_id": "other", "modality": "dpo"}))
    assert main([*TRAIN, "--output", str(tmp_path / "taken")]) == 2
    assert "already holds run other" in capsys.readouterr().err
