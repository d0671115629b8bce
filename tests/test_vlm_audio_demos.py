"""The built-in VLM and audio demos, short, through the real CLI and flow: each stage's held-out figure moves
the right way by a margin no single held-out row could flip, and each verdict passes.

The full-length demos (and their figures) are in docs/VLM_AUDIO.md: `scripts/vlm_audio_demos.py` runs them.
On CPU with one thread every run here is deterministic; the margins below are several rows wide all the same.
"""

from __future__ import annotations

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

# The commands of scripts/vlm_audio_demos.py, shortened: fewer steps, the same sets, models and verifiers.
VLM_SFT = ["vlm", "train", "--dataset", "shapes", "--method", "sft", "--no-lora", "--max-steps", "40",
           "--batch-size", "32", "--learning-rate", "3e-3", "--lr-scheduler", "cosine", "--warmup-steps", "3",
           "--eval-max-new-tokens", "3", "--checkpoint-every", "0", "--seed", "0"]
VLM_RAFT = ["vlm", "train", "--dataset", "shapes", "--method", "raft", "--no-lora", "--cycles", "1",
            "--samples-per-prompt", "4", "--prompts-per-cycle", "256", "--keep-percent", "0.5",
            "--max-completion-length", "3", "--max-steps", "20", "--batch-size", "32", "--learning-rate", "1e-3",
            "--lr-scheduler", "constant", "--eval-max-new-tokens", "3", "--seed", "0"]
ASR_SFT = ["audio", "train", "--task", "asr", "--dataset", "spoken_digits", "--max-steps", "100", "--batch-size", "16",
           "--learning-rate", "3e-3", "--lr-scheduler", "constant", "--eval-max-new-tokens", "6",
           "--checkpoint-every", "0", "--seed", "0"]
CLS_SFT = ["audio", "train", "--task", "classification", "--model", "halo-forge/tiny-audio-cls", "--dataset",
           "spoken_digits", "--max-steps", "80", "--batch-size", "16", "--learning-rate", "5e-3", "--lr-scheduler",
           "constant", "--checkpoint-every", "0", "--seed", "0"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("demos")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(root / "ws"))
        mp.chdir(root)
        yield root


def _run(args: list[str], output) -> TrainingSummary:
    assert main([*args, "--output", str(output)]) == 0
    return TrainingSummary.read(output)


def _moved(summary: TrainingSummary, metric: str, *, by: float) -> None:
    """The primary held-out figure moved the right way by at least `by`, and that is several rows' worth."""
    ev = summary.effectiveness.evaluation
    assert ev.metric == metric and summary.effectiveness.verdict == "passed", summary.effectiveness
    assert by >= 4 / ev.n  # no single row (nor three) can flip the assertion
    assert ev.improvement >= by, f"{metric} {ev.before} -> {ev.after} (n={ev.n})"


def test_vlm_counting_sft_then_raft_raises_heldout_accuracy(workspace):
    sft = _run(VLM_SFT, workspace / "vlm-sft")
    _moved(sft, "heldout_accuracy", by=0.10)
    raft = _run([*VLM_RAFT, "--model", str(workspace / "vlm-sft")], workspace / "vlm-raft")
    _moved(raft, "heldout_accuracy", by=0.10)
    assert raft.effectiveness.evaluation.before == sft.effectiveness.evaluation.after  # RAFT starts where SFT ended
    assert raft.cycles[0].kept > 0 and raft.yield_diagnostics["status"] == "healthy"


def test_asr_spoken_digits_heldout_wer_falls(workspace):
    _moved(_run(ASR_SFT, workspace / "asr"), "heldout_wer", by=0.20)


def test_audio_classification_spoken_digits_heldout_accuracy_rises(workspace):
    _moved(_run(CLS_SFT, workspace / "cls"), "heldout_accuracy", by=0.10)
