"""`halo-forge audio train` for real: ASR (sft, grpo, raft) on the tiny Whisper and classification on the tiny
audio classifier take optimiser steps through the CLI and the flow and move their weights; bad clips and
flags exit 2 with a message naming the row or flag and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

SMALL = ["--dataset", "spoken_digits", "--max-samples", "16", "--max-eval-samples", "8", "--max-steps", "2",
         "--batch-size", "8", "--learning-rate", "1e-3", "--logging-steps", "1", "--seed", "0"]
# a random-init model never transcribes right: for GRPO, a reward with variance (a letter a-m in the transcript)
VARIED = ["--verifier", "regex_format", "--verifier-arg", "pattern=.*[a-m]"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _weights(folder, task: str) -> dict:
    from halo_forge.models import audio as speech

    model = speech.load_asr_model(str(folder)) if task == "asr" else speech.load_classifier_model(str(folder))
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _unchanged(before: dict, after: dict) -> list[str]:
    return [k for k in before if bool((before[k] == after[k]).all())]


@pytest.mark.parametrize("task, method, flags", [
    ("asr", "sft", ["--eval-max-new-tokens", "6"]),
    ("asr", "grpo", ["--num-generations", "4", "--max-completion-length", "6", "--eval-max-new-tokens", "6", *VARIED]),
    ("asr", "raft", ["--cycles", "1", "--samples-per-prompt", "2", "--max-completion-length", "6",
                     "--eval-max-new-tokens", "6", *VARIED]),
    ("classification", "sft", ["--model", "halo-forge/tiny-audio-cls"]),
])
def test_each_task_and_method_takes_real_steps_through_the_flow(workspace, task, method, flags):
    from halo_forge.models.tiny import ensure_tiny

    out = workspace / f"{task}-{method}"
    assert main(["audio", "train", "--task", task, "--method", method, "--output", str(out), *SMALL, *flags]) == 0
    s = TrainingSummary.read(out)
    assert s.modality == "audio" and (s.extra["task"], s.extra["method"]) == (task, method)
    assert s.weights_updated and s.total_train_steps_executed >= 2 and s.final_train_loss is not None
    assert s.extra["train_clips"] == 16 and s.extra["model_sampling_rate"] == 16000
    primary = s.effectiveness.evaluation
    assert (primary.metric, primary.n) == (("heldout_wer", 8) if task == "asr" else ("heldout_accuracy", 8))
    assert primary.higher_is_better is (task != "asr")
    start = ensure_tiny("halo-forge/tiny-whisper" if task == "asr" else "halo-forge/tiny-audio-cls")
    before, after = _weights(start, task), _weights(out, task)
    still = _unchanged(before, after)
    assert len(still) < len(before) // (2 if method == "grpo" else 10), still
    if task == "asr":
        assert {"heldout_cer", "heldout_accuracy"} <= {e.metric for e in s.effectiveness.evaluations}
        assert "verifier_breakdown" in s.extra["heldout_details"]["before"]
    else:
        assert s.extra["labels"][:3] == ["zero", "one", "two"]
        assert set(s.extra["heldout_details"]["after"]["accuracy_per_label"]) <= set(s.extra["labels"])
    if method == "grpo":
        assert s.extra["reward_history"] and s.extra["num_generations"] == 4


def _clips(folder: Path, bad: dict) -> Path:
    import numpy as np
    import soundfile as sf

    sf.write(folder / "ok.wav", np.zeros(8000, dtype="float32"), 16000)
    sf.write(folder / "low.wav", np.zeros(4000, dtype="float32"), 4000)
    sf.write(folder / "cd.wav", np.zeros(22050, dtype="float32"), 22050)
    sf.write(folder / "long.wav", np.zeros(16000 * 3, dtype="float32"), 16000)
    (folder / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    rows = [{"audio": "ok.wav", "text": "one", "label": 1} for _ in range(6)] + [bad]
    data = folder / "clips.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


@pytest.mark.parametrize("bad, flags, expect", [
    ({"audio": "nope.wav", "text": "one"}, [],
     "clips.jsonl:7 (audio): audio file 'nope.wav' does not exist (looked for {dir}/nope.wav)"),
    ({"audio": "bad.wav", "text": "one"}, [], "clips.jsonl:7 (audio): cannot read audio '{dir}/bad.wav'"),
    ({"audio": "low.wav", "text": "one"}, [],
     "clips.jsonl:7 (audio): audio '{dir}/low.wav' is sampled at 4000 Hz, outside the supported 8000-192000 Hz\n"
     "  fix: re-export it at 16000 Hz"),
    ({"audio": "cd.wav", "text": "one"}, ["--sampling-rate", "16000"],
     "clips.jsonl:7 (audio): audio '{dir}/cd.wav' is 22050 Hz but --sampling-rate requires 16000 Hz"),
    ({"audio": "cd.wav", "text": "one", "sampling_rate": 16000}, [],
     "clips.jsonl:7 (audio): audio '{dir}/cd.wav' is 22050 Hz but the row says sampling_rate=16000"),
    ({"audio": "ok.wav"}, [], "clips.jsonl:7: the row has no transcript"),
    ({"audio": "ok.wav", "text": "one", "label": "one"}, ["--task", "classification"],
     "clips.jsonl:7: 'label' is 'one', not a class index"),
])
def test_bad_clips_exit_2_naming_the_line_and_the_fix(workspace, capsys, bad, flags, expect):
    data = _clips(workspace, bad)
    assert main(["audio", "train", "--data", str(data), "--output", str(workspace / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and expect.format(dir=workspace) in err, err
    assert not (workspace / "o").exists()


def test_a_clip_longer_than_the_model_hears_is_named(workspace, capsys):
    data = _clips(workspace, {"audio": "long.wav", "text": "one"})
    args = ["audio", "train", "--data", str(data), "--output", str(workspace / "o"), "--eval-split", "0.1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the clip is 3.00 s but the model hears at most 2.00 s (its feature extractor's window)" in err, err
    assert "long.wav" in err or "row" in err


@pytest.mark.parametrize("flags, expect", [
    (["--task", "classification", "--method", "grpo"], "--method (got 'grpo'): classification trains with cross-entropy"),
    (["--task", "classification", "--verifier", "regex_format"], "--verifier (got ['regex_format']): applies to --task asr"),
    (["--num-generations", "2"], "--num-generations (got 2): applies to --method grpo; this run is --method sft"),
    (["--method", "raft", "--no-scale-rewards"], "--no-scale-rewards: applies to --method grpo"),
    (["--sampling-rate", "4000"], "--sampling-rate (got 4000): Input should be greater than or equal to 8000"),
])
def test_bad_flags_exit_2(workspace, capsys, flags, expect):
    assert main(["audio", "train", "--dataset", "spoken_digits", "--output", str(workspace / "o"), *flags]) == 2
    assert expect in capsys.readouterr().err


def test_datasets_lists_the_built_in_and_hub_sets(capsys):
    assert main(["audio", "datasets"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("spoken_digits", "spoken_words", "digit_sequences", "librispeech", "speech_commands"))
