"""The offline quickstart end to end: it must really teach the tiny model (≥ 30 points held-out)."""

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary


def test_quickstart_learns_addition(tmp_path, capsys):
    assert main(["quickstart", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = TrainingSummary.read(tmp_path / "sft")
    acc = summary.effectiveness.evaluation
    assert acc.metric == "heldout_accuracy" and acc.n == 200
    assert acc.after - acc.before >= 0.30, f"quickstart gained only {acc.delta:.3f}"
    assert summary.effectiveness.verdict == "passed"
    assert summary.weights_updated and summary.total_train_steps_executed == 600
    assert "held-out accuracy:" in out and "passed" in out
    assert (tmp_path / "sft" / "model.safetensors").is_file()
    assert not list(tmp_path.glob(".*partial"))
