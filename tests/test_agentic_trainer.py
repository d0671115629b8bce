"""`halo-forge agentic train --method sft|grpo|raft` for real on the tiny model through the flow: SFT on tool
traces teaches calls, GRPO (TRL's tool loop, the tools executed) and RAFT (sampled episodes) take real steps
from it, the summary carries the call checks, turns and failure reasons; a rerun is a cache hit, a replay is
identical, and bad tool rows exit 2 naming the row."""

from __future__ import annotations

import json

import pytest

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

def add(a: int, b: int) -> int:
    """Add two integers (the tool these tests' rows call, given to the trainer as a plugin).

    Args:
        a: The first.
        b: The second.
    """
    return a + b


ADD_TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]
# short traces (a 1M model learns the call format from six of them in a few dozen steps)
ADD_ROWS = [{"prompt": f"{a}+{a + 1}?", "tools": ADD_TOOLS, "answer": str(2 * a + 1),
             "gold_calls": [{"name": "add", "arguments": {"a": a, "b": a + 1}}]} for a in range(1, 9)]
COMMON = ["--tool", "test_agentic_trainer:add", "--eval-split", "0.25", "--eval-max-new-tokens", "80",
          "--max-completion-length", "80", "--seed", "0", "--no-lora", "--logging-steps", "1"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("agentic")
    (root / "add.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ADD_ROWS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALO_FORGE_WORKSPACE", str(root / "ws"))
        mp.chdir(root)
        assert main(["init", str(root / "ws")]) == 0  # a workspace (DVC inside) so runs are recorded for replay
        yield root


@pytest.fixture(scope="module")
def sft(workspace):
    """SFT through the flow on six add traces until the tiny model writes calls (the start of GRPO and RAFT)."""
    out = workspace / "sft"
    assert main(["agentic", "train", "--method", "sft", "--data", "add.jsonl", *COMMON, "--max-steps", "60",
                 "--batch-size", "6", "--learning-rate", "3e-3", "--output", str(out)]) == 0
    return out, TrainingSummary.read(out)


def test_sft_trains_on_tool_traces_through_the_flow(sft):
    out, s = sft
    assert s.modality == "agentic" and s.total_train_steps_executed == 60 and s.weights_updated
    assert s.extra["method"] == "sft" and s.extra["traces"] == 6 and s.extra["multi_turn"] is True
    assert s.extra["tools"] == ["add"]
    ev = {e.metric: e for e in s.effectiveness.evaluations}
    assert ev["heldout_exact_call_accuracy"].n == 2 and "heldout_answer_accuracy" in ev
    checks = s.extra["call_checks"]
    assert set(checks["before"]) == set(checks["after"]) == {"parse", "exists", "arguments", "types", "values"}
    assert checks["after"]["parse"] > checks["before"]["parse"]  # the trained model writes parseable calls
    episodes = s.extra["heldout_episodes"]["after"]
    assert episodes["episodes"] == 2 and sum(episodes["turns_per_episode"].values()) == 2
    assert "platform_errors" not in s.extra  # MLflow, the replay record and the run index all took it


def test_grpo_runs_the_tools_and_moves_the_weights(sft, workspace):
    out = workspace / "grpo"
    assert main(["agentic", "train", "--method", "grpo", "--data", "add.jsonl", *COMMON, "--model", str(sft[0]),
                 "--max-steps", "2", "--batch-size", "8", "--num-generations", "4", "--temperature", "0.5",
                 "--max-completion-length", "160", "--learning-rate", "1e-3", "--output", str(out)]) == 0
    s = TrainingSummary.read(out)
    assert s.total_train_steps_executed == 2 and s.weights_updated
    ep = s.extra["training_episodes"]
    assert ep["episodes"] == 16 and set(ep["call_checks"]) == {"parse", "exists", "arguments", "types", "values"}
    assert max(map(int, ep["turns_per_episode"])) >= 2  # a tool ran and its result went back to the model
    assert any(h["value"] > 0 for h in s.extra["tool_call_frequency_history"])
    assert s.extra["reward_history"] and s.extra["loss_type"] == "dapo"
    assert s.extra["call_checks"]["after"] and s.extra["heldout_episodes"]["after"]["episodes"] == 2


def test_raft_keeps_executed_episodes_and_moves_the_weights(sft, workspace):
    out = workspace / "raft"
    assert main(["agentic", "train", "--method", "raft", "--data", "add.jsonl", *COMMON, "--model", str(sft[0]),
                 "--cycles", "1", "--samples-per-prompt", "4", "--reward-threshold", "0.3", "--keep-percent", "1.0",
                 "--max-steps", "2", "--batch-size", "2", "--temperature", "0.5", "--learning-rate", "1e-3",
                 "--output", str(out)]) == 0
    s = TrainingSummary.read(out)
    assert len(s.cycles) == 1 and s.cycles[0].generated == 24 and s.weights_updated
    assert s.cycles[0].kept > 0 and s.total_train_steps_executed == 2
    assert s.yield_diagnostics["generated"] == 24 and s.extra["call_failures"]["after"] is not None


def test_rerun_is_a_cache_hit_and_the_replay_is_identical(workspace, capsys):
    args = ["agentic", "train", "--method", "sft", "--dataset", "tool_world", "--max-samples", "4", "--max-steps", "2",
            "--batch-size", "4", "--max-eval-samples", "2", "--eval-max-new-tokens", "8", "--no-lora",
            "--output", str(workspace / "small")]
    assert main(args) == 0
    run_id = TrainingSummary.read(workspace / "small").run_id
    capsys.readouterr()
    assert main(args) == 0
    assert "cache hit" in capsys.readouterr().out
    assert main(["replay", run_id]) == 0
    assert "identical" in capsys.readouterr().out


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}}}]
ROW = {"prompt": "price of apple?", "tools": TOOLS, "gold_calls": [{"name": "lookup", "arguments": {"key": "apple"}}]}


@pytest.mark.parametrize("bad, message", [
    ({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "dict"}}}]},
     "tool 'lookup': 'parameters' is not valid JSON Schema"),
    ({"gold_calls": [{"name": "lookup_price", "arguments": {}}]},
     "gold call 1 names tool 'lookup_price', which is not among the row's tools (lookup)"),
    ({"tools": "{not json"}, "column 'tools' is not valid JSON"),
    ({"tools": [{"parameters": {}}]}, "malformed 'tools' column: tool 1 has no 'name'"),
])
def test_bad_tool_rows_exit_2_naming_the_row(workspace, capsys, bad, message):
    data = workspace / "bad.jsonl"
    rows = [ROW] * 5 + [{**ROW, **bad}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["agentic", "train", "--data", str(data), "--output", str(workspace / "never")]) == 2
    err = capsys.readouterr().err
    assert message in err and f"{data}:6" in err
    assert not (workspace / "never").exists()


@pytest.mark.parametrize("flags, message", [
    (["--verifier", "math"], "--verifier (got ['math']): agentic training scores calls with tool_call"),
    (["--call-weight", "0", "--answer-weight", "0"], "--call-weight and --answer-weight are both 0"),
    (["--method", "grpo", "--batch-size", "6"], "--batch-size (got 6): not a multiple of --num-generations 4"),
    (["--max-turns", "0"], "--max-turns"),
])
def test_bad_settings_exit_2(workspace, capsys, flags, message):
    assert main(["agentic", "train", "--dataset", "tool_world", "--output", str(workspace / "never"), *flags]) == 2
    assert message in capsys.readouterr().err
