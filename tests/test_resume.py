"""`--resume` after a real `kill -9`: for every checkpointing trainer (PyTorch, and MLX on the micro model), a run
killed in a subprocess once it has written a checkpoint, then resumed, ends with the same final loss and the same
model digest as an uninterrupted run of the same config (CPU, one thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_forge import registry
from halo_forge.config import build_config
from halo_forge.training.checkpoints import COMPLETE, state_root

STEPS, EVERY = 12, 4
SMALL = {"max_steps": STEPS, "max_samples": 64, "checkpoint_every": EVERY, "logging_steps": 5, "max_eval_samples": 16,
         "batch_size": 4, "learning_rate": 1e-3, "lr_scheduler": "cosine", "seed": 3}
CASES = {
    "sft": {"dataset": "arithmetic", "no_lora": True, "eval_max_new_tokens": 4},
    "sft-lora": {"dataset": "arithmetic", "lora_rank": 4, "eval_max_new_tokens": 4},
    "dpo": {"dataset": "arithmetic_pref", "no_lora": True, "eval_max_new_tokens": 4, "max_length": 64},
    "orpo": {"dataset": "arithmetic_pref", "no_lora": True, "eval_max_new_tokens": 4, "max_length": 64},
    "rm": {"dataset": "arithmetic_pref", "no_lora": True, "max_length": 64},
    "grpo": {"dataset": "arithmetic_prompts", "no_lora": True, "num_generations": 4, "beta": 0.0,
             "max_completion_length": 4, "eval_max_new_tokens": 4, "temperature": 1.0},
    "reasoning": {"dataset": "arithmetic_think", "method": "grpo", "no_lora": True, "num_generations": 4, "beta": 0.0,
                  "max_completion_length": 4, "eval_max_new_tokens": 4, "temperature": 1.0,
                  "dynamic_sampling_rounds": 1},
    "vlm": {"dataset": "shapes", "no_lora": True, "max_samples": 32, "eval_max_new_tokens": 2},
    # our own GRPO loop on transcripts: sampling after a resume must be what it was (RNG states restored)
    "audio-grpo": {"dataset": "spoken_digits", "method": "grpo", "num_generations": 4, "max_completion_length": 4,
                   "eval_max_new_tokens": 4, "verifiers": ["regex_format"], "verifier_args": ["pattern=.*[a-m]"],
                   "max_samples": 32},
    # MLX (the micro model): LoRA dropout draws from the generator; GRPO samples and scores against a frozen copy
    # (DPO's MLX loop is the same `halo_forge.mlx.loop.fit`; its reference is a frozen copy too)
    "sft-mlx": {"dataset": "arithmetic", "accelerator": "mlx", "lora_rank": 4, "lora_dropout": 0.1,
                "eval_max_new_tokens": 4},
    "grpo-mlx": {"dataset": "arithmetic_prompts", "accelerator": "mlx", "no_lora": True, "num_generations": 4,
                 "beta": 0.04, "max_completion_length": 4, "eval_max_new_tokens": 4, "temperature": 1.0},
}
RUN = ("import json, sys\n"
       "from halo_forge import registry\n"
       "from halo_forge.config import build_config\n"
       "cfg = build_config(registry.config_class(sys.argv[1]), json.loads(sys.argv[2]))\n"
       "trainer = registry.get_trainer(cfg)\n"
       "trainer.quiet = True\n"
       "trainer.train()\n")


def _config(case: str, output: Path, **extra):
    modality = case.split("-")[0]
    values = {**SMALL, **CASES[case], "output": str(output), **extra}
    if values.get("accelerator") == "mlx":
        pytest.importorskip("mlx.core", reason="the MLX cases need the mlx extra")
        from mlx_micro import micro_model_folder

        values["model"] = str(micro_model_folder())
    return modality, values


def _train(modality: str, values: dict):
    trainer = registry.get_trainer(build_config(registry.config_class(modality), values))
    trainer.quiet = True
    return trainer.train()


def _kill_after_first_checkpoint(modality: str, values: dict, timeout: float = 240.0) -> int:
    """Start the run in its own process; SIGKILL it as soon as a checkpoint is complete. The step reached."""
    root = state_root(Path(values["output"]))
    proc = subprocess.Popen([sys.executable, "-c", RUN, modality, json.dumps(values)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            done = list(root.glob(f"*/checkpoint-*/{COMPLETE}"))
            if done:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return max(int(p.parent.name.split("-")[1]) for p in done)
            if proc.poll() is not None:
                pytest.fail(f"the run ended before its first checkpoint: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        pytest.fail("no checkpoint was written in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("case", list(CASES))
def test_resume_after_kill_9_equals_an_uninterrupted_run(case, tmp_path):
    modality, whole = _config(case, tmp_path / "whole")
    reference = _train(modality, whole)
    assert reference.total_train_steps_executed == STEPS

    _, values = _config(case, tmp_path / "killed")
    step = _kill_after_first_checkpoint(modality, values)
    assert 0 < step < STEPS
    assert not (tmp_path / "killed" / "training_summary.json").exists()  # nothing was published

    resumed = _train(modality, {**values, "resume": True})
    assert resumed.recovery.resumed and resumed.recovery.resumed_from is not None
    assert any("resumed from checkpoint-" in n for n in resumed.recovery.notes)
    assert resumed.total_train_steps_executed == STEPS
    assert resumed.final_train_loss == reference.final_train_loss
    assert resumed.outputs.model_digest == reference.outputs.model_digest
    assert resumed.extra.get("dynamic_sampling") == reference.extra.get("dynamic_sampling")  # counted across the kill
    assert [(e.metric, e.after) for e in resumed.effectiveness.evaluations] == \
        [(e.metric, e.after) for e in reference.effectiveness.evaluations]
    assert not state_root(tmp_path / "killed").exists()  # checkpoints go once the run is published


def test_resume_without_a_checkpoint_says_so_and_names_other_configs(tmp_path):
    modality, values = _config("sft", tmp_path / "out")
    _kill_after_first_checkpoint(modality, values)
    summary = _train(modality, {**values, "seed": 4, "resume": True})
    assert not summary.recovery.resumed
    note = next(n for n in summary.extra["notes"] if n.startswith("--resume:"))
    assert "no complete checkpoint of this exact run" in note and "seed: 3 there, 4 now" in note
