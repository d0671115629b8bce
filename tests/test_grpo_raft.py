"""GRPO and RAFT for real on the tiny model through the flow, RAFT's resume, rollout-engine selection,
what halo-forge hands to TRL (vLLM included) and the bad inputs that must exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

# A random-init tiny model emits random digits: "contains an odd digit" gives rewards with variance.
ROWS = [{"prompt": f"What is {a}+{a + 3}?", "pattern": "[13579]", "answer": str(2 * a + 3)} for a in range(10, 34)]
COMMON = ["--model", "halo-forge/tiny", "--no-lora", "--verifier", "regex_format", "--max-completion-length", "4",
          "--eval-max-new-tokens", "4", "--max-eval-samples", "4", "--eval-split", "0.2", "--learning-rate", "1e-3",
          "--batch-size", "8", "--seed", "0"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return tmp_path, data


def test_grpo_takes_real_steps_through_the_flow(workspace):
    tmp, data = workspace
    out = tmp / "grpo"
    assert main(["grpo", "train", "--data", str(data), "--output", str(out), *COMMON, "--max-steps", "2",
                 "--num-generations", "4", "--beta", "0", "--temperature", "1.0", "--logging-steps", "1"]) == 0
    s = TrainingSummary.read(out)
    assert s.modality == "grpo" and s.total_train_steps_executed == 2 and s.weights_updated
    assert s.effectiveness.evaluation.metric == "heldout_accuracy" and s.effectiveness.evaluation.n == 4
    assert s.inputs.verifier.startswith("regex_format{") and "@sha256:" in s.inputs.verifier
    assert s.extra["rollout_engine"] == "torch" and s.extra["trl_generation"] == {"use_vllm": False}
    assert s.extra["beta"] == 0.0 and s.extra["reference_model"] is None and s.extra["reward_history"]


def _grpo_run(data, tmp, *flags):
    """The config `halo-forge grpo train …` builds from these flags (the real command, not run)."""
    import halo_forge.cli.trainers as trainers

    captured = {}
    orig = trainers.run_train
    trainers.run_train = lambda config, **kw: captured.setdefault("config", config)
    try:
        trainers.trainer_group("grpo").main(["train", "--data", str(data), "--output", str(tmp / "o"), *COMMON,
                                             *flags], standalone_mode=False)
    finally:
        trainers.run_train = orig
    return captured["config"]


def _trl_args(run, output_dir):
    """The GRPOConfig the halo-forge trainer hands to TRL (built from its plan, without training)."""
    from trl import GRPOConfig

    return GRPOConfig(**run.plan["trl"], output_dir=str(output_dir))


def test_grpo_flags_reach_trl_and_the_reward_functions_get_each_rows_ground_truth(workspace):
    from halo_forge.registry import get_trainer

    tmp, data = workspace
    cfg = _grpo_run(data, tmp, "--num-generations", "4", "--epsilon", "0.3", "--loss-type", "dr_grpo",
                    "--no-scale-rewards", "--verifier", "math", "--verifier-weight", "1", "--verifier-weight", "3",
                    "--verifier-arg", "regex_format:mode=search")
    assert cfg.verifiers == ["regex_format", "math"] and cfg.verifier_weights == [1.0, 3.0]
    run = get_trainer(cfg)
    args = _trl_args(run, tmp / "staging")
    assert (args.num_generations, args.epsilon, args.loss_type, args.scale_rewards) == (4, 0.3, "dr_grpo", "none")
    assert args.beta == 0.04 and args.reward_weights == [1.0, 3.0] and args.use_vllm is False
    assert "+" in cfg.verifier and "3*math" in cfg.verifier

    from halo_forge import rl

    fns = rl.reward_funcs(run.verifiers, ["answer", "pattern"])
    completions = [[{"role": "assistant", "content": "23"}], [{"role": "assistant", "content": "24"}]]
    kw = {"answer": ["23", "23"], "pattern": ["[13579]", "[13579]"]}
    assert fns[0](prompts=["p", "p"], completions=completions, **kw) == [1.0, 0.0]  # regex: odd digit
    assert fns[1](prompts=["p", "p"], completions=completions, **kw) == [1.0, 0.0]  # math: 23 == 23
    ref = get_trainer(_grpo_run(data, tmp, "--reference-free"))
    assert _trl_args(ref, tmp / "s2").beta == 0.0


def test_rollout_engine_selection(monkeypatch, tiny_model_path):
    from halo_forge.errors import HaloForgeError
    from halo_forge.rollout import base

    assert base.resolve_engine("auto") == "torch" and base.resolve_engine("torch") == "torch"
    monkeypatch.setattr(base, "_has", lambda m: False)
    with pytest.raises(HaloForgeError, match="vllm package is not installed"):
        base.resolve_engine("vllm")
    with pytest.raises(HaloForgeError, match="mlx"):
        base.resolve_engine("mlx")
    monkeypatch.setattr(base, "_has", lambda m: True)
    with pytest.raises(HaloForgeError, match="needs a CUDA GPU"):
        base.resolve_engine("vllm")
    monkeypatch.setattr(base, "_cuda", lambda: True)
    assert base.resolve_engine("auto") == "vllm" and base.resolve_engine("vllm") == "vllm"
    assert base.trl_generation_args("vllm", vllm_mode="server") == {"use_vllm": True, "vllm_mode": "server"}
    with pytest.raises(HaloForgeError, match="mlx"):
        base.trl_generation_args("mlx")

    from halo_forge.models.loading import load_causal_lm, load_tokenizer
    from halo_forge.rollout import Sampling, get_engine

    model, tok = load_causal_lm(str(tiny_model_path)), load_tokenizer(str(tiny_model_path))
    engine = get_engine("torch", model, tok)
    outs = engine.generate(["What is 1+2?", "What is 3+4?"], 3, Sampling(max_new_tokens=3))
    assert len(outs) == 2 and all(len(o) == 3 for o in outs)
    other = load_causal_lm(str(tiny_model_path))
    engine.update_weights(other)
    assert engine.model is other


def test_grpo_with_vllm_hands_trl_its_vllm_mode(workspace, monkeypatch):
    from halo_forge.registry import get_trainer
    from halo_forge.rollout import base

    tmp, data = workspace
    monkeypatch.setattr(base, "_has", lambda m: True)
    monkeypatch.setattr(base, "_cuda", lambda: True)
    run = get_trainer(_grpo_run(data, tmp, "--num-generations", "4", "--rollout-engine", "vllm", "--vllm-mode", "server"))
    args = _trl_args(run, tmp / "staging")
    assert run.plan["engine"] == "vllm" and args.use_vllm is True and args.vllm_mode == "server"


@pytest.mark.parametrize("flags, expect", [
    (["--verifier", "nope"], "--verifier (got 'nope'): unknown verifier; available: "),
    (["--num-generations", "1"], "--num-generations (got 1)"),
    (["--rollout-engine", "vllm"], "vllm"),
])
def test_grpo_bad_input_exits_2(workspace, capsys, flags, expect):
    tmp, data = workspace
    args = ["grpo", "train", "--data", str(data), "--output", str(tmp / "o"), *COMMON, *flags]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert expect in err
    if "unknown" in expect:
        assert "math" in err and "regex_format" in err


def test_a_row_missing_its_verifiers_field_names_the_line(workspace, capsys):
    tmp, data = workspace
    rows = data.read_text().splitlines()
    rows[5] = json.dumps({"prompt": "What is 1+1?", "answer": "2"})
    data.write_text("\n".join(rows) + "\n")
    assert main(["grpo", "train", "--data", str(data), "--output", str(tmp / "o"), *COMMON]) == 2
    err = capsys.readouterr().err
    assert "'pattern'" in err and f"{data}:6" in err


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_raft_keep_percent_outside_0_1_exits_2(workspace, capsys, value):
    tmp, data = workspace
    assert main(["raft", "train", "--data", str(data), "--output", str(tmp / "o"), *COMMON,
                 "--keep-percent", value]) == 2
    assert f"--keep-percent (got {float(value)}): must be in (0, 1]" in capsys.readouterr().err


RAFT = ["--cycles", "2", "--samples-per-prompt", "2", "--keep-percent", "0.5", "--reward-threshold", "1.0",
        "--max-steps", "2", "--temperature", "1.0"]


def test_raft_cycles_through_the_flow(workspace):
    tmp, data = workspace
    out = tmp / "raft"
    assert main(["raft", "train", "--data", str(data), "--output", str(out), *COMMON, *RAFT]) == 0
    s = TrainingSummary.read(out)
    assert s.modality == "raft" and len(s.cycles) == 2 and s.weights_updated
    assert s.total_train_steps_executed == 4 and all(c.steps == 2 for c in s.cycles)
    y = s.yield_diagnostics
    assert y["generated"] == sum(c.generated for c in s.cycles) == 2 * 2 * s.inputs.train_rows
    assert 0 < y["kept"] <= y["generated"] // 2 and y["status"] in ("healthy", "low_yield")
    assert set(y["rates"]) == {"verify_rate", "keep_rate"} and y["reward_distribution"]["max"] == 1.0
    assert y["dominant_rejection_reason"]
    assert set(s.extra["timing_seconds"]) == {"rollout", "verify", "train"}
    assert s.recovery.resumed is False


def test_raft_killed_mid_cycle_resumes_from_the_last_finished_cycle(workspace, monkeypatch):
    import trl

    tmp, data = workspace
    out = tmp / "raft"
    calls = {"n": 0}
    real = trl.SFTTrainer.train

    def dies_in_second_cycle(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed mid-cycle")
        return real(self, *a, **kw)

    monkeypatch.setattr(trl.SFTTrainer, "train", dies_in_second_cycle)
    with pytest.raises(RuntimeError, match="killed mid-cycle"):
        main(["raft", "train", "--data", str(data), "--output", str(out), *COMMON, *RAFT])
    assert not (out / "training_summary.json").exists()
    state = next((tmp / ".raft.state").iterdir())
    assert (state / "cycle-0" / "record.json").is_file() and (state / "cycle-1" / "rollouts.json").is_file()
    assert not (state / "cycle-1" / "record.json").exists()

    assert main(["raft", "train", "--data", str(data), "--output", str(out), *COMMON, *RAFT, "--resume"]) == 0
    s = TrainingSummary.read(out)
    assert len(s.cycles) == 2 and [c.cycle for c in s.cycles] == [0, 1]
    assert s.recovery.resumed and s.recovery.resumed_from == "cycle 0"
    assert "rollouts from cache" in s.recovery.notes[0]
    assert calls["n"] == 3  # cycle 0 was not trained again


def test_builtin_prompt_sets_carry_what_their_verifiers_need():
    from halo_forge import rl
    from halo_forge.data.prompts import load_prompt_data
    from halo_forge.raft.config import RAFTConfig

    arith = load_prompt_data(RAFTConfig(dataset="arithmetic_prompts", verifiers=["math"]))
    assert len(arith.heldout) == 200 and arith.train[0]["prompt"][0]["role"] == "user" and arith.train[0]["answer"]
    cfg = RAFTConfig(dataset="code_prompts", verifiers=["execution"])
    code = load_prompt_data(cfg)
    row = next(r for r in code.train + code.heldout if "sum of two integers" in r["prompt"][0]["content"])
    good, bad = "```python\na, b = map(int, input().split())\nprint(a + b)\n```", "```python\nprint(5)\n```"
    scored = rl.score(rl.build_verifiers(cfg), [good, bad], [row, row])
    assert scored[0]["passed"] and scored[0]["reward"] == 1.0 and not scored[1]["passed"]


def test_raft_and_a_full_fine_tune_from_a_lora_model_train_every_weight(workspace):
    """A LoRA adapter folder as --model is merged into its base; the merged weights then train like any
    model's (PEFT had frozen them), so RAFT's cycles move them and its verdict says so."""
    from halo_forge import registry
    from halo_forge.config import build_config

    tmp, data = workspace
    sft = registry.get_trainer(build_config(registry.config_class("sft"), {
        "dataset": "arithmetic", "max_samples": 64, "output": str(tmp / "lora"), "max_steps": 2, "lora_rank": 4, "max_eval_samples": 4,
        "eval_max_new_tokens": 2, "checkpoint_every": 0}))
    sft.quiet = True
    adapter = sft.train().outputs.model_path
    assert (Path(adapter) / "adapter_config.json").is_file()
    values = {"data": str(data), "model": adapter, "verifiers": ["regex_format"], "no_lora": True, "seed": 0,
              "max_completion_length": 4, "eval_max_new_tokens": 4, "max_eval_samples": 4, "eval_split": 0.2,
              "learning_rate": 1e-3, "batch_size": 8, "cycles": 1, "samples_per_prompt": 2, "keep_percent": 0.5,
              "max_steps": 2, "temperature": 1.0}
    raft = registry.get_trainer(build_config(registry.config_class("raft"), {**values, "output": str(tmp / "raft")}))
    raft.quiet = True
    summary = raft.train()
    assert summary.total_train_steps_executed == 2 and summary.weights_updated
    assert "no trainable weight changed during training" not in summary.effectiveness.reasons
