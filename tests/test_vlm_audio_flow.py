"""VLM and audio runs get the platform every text trainer gets, through the real CLI and flow: a rerun with the
same inputs is a cache hit that trains nothing; changing one image's or one clip's bytes behind an unchanged
path is a miss (the dataset digest hashes the media, not the paths); MLflow holds the finished run with its
held-out figures and its dataset input; the run index finds it. Training in several processes is refused with
exit 2 (neither trainer has a rank-aware path). Their help and dataset lists load no torch."""

from __future__ import annotations

import json

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

FLAGS = {
    "vlm": ["--no-lora", "--max-steps", "1", "--batch-size", "4", "--eval-split", "0.25", "--eval-max-new-tokens", "2",
            "--seed", "0"],
    "audio": ["--max-steps", "1", "--batch-size", "4", "--eval-split", "0.25", "--eval-max-new-tokens", "3",
              "--seed", "0"],
}


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write_media(folder, modality: str, i: int, shade: int) -> dict:
    """One row and its media file: a grey image (`shade`) to count on, or a tone (`shade` Hz offset) to transcribe."""
    if modality == "vlm":
        from PIL import Image

        Image.new("RGB", (32, 32), (shade, shade, shade)).save(folder / f"m{i}.png")
        return {"question": "How many?", "answer": str(i % 3), "image": f"m{i}.png"}
    import numpy as np
    import soundfile as sf

    t = np.arange(8000) / 16000
    sf.write(folder / f"m{i}.wav", 0.3 * np.sin(2 * np.pi * (300 + shade + 40 * i) * t), 16000, subtype="PCM_16")
    return {"audio": f"m{i}.wav", "text": ["yes", "no"][i % 2]}


def _data(folder, modality: str):
    rows = [_write_media(folder, modality, i, 40 + 10 * i) for i in range(8)]
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _train(modality: str, data, out) -> int:
    return main([modality, "train", "--data", str(data), "--output", str(out), *FLAGS[modality]])


@pytest.mark.parametrize("modality", ["vlm", "audio"])
def test_cache_hit_media_bytes_miss_mlflow_and_index(workspace, capsys, modality):
    from mlflow.tracking import MlflowClient

    from halo_forge.workspace import find_workspace

    data = _data(workspace, modality)
    assert _train(modality, data, workspace / "a") == 0
    first = TrainingSummary.read(workspace / "a")
    assert first.modality == modality and first.weights_updated and first.total_train_steps_executed == 1
    capsys.readouterr()

    assert _train(modality, data, workspace / "a") == 0
    assert "cache hit" in capsys.readouterr().out
    assert TrainingSummary.read(workspace / "a").run_id == first.run_id

    assert main(["runs", "search", "--modality", modality, "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)["rows"]] == [first.run_id]
    client = MlflowClient(tracking_uri=find_workspace().mlflow_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("halo-forge").experiment_id],
                                filter_string=f"tags.run_id = '{first.run_id}'")
    metric = first.effectiveness.evaluation.metric
    assert run.info.status == "FINISHED" and run.data.metrics[metric] == first.effectiveness.evaluation.after
    (ds,) = run.inputs.dataset_inputs
    assert first.inputs.dataset_digest.startswith(ds.dataset.digest)

    _write_media(workspace, modality, 5, 200)  # the same path, other bytes
    assert _train(modality, data, workspace / "b") == 0
    assert "cache hit" not in capsys.readouterr().out
    second = TrainingSummary.read(workspace / "b")
    assert second.run_id != first.run_id and second.inputs.dataset_digest != first.inputs.dataset_digest


@pytest.mark.parametrize("modality", ["vlm", "audio"])
def test_several_processes_are_refused(workspace, capsys, modality):
    data = _data(workspace, modality)
    assert main([modality, "train", "--data", str(data), "--output", str(workspace / "o"), "--num-processes", "2"]) == 2
    err = capsys.readouterr().err
    assert f"--num-processes (got 2): {modality} on cpu trains in one process only: drop --num-processes" in err, err
    assert not (workspace / "o").exists()


def test_help_and_datasets_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom halo_forge.cli.main import main\n"
            "for argv in (['vlm', 'train', '--help'], ['audio', 'train', '--help'], ['vlm', 'datasets'],"
            " ['audio', 'datasets']):\n    assert main(argv) == 0\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'trl', 'peft', 'datasets',"
            " 'PIL', 'soundfile', 'prefect', 'mlflow')]\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout[-2000:]
    assert "--freeze-vision-tower" in out.stdout and "--sampling-rate" in out.stdout
    assert "chartqa" in out.stdout and "librispeech" in out.stdout
