"""Preference data (formats, ties, bad input), ORPO and RM for real, and dpo|orpo|rm through the flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_forge.cli.main import main
from halo_forge.config import build_config
from halo_forge.summary import TrainingSummary


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


PAIRS = [{"prompt": f"What is {a}+{a + 3}?", "chosen": str(2 * a + 3), "rejected": str(2 * a + 13),
          "answer": str(2 * a + 3)} for a in range(10, 30)]
SMALL = ["--model", "halo-forge/tiny", "--max-steps", "2", "--batch-size", "4", "--learning-rate", "1e-3",
         "--max-eval-samples", "4", "--max-length", "64"]


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("HALO_FORGE_WORKSPACE", str(ws))
    monkeypatch.chdir(tmp_path)
    return ws


def _fails(capsys, argv: list[str]) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, captured.out + captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "Error: " in captured.err
    return captured.err


# --- formats ------------------------------------------------------------------------------------

def test_formats_are_normalised_and_ties_dropped():
    from halo_forge.data.preference import normalise_pairs

    hh_c = "\n\nHuman: hi there\n\nAssistant: hello!\n\nHuman: and 2+2?\n\nAssistant: 4"
    hh_r = "\n\nHuman: hi there\n\nAssistant: hello!\n\nHuman: and 2+2?\n\nAssistant: 5, I think"
    uf = {"prompt": "2+2?",
          "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
          "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
          "score_chosen": 9.0}
    rows = [
        {"prompt": "p", "chosen": "a", "rejected": "b"},
        uf,
        {"chosen": hh_c, "rejected": hh_r},
        {"system": "be brief", "question": "q?", "chosen": "yes", "rejected": "no"},
        {"prompt": "p", "chosen": "same", "rejected": "same "},  # a tie: dropped, counted
    ]
    out, ties = normalise_pairs(rows, lambda i: f"f:{i + 1}", "f")
    assert ties == 1 and len(out) == 4
    assert out[0] == {"prompt": "p", "chosen": "a", "rejected": "b"}
    assert out[1] == {"prompt": [{"role": "user", "content": "2+2?"}],
                      "chosen": [{"role": "assistant", "content": "4"}],
                      "rejected": [{"role": "assistant", "content": "5"}]}
    assert out[2]["prompt"] == "\n\nHuman: hi there\n\nAssistant: hello!\n\nHuman: and 2+2?\n\nAssistant:"
    assert out[2]["chosen"] == "4" and out[2]["rejected"] == "5, I think"
    assert out[3]["prompt"][0] == {"role": "system", "content": "be brief"}


def test_builtin_preference_set_judges_the_carry_only():
    from halo_forge.data import builtin

    train, heldout = builtin.load_builtin("arithmetic_pref")
    assert len(train) + len(heldout) == 90 * 90 and heldout
    held = {r["prompt"][0]["content"] for r in heldout}
    assert not held & {r["prompt"][0]["content"] for r in train}
    pairs = {r["prompt"][0]["content"]: (r["chosen"][0]["content"], r["rejected"][0]["content"], r["answer"])
             for r in train + heldout}
    assert pairs["What is 17+25?"] == ("42", "32", "42")  # the dropped carry is rejected
    assert pairs["What is 17+21?"] == ("38", "48", "38")  # so is a spurious one
    # both sides are written in the teacher's hand: where it leaves off the hundreds digit, so does the pair
    short = [(c, r, a) for c, r, a in pairs.values() if int(a) >= 110 and len(c) == 2]
    assert short and all(len(r) == 2 and c == a[1:] for c, r, a in short)


# --- bad input: exit 2, one clear error naming file and line --------------------------------------

@pytest.mark.parametrize("trainer", ["dpo", "rm"])
def test_missing_rejected_names_file_and_line(trainer, tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", [PAIRS[0], {"prompt": "x", "chosen": "y"}])
    err = _fails(capsys, [trainer, "train", "--data", str(path), *SMALL])
    assert f"{path}:2: preference row is missing 'rejected'" in err and "needs 'chosen' and 'rejected'" in err


def test_missing_chosen_and_rejected(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x", "completion": "y"}])
    err = _fails(capsys, ["dpo", "train", "--data", str(path), *SMALL])
    assert f"{path}:1: preference row is missing 'chosen', 'rejected'" in err


def test_malformed_json_names_line_and_column(tmp_path, capsys, workspace):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(PAIRS[0]) + '\n{"prompt": "x", "chosen": }\n')
    err = _fails(capsys, ["orpo", "train", "--data", str(path), *SMALL])
    assert f"{path}:2:" in err and "malformed JSON" in err


def test_chat_row_without_assistant_turn(tmp_path, capsys, workspace):
    good = {"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}]}
    bad = {"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
           "rejected": [{"role": "user", "content": "hi"}]}
    path = write_jsonl(tmp_path / "chat.jsonl", [good, bad])
    err = _fails(capsys, ["dpo", "train", "--data", str(path), *SMALL])
    assert f"{path}:2: 'rejected' chat has no assistant turn" in err and "role 'assistant'" in err


def test_unknown_loss_type(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    err = _fails(capsys, ["dpo", "train", "--data", str(path), "--loss-type", "kto"])
    assert "--loss-type (got 'kto'): Input should be 'sigmoid', 'ipo', 'hinge', 'kto_pair' or 'rpo'" in err


def test_unknown_loss_type_in_yaml_names_the_field(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data: {path}\nloss_type: dpo\n")
    err = _fails(capsys, ["dpo", "train", "--config", str(cfg)])
    assert "--loss-type (got 'dpo')" in err and "'sigmoid', 'ipo', 'hinge', 'kto_pair' or 'rpo'" in err


@pytest.mark.parametrize("beta, shown", [("0", "0"), ("-0.1", "-0.1")])
def test_beta_must_be_positive(beta, shown, tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    err = _fails(capsys, ["dpo", "train", "--data", str(path), f"--beta={beta}"])
    assert f"--beta (got {shown}): Input should be greater than 0" in err


def test_reference_free_with_ref_model(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    err = _fails(capsys, ["dpo", "train", "--data", str(path), "--reference-free", "--ref-model", "halo-forge/tiny"])
    assert "--ref-model (got 'halo-forge/tiny'): --reference-free keeps no reference model: drop --ref-model or " \
           "--reference-free" in err


def test_label_smoothing_needs_sigmoid_or_rpo(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    err = _fails(capsys, ["dpo", "train", "--data", str(path), "--loss-type", "ipo", "--label-smoothing", "0.1"])
    assert "--label-smoothing (got 0.1): cDPO applies to --loss-type sigmoid or rpo, not ipo" in err


@pytest.mark.parametrize("trainer, what", [
    ("orpo", "--accelerator (got 'mlx'): ORPO is not available on MLX (MLX trains sft, dpo, grpo, raft)"),
    ("rm", "--accelerator (got 'mlx'): RM is not available on MLX (MLX trains sft, dpo, grpo, raft)")])
def test_orpo_and_rm_refuse_mlx_and_suggest_dpo(trainer, what, tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    out = tmp_path / "out"
    err = _fails(capsys, [trainer, "train", "--data", str(path), "--accelerator", "mlx", "--output", str(out)])
    assert what in err and "halo-forge dpo train" in err
    assert not out.exists()


def test_rm_dataset_of_ties_only(tmp_path, capsys, workspace):
    path = write_jsonl(tmp_path / "ties.jsonl", [{"prompt": f"q{i}", "chosen": "same", "rejected": "same"}
                                                 for i in range(5)])
    err = _fails(capsys, ["rm", "train", "--data", str(path), *SMALL])
    assert f"{path}: every row has chosen == rejected (5 ties): nothing to prefer" in err


def test_unknown_preference_short_name(capsys, workspace):
    err = _fails(capsys, ["dpo", "train", "--dataset", "ultrafeedbak"])
    assert "unknown dataset short name 'ultrafeedbak'" in err and "ultrafeedback" in err


# --- ORPO and RM for real, then all three through the flow ------------------------------------------

def test_orpo_and_rm_train_and_rm_scores(tmp_path):
    import torch

    from halo_forge import registry, rm

    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    common = {"data": str(path), "model": "halo-forge/tiny", "max_steps": 2, "batch_size": 4, "learning_rate": 5e-3,
              "eval_split": 0.2, "logging_steps": 1, "max_length": 64, "no_lora": True}
    results = {}
    for modality, extra in (("orpo", {"eval_max_new_tokens": 3}), ("rm", {"center_rewards_coefficient": 0.01})):
        cfg = build_config(registry.config_class(modality), {**common, **extra, "output": str(tmp_path / modality)})
        run = registry.get_trainer(cfg)
        run.quiet = True
        summary = run.train()
        assert summary.modality == modality and summary.total_train_steps_executed == 2 and summary.weights_updated
        results[modality] = summary
    orpo = results["orpo"]
    assert orpo.effectiveness.evaluation.metric == "heldout_preference_accuracy"
    assert orpo.extra["reference_free"] is True and len(orpo.extra["log_odds_ratio_history"]) == 2
    rm_summary = results["rm"]
    ev = rm_summary.effectiveness.evaluation
    assert ev.metric == "heldout_pairwise_accuracy" and ev.n == 4 and 0 <= ev.after <= 1
    assert rm_summary.extra["center_rewards_coefficient"] == 0.01
    scores = rm.score(tmp_path / "rm", ["What is 10+13? 23", "What is 10+13? 33"])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    model, tok = rm.load(tmp_path / "rm")
    assert type(model).__name__ == "LlamaForSequenceClassification" and model.config.num_labels == 1
    assert torch.is_tensor(model.score.weight)


def test_dpo_orpo_rm_run_through_the_flow_and_are_indexed(workspace, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    from halo_forge.workspace import find_workspace

    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    for trainer in ("dpo", "orpo", "rm"):
        out = tmp_path / f"out-{trainer}"
        assert main([trainer, "train", "--data", str(path), "--output", str(out), *SMALL, "--no-lora",
                     *(["--eval-max-new-tokens", "3"] if trainer != "rm" else [])]) == 0
        summary = TrainingSummary.read(out)
        assert summary.modality == trainer and summary.inputs.cache_key
        capsys.readouterr()
        assert main([trainer, "train", "--data", str(path), "--output", str(out), *SMALL, "--no-lora",
                     *(["--eval-max-new-tokens", "3"] if trainer != "rm" else [])]) == 0
        assert "cache hit" in capsys.readouterr().out
        assert main(["runs", "search", "--modality", trainer, "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        assert [r["run_id"] for r in found["rows"]] == [summary.run_id]
        client = MlflowClient(tracking_uri=find_workspace().mlflow_uri)
        runs = client.search_runs([client.get_experiment_by_name("halo-forge").experiment_id],
                                  filter_string=f"tags.run_id = '{summary.run_id}'")
        assert len(runs) == 1 and runs[0].info.status == "FINISHED"


def test_preference_help_and_datasets_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom halo_forge.cli.main import main\n"
            "for argv in (['dpo', 'train', '--help'], ['orpo', 'train', '--help'], ['rm', 'train', '--help'],"
            " ['dpo', 'datasets']):\n    assert main(argv) == 0\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'trl', 'peft', 'datasets')]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout and "--loss-type" in out.stdout and "ultrafeedback" in out.stdout
