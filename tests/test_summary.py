import json

from halo_forge.summary import SCHEMA_PATH, Evaluation, TrainingSummary, json_schema, judge


def test_schema_file_matches_model():
    on_disk = json.loads(SCHEMA_PATH.read_text())
    assert on_disk == json_schema(), "docs/summary.schema.json drifted: run `make schema`"


def test_improvement_passes():
    eff = judge([Evaluation.of("heldout_accuracy", 0.1, 0.6, n=20)], steps=5, weights_updated=True)
    assert eff.verdict == "passed"
    assert eff.evaluation.delta == 0.5


def test_no_steps_or_frozen_weights_fail():
    ev = [Evaluation.of("heldout_accuracy", 0.1, 0.6, n=10)]
    assert judge(ev, steps=0, weights_updated=True).verdict == "failed"
    eff = judge(ev, steps=3, weights_updated=False)
    assert eff.verdict == "failed"
    assert any("no trainable weight" in r for r in eff.reasons)


def test_regression_fails_and_flat_warns():
    assert judge([Evaluation.of("heldout_accuracy", 0.6, 0.5)], steps=3, weights_updated=True).verdict == "failed"
    assert judge([Evaluation.of("heldout_accuracy", 0.6, 0.6)], steps=3, weights_updated=True).verdict == "warned"
    loss = Evaluation.of("heldout_loss", 1.0, 1.5, higher_is_better=False)
    assert judge([loss], steps=3, weights_updated=True).verdict == "failed"


def test_secondary_regression_warns():
    evs = [Evaluation.of("heldout_accuracy", 0.1, 0.6), Evaluation.of("heldout_loss", 1.0, 1.2, higher_is_better=False)]
    eff = judge(evs, steps=3, weights_updated=True)
    assert eff.verdict == "warned"


def test_missing_evaluation_warns():
    assert judge([], steps=3, weights_updated=True).verdict == "warned"


def test_atomic_write_roundtrip(tmp_path):
    s = TrainingSummary(modality="sft", model_name="m", run_id="sft-1", seed=1,
                        effectiveness=judge([], steps=1, weights_updated=True))
    path = s.write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["training_summary.json"]
    assert TrainingSummary.read(path).run_id == "sft-1"


def test_small_heldout_set_warns_with_the_fix():
    """A GRPO run that held out 1 prompt of 16 reported n=1: a figure on so few rows cannot pass."""
    eff = judge([Evaluation.of("heldout_accuracy", 0.0, 1.0, n=1)], steps=5, weights_updated=True)
    assert eff.verdict == "warned"
    assert eff.reasons[-1] == ("held-out heldout_accuracy was measured on only n=1 rows (fewer than 20): each row is "
                               "100 % of the figure, too few to judge; hold out more rows (a higher --eval-split, "
                               "--max-eval-samples 20 or more, or more data)")
    assert judge([Evaluation.of("heldout_accuracy", 0.1, 0.6, n=19)], steps=5, weights_updated=True).verdict == "warned"
    # at most warned: a regression on a small set still fails; n=0 (not recorded) is not judged small
    assert judge([Evaluation.of("heldout_accuracy", 0.6, 0.1, n=5)], steps=5, weights_updated=True).verdict == "failed"
    assert judge([Evaluation.of("heldout_accuracy", 0.1, 0.6)], steps=5, weights_updated=True).verdict == "passed"
