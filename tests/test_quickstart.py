"""The offline quickstart end to end: it must really teach the tiny model (≥ 30 points held-out), and
its DPO stage must raise held-out preference accuracy without costing more than 2 points of task accuracy,
and its GRPO stage must raise held-out task accuracy above its post-DPO value."""

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

    dpo = TrainingSummary.read(tmp_path / "dpo")
    assert dpo.modality == "dpo" and dpo.model_name == summary.outputs.model_path
    evals = {e.metric: e for e in dpo.effectiveness.evaluations}
    pref, task = evals["heldout_preference_accuracy"], evals["heldout_accuracy"]
    assert pref.n == 200 and pref.after > pref.before, f"DPO preference accuracy {pref.before} -> {pref.after}"
    assert abs(task.before - acc.after) <= 0.01  # DPO starts where SFT ended (same 200 problems)
    assert task.after >= task.before - 0.02, f"DPO cost task accuracy {task.before} -> {task.after}"
    assert dpo.effectiveness.verdict == "passed"
    assert "preference accuracy:" in out and "after DPO" in out

    grpo = TrainingSummary.read(tmp_path / "grpo")
    assert grpo.modality == "grpo" and grpo.model_name == dpo.outputs.model_path
    gacc = grpo.effectiveness.evaluation
    assert gacc.metric == "heldout_accuracy" and gacc.n == 200
    assert abs(gacc.before - task.after) <= 0.01  # GRPO starts where DPO ended (same 200 problems)
    assert gacc.after > gacc.before, f"GRPO did not raise held-out accuracy {gacc.before} -> {gacc.after}"
    assert grpo.effectiveness.verdict == "passed" and grpo.weights_updated
    assert grpo.inputs.verifier.startswith("math{")
    assert "after GRPO" in out
