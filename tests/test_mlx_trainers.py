"""The MLX trainers for real, through the flow, on this Linux CPU (mlx[cpu]): sft, dpo, grpo and raft (full and
hybrid) train the micro model with --accelerator mlx (LoRA and full), the trained weights changed, and the summary
has the PyTorch trainers' shape with backend mlx; the quickstart runs its three stages on MLX. Every knob MLX
ignores warns once at init naming its flag; what MLX cannot run (a PyTorch-only schedule, another rollout engine,
--rollout-only without MLX; ORPO and RM in test_preference.py) is refused before anything loads."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from mlx_micro import micro_model_folder

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

SFT_ROWS = [{"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}
            for a in range(10, 16) for b in range(20, 24)]
PREF_ROWS = [{"prompt": r["prompt"], "chosen": r["completion"], "rejected": r["completion"][::-1] + "1",
              "answer": r["answer"]} for r in SFT_ROWS]
# a random-init model emits random digits: "contains an odd digit" gives rewards with variance
PROMPT_ROWS = [{"prompt": f"What is {a}+{a + 3}?", "pattern": "[13579]", "answer": str(2 * a + 3)} for a in range(10, 34)]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """One workspace for the module's runs (one MLflow store, one Prefect server), its data files, and the
    flags every run shares."""
    root = tmp_path_factory.mktemp("mlx-trainers")
    files = {}
    for name, rows in (("sft", SFT_ROWS), ("pref", PREF_ROWS), ("prompts", PROMPT_ROWS)):
        files[name] = root / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["--accelerator", "mlx", "--model", str(micro_model_folder()), "--max-steps", "3", "--batch-size", "4",
              "--logging-steps", "1", "--max-eval-samples", "4", "--eval-split", "0.2", "--eval-max-new-tokens", "4",
              "--learning-rate", "1e-2", "--seed", "0"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(root / "ws"))
        mp.chdir(root)
        yield root, files, common


def _train(ws, modality: str, data: str, name: str, *flags: str) -> TrainingSummary:
    root, files, common = ws
    out = root / name
    assert main([modality, "train", "--data", str(files[data]), "--output", str(out), *common, *flags]) == 0
    summary = TrainingSummary.read(out)
    assert summary.modality == modality and summary.backend == "mlx" and summary.extra["backend"] == "mlx"
    assert summary.inputs.cache_key and summary.extra["mlx_device"] == "cpu" and summary.versions["mlx"]
    assert summary.weights_updated and summary.extra["weight_delta_l2"] > 0
    return summary


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits.numpy()


def test_sft_lora_trains_and_saves_a_peft_adapter_and_mlx_lms_format(ws):
    import mlx.core as mx
    import mlx_lm
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    s = _train(ws, "sft", "sft", "sft-lora", "--lora-rank", "4", "--lora-alpha", "8", "--gradient-accumulation", "2")
    assert s.total_train_steps_executed == 3 and [h["step"] for h in s.extra["loss_history"]] == [1, 2, 3]
    assert s.outputs.adapter and s.extra["peft"] == "lora" and s.extra["optim"] == "adamw_torch"
    assert [e.metric for e in s.effectiveness.evaluations] == ["heldout_accuracy", "heldout_loss"]
    out, base = ws[0] / "sft-lora", micro_model_folder()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base)
    ids = [1, 5, 6, 7, 8, 9]
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out).eval()
    trained, start = _logits(peft, ids), _logits(AutoModelForCausalLM.from_pretrained(base), ids)
    assert np.abs(trained - start).max() > 1e-3  # the saved adapter changes what the model computes
    mlx_model, _ = mlx_lm.load(str(base), adapter_path=str(out / "mlx_adapter"))  # mlx-lm's own format and loader
    assert np.abs(np.array(mlx_model(mx.array([ids]))) - trained).max() < 1e-4

    from halo_forge.orchestration import run as run_module  # the same command again: a cache hit, nothing trains

    trained_before = set(run_module.TRAINED)
    root, files, common = ws
    assert main(["sft", "train", "--data", str(files["sft"]), "--output", str(out), *common, "--lora-rank", "4",
                 "--lora-alpha", "8", "--gradient-accumulation", "2"]) == 0
    assert run_module.TRAINED == trained_before and TrainingSummary.read(out).run_id == s.run_id


def test_dpo_lora_trains_against_the_base_with_adapters_disabled(ws):
    s = _train(ws, "dpo", "pref", "dpo", "--lora-rank", "4", "--loss-type", "ipo", "--max-length", "64")
    assert s.extra["loss_type"] == "ipo" and s.extra["reference"] == "base with adapters disabled"
    assert [e.metric for e in s.effectiveness.evaluations] == ["heldout_preference_accuracy", "heldout_accuracy"]
    assert len(s.extra["reward_accuracy_history"]) == 3 and len(s.extra["margins_history"]) == 3


def test_grpo_full_with_a_frozen_reference(ws):
    s = _train(ws, "grpo", "prompts", "grpo", "--no-lora", "--verifier", "regex_format", "--num-generations", "4", "--batch-size", "8",
               "--beta", "0.04", "--temperature", "1.0", "--max-completion-length", "4")
    assert s.extra["reference_model"] == "frozen copy of the start model" and s.extra["rollout_engine"] == "mlx"
    assert len(s.extra["reward_history"]) == 3 and len(s.extra["kl_history"]) == 3
    assert s.effectiveness.evaluation.metric == "heldout_accuracy" and s.inputs.verifier.startswith("regex_format{")


@pytest.mark.parametrize("hybrid", [False, True], ids=["mlx", "hybrid"])
def test_raft_full_mlx_and_hybrid(ws, hybrid):
    flags = ["--verifier", "regex_format", "--cycles", "2", "--samples-per-prompt", "2", "--prompts-per-cycle", "8",
             "--max-steps", "2", "--temperature", "1.0", "--max-completion-length", "4", "--lora-rank", "4"]
    s = _train(ws, "raft", "prompts", f"raft-{hybrid}", *flags, *(["--rollout-only"] if hybrid else []))
    assert len(s.cycles) == 2 and s.total_train_steps_executed == 4 and not s.outputs.adapter
    assert s.extra["rollout_engine"] == "mlx" and s.extra["rollout_only"] is hybrid
    assert s.extra["update_backend"] == ("cpu" if hybrid else "mlx")
    assert s.yield_diagnostics["generated"] == 2 * 2 * 8 and s.yield_diagnostics["kept"] > 0


IGNORED = {  # knobs each MLX trainer ignores, set to something other than their default
    "sft": {"use_dora": True, "use_rslora": True, "init_lora_weights": "pissa", "load_in_4bit": True,
            "optim": "adafactor", "packing": True},
    "dpo": {"use_rslora": True, "optim": "sgd"},
    "grpo": {"use_dora": True, "vllm_mode": "server"},
    "raft": {"init_lora_weights": "gaussian", "optim": "adafactor"},
}
DATASET = {"sft": "arithmetic", "dpo": "arithmetic_pref", "grpo": "arithmetic_prompts", "raft": "arithmetic_prompts"}


def _mlx_warnings(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build()
    return result, [str(w.message) for w in caught if "MLX backend" in str(w.message)]


@pytest.mark.parametrize("modality", list(IGNORED))
def test_every_ignored_flag_warns_once_at_init_naming_the_flag(modality, tmp_path):
    from halo_forge import registry
    from halo_forge.config import build_config

    values = {"dataset": DATASET[modality], "accelerator": "mlx", "output": str(tmp_path / "o"), **IGNORED[modality]}
    config, checked = _mlx_warnings(lambda: build_config(registry.config_class(modality), values))
    assert not checked  # validating a config warns nothing: the trainer does, once, when it is built
    trainer, messages = _mlx_warnings(lambda: registry.get_trainer(config))
    for field in IGNORED[modality]:
        flag = "--" + field.replace("_", "-")
        assert sum(f"({flag}" in m for m in messages) == 1, (flag, messages)
    assert len(messages) == len(IGNORED[modality]) and trainer.warnings == messages  # they reach the summary's notes
    if modality == "raft":  # the hybrid's PyTorch update honours every knob: nothing is ignored
        hybrid = build_config(registry.config_class("raft"), {**values, "rollout_only": True})
        assert not _mlx_warnings(lambda: registry.get_trainer(hybrid))[1]


@pytest.mark.parametrize("args, expect", [  # ORPO and RM: tests/test_preference.py
    (["sft", "train", "--dataset", "arithmetic", "--lr-scheduler", "polynomial"],
     "--lr-scheduler (got 'polynomial'): not available on MLX"),
    (["grpo", "train", "--dataset", "arithmetic_prompts", "--rollout-engine", "torch"],
     "--rollout-engine (got 'torch'): with --accelerator mlx, rollouts are sampled with mlx-lm"),
], ids=["schedule", "rollout-engine"])
def test_what_mlx_cannot_run_is_refused_up_front(args, expect, tmp_path, capsys):
    assert main([*args, "--accelerator", "mlx", "--output", str(tmp_path / "o")]) == 2
    assert expect in capsys.readouterr().err


def test_rollout_only_needs_mlx_and_mlx_is_never_picked_automatically(tmp_path, capsys):
    from halo_forge.backend import get_backend

    assert main(["raft", "train", "--dataset", "arithmetic_prompts", "--rollout-only", "--output",
                 str(tmp_path / "o")]) == 2
    assert "--rollout-only: only MLX runs split rollouts from the update: add --accelerator mlx" in capsys.readouterr().err
    assert get_backend("auto") != "mlx"  # mlx is installed here, and still only used when asked for


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant_with_warmup", "constant"])
def test_mlx_schedules_are_transformers_schedules(schedule):
    import torch
    from transformers import get_scheduler

    from halo_forge.mlx.steps import lr_schedule

    for total, warmup in ((10, 50), (40, 10), (20, 0)):  # a warm-up longer than the run included
        ours = lr_schedule(1e-3, total, schedule, warmup)
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        theirs = get_scheduler(schedule, opt, num_warmup_steps=warmup, num_training_steps=total)
        for step in range(total):
            assert abs(float(ours(step)) - theirs.get_last_lr()[0]) < 1e-9, (schedule, total, warmup, step)
            opt.step()
            theirs.step()


def test_quickstart_runs_on_mlx_and_says_its_figures(ws, monkeypatch, capsys):
    """`halo-forge quickstart --accelerator mlx`: the three stages on the MLX trainers through the flow, each stage
    starting from the previous one's model. Sized down for the test (batch 8, 8 held-out rows, 2 steps a stage):
    on this CPU MLX is ~10x slower than PyTorch (docs/MLX.md has a full-size run's figures)."""
    from halo_forge import quickstart as qs

    small = {"batch_size": 8, "max_eval_samples": 8}
    for name in ("QUICKSTART_SFT", "QUICKSTART_DPO", "QUICKSTART_GRPO"):
        monkeypatch.setattr(qs, name, {**getattr(qs, name), **small})
    out = ws[0] / "quickstart"
    assert main(["quickstart", "--accelerator", "mlx", "--output-dir", str(out), "--max-steps", "2",
                 "--dpo-max-steps", "2", "--grpo-max-steps", "2"]) == 0
    printed = capsys.readouterr().out
    stages = [TrainingSummary.read(out / stage) for stage in ("sft", "dpo", "grpo")]
    assert [s.backend for s in stages] == ["mlx"] * 3 and all(s.total_train_steps_executed == 2 for s in stages)
    assert stages[1].model_name == stages[0].outputs.model_path and stages[2].model_name == stages[1].outputs.model_path
    assert stages[1].extra["loss_type"] == "rpo" and stages[0].weights_updated and stages[1].weights_updated
    assert "problems never trained on) — MLX" in printed
    from safetensors.numpy import load_file

    from halo_forge.models.tiny import ensure_tiny

    trained = load_file(str(out / "sft" / "model.safetensors"))  # a full fine-tune: an HF folder, every weight moved
    start = load_file(str(ensure_tiny("halo-forge/tiny") / "model.safetensors"))
    assert [k for k in start if np.array_equal(trained[k], start[k])] == [] and set(start) <= set(trained)
    for stage in ("SFT", "DPO", "GRPO"):
        assert f"  {stage}: held-out accuracy: " in printed and f"after {stage}; verdict " in printed
    assert main(["runs", "search", "--where", "backend=mlx", "--text", "quickstart", "--json"]) == 0  # indexed
    found = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in found["rows"]} >= {s.run_id for s in stages}
