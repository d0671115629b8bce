"""`halo-forge reasoning train` for real on the tiny model through the flow: SFT learns the think/answer format,
then GRPO (TRL loss options, dynamic sampling) and RAFT start from that model and take real steps; a rerun is a
cache hit, MLflow has the run; every loss option reaches TRL; bad input exits 2 with its message."""

from __future__ import annotations

import json

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

COMMON = ["--no-lora", "--eval-split", "0.1", "--max-eval-samples", "8", "--eval-max-new-tokens", "24", "--seed", "0"]
SAMPLING = ["--max-completion-length", "24", "--temperature", "1.0", "--learning-rate", "1e-3"]
# one-step chains: short enough for 80 SFT steps to teach the tiny model the format (not yet the sums)
ROWS = [{"prompt": f"Start at {a}. Add {b}.", "completion": f"<think>{a}+{b}={a + b}</think>{a + b}",
         "answer": str(a + b)} for a in range(1, 13) for b in range(1, 10)]


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    """Think/answer rows in a local file and an SFT run on them (the start model of the GRPO and RAFT tests)."""
    tmp = tmp_path_factory.mktemp("reasoning")
    data = tmp / "chains.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(tmp / "ws"))
        mp.chdir(tmp)
        args = ["reasoning", "train", "--method", "sft", "--data", str(data), "--output", str(tmp / "sft"), *COMMON,
                "--max-steps", "80", "--batch-size", "16", "--learning-rate", "3e-3", "--lr-scheduler", "constant",
                "--logging-steps", "20"]
        assert main(args) == 0
        yield tmp, data, args, TrainingSummary.read(tmp / "sft")


@pytest.fixture()
def workspace(sft_run, monkeypatch):
    tmp, data, _, _ = sft_run
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp / "ws"))
    monkeypatch.chdir(tmp)
    return tmp, data


def test_sft_teaches_the_format_and_a_rerun_is_a_cache_hit_logged_in_mlflow(sft_run, workspace, capsys):
    from mlflow import MlflowClient

    from halo_forge.workspace import Workspace

    tmp, _, args, s = sft_run
    assert s.modality == "reasoning" and s.extra["method"] == "sft" and s.weights_updated
    assert s.total_train_steps_executed == 80 and s.inputs.verifier is None
    ev = {e.metric: e for e in s.effectiveness.evaluations}
    assert list(ev) == ["heldout_answer_accuracy", "heldout_format_rate"] and ev["heldout_format_rate"].n == 8
    assert ev["heldout_format_rate"].before == 0 and ev["heldout_format_rate"].after >= 0.5  # it learned the format
    assert s.extra["heldout_after"]["format_rate"] == ev["heldout_format_rate"].after
    capsys.readouterr()
    assert main(args) == 0
    assert "cache hit" in capsys.readouterr().out and TrainingSummary.read(tmp / "sft").run_id == s.run_id
    client = MlflowClient(tracking_uri=Workspace(tmp / "ws").mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("halo-forge").experiment_id],
                              filter_string=f"tags.run_id = '{s.run_id}'")
    assert len(runs) == 1 and runs[0].data.params["method"] == "sft", runs


def test_grpo_takes_real_steps_with_the_loss_options_and_dynamic_sampling(workspace):
    tmp, data = workspace
    out = tmp / "grpo"
    assert main(["reasoning", "train", "--method", "grpo", "--data", str(data), "--model", str(tmp / "sft"),
                 "--output", str(out), *COMMON, *SAMPLING, "--max-steps", "2", "--batch-size", "8",
                 "--num-generations", "4", "--loss-type", "dr_grpo", "--epsilon-high", "0.28",
                 "--mask-truncated-completions", "--scale-rewards", "batch", "--overlong-buffer", "6",
                 "--dynamic-sampling-rounds", "2", "--logging-steps", "1"]) == 0
    s = TrainingSummary.read(out)
    assert s.extra["method"] == "grpo" and s.total_train_steps_executed == 2 and s.weights_updated
    assert s.extra["loss"] == {"loss_type": "dr_grpo", "scale_rewards": "batch", "epsilon": 0.2, "epsilon_high": 0.28,
                               "mask_truncated_completions": True, "importance_sampling_level": "token"}
    assert s.extra["rewards"] == {"reasoning_answer": 1.0, "think_format": 0.5, "soft_overlong": 1.0}
    ds = s.extra["dynamic_sampling"]
    assert ds["max_resample_rounds"] == 2 and ds["batches"] == 2 and ds["groups_scored"] >= 4
    assert ds["groups_scored"] >= 2 * ds["batches"] and ds["resample_rounds"] <= 2 * ds["batches"]  # the bound holds
    assert ds["batches_short"] <= 2 and s.extra["format_reward_history"] and s.extra["answer_reward_history"]
    assert [e.metric for e in s.effectiveness.evaluations] == ["heldout_answer_accuracy", "heldout_format_rate"]
    assert s.inputs.verifier.startswith("1*reasoning_answer{") and "soft_overlong" in s.inputs.verifier


def test_raft_cycles_with_the_reasoning_rewards(workspace):
    tmp, data = workspace
    out = tmp / "raft"
    assert main(["reasoning", "train", "--method", "raft", "--data", str(data), "--model", str(tmp / "sft"),
                 "--output", str(out), *COMMON, *SAMPLING, "--max-steps", "2", "--batch-size", "4", "--cycles", "2",
                 "--samples-per-prompt", "2", "--prompts-per-cycle", "16", "--reward-threshold", "0.3"]) == 0
    s = TrainingSummary.read(out)
    assert s.modality == "reasoning" and len(s.cycles) == 2 and s.weights_updated
    assert s.total_train_steps_executed == sum(c.steps for c in s.cycles) > 0
    assert s.extra["verifiers"] == ["reasoning_answer", "think_format"]
    y = s.yield_diagnostics
    assert y["generated"] == 2 * 2 * 16 and 0 < y["kept"] and y["reward_distribution"]["max"] >= 0.3
    assert s.effectiveness.evaluation.metric == "heldout_accuracy"


LOSSES = [("grpo", "token"), ("dapo", "token"), ("dr_grpo", "token"), ("bnpo", "token"), ("cispo", "token"),
          ("sapo", "token"), ("luspo", "sequence"), ("vespo", "token"), ("grpo", "sequence")]


@pytest.mark.parametrize("loss_type, level", LOSSES)
def test_every_loss_option_reaches_trl(loss_type, level, tmp_path):
    from trl import GRPOConfig

    from halo_forge.config import build_config
    from halo_forge.reasoning.config import ReasoningConfig
    from halo_forge.registry import get_trainer

    cfg = build_config(ReasoningConfig, {"dataset": "arithmetic_chains", "output": str(tmp_path / "o"),
                                         "loss_type": loss_type, "importance_sampling_level": level,
                                         "epsilon_high": 0.28, "scale_rewards": "none",
                                         "mask_truncated_completions": True, "cosine_weight": 0.5})
    args = GRPOConfig(**get_trainer(cfg, data=object()).plan["trl"], output_dir=str(tmp_path / "s"))
    assert (args.loss_type, args.importance_sampling_level, args.epsilon_high, args.scale_rewards) == \
        (loss_type, level, 0.28, "none")
    assert args.mask_truncated_completions is True and args.reward_weights == [1.0, 0.5, 0.5]


@pytest.mark.parametrize("flags, expect", [
    (["--method", "sft", "--num-generations", "4"], "--num-generations (got 4): applies to --method grpo, not sft"),
    (["--method", "grpo", "--cycles", "2"], "--cycles (got 2): applies to --method raft, not grpo"),
    (["--method", "raft", "--max-length", "64", "--load-in-4bit"], "--load-in-4bit: applies to --method sft or grpo, not raft"),
    (["--loss-type", "luspo"], "luspo needs --importance-sampling-level sequence"),
    (["--importance-sampling-level", "sequence"], "TRL refuses it with --loss-type dapo"),
    (["--epsilon-high", "0.1"], "--epsilon-high (got 0.1): give at least --epsilon (0.2)"),
    (["--loss-type", "ppo"], "--loss-type"),
    (["--answer-weight", "0", "--format-weight", "0"], "give the answer or the format reward a weight"),
    (["--batch-size", "6", "--num-generations", "4"], "--batch-size (got 6): not a multiple of --num-generations 4"),
    (["--overlong-buffer", "64", "--max-completion-length", "40"], "--overlong-buffer (got 64): must be below"),
    (["--overlong-weight", "2"], "--overlong-weight (got 2.0): weighs the soft overlong reward, which is off"),
])
def test_bad_flags_exit_2(tmp_path, capsys, flags, expect):
    assert main(["reasoning", "train", "--dataset", "arithmetic_chains", "--output", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and expect in err


def test_sft_on_rows_without_a_completion_names_the_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(tmp_path / "ws"))
    rows = [{"prompt": f"Start at {i}. Add 2.", "answer": str(i + 2),
             "completion": f"<think>{i}+2={i + 2}</think>{i + 2}"} for i in range(10)]
    del rows[3]["completion"]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["reasoning", "train", "--method", "sft", "--data", str(data), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:4: row has no 'completion': --method sft learns worked solutions" in err
    assert not (tmp_path / "o").exists()


def test_datasets_lists_the_short_names(capsys):
    assert main(["reasoning", "datasets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("arithmetic_chains", "gsm8k", "openai/gsm8k", "math", "metamath"))
