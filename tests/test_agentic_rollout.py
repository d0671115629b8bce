"""Tool use on the tiny model: SFT on tool traces (loss on assistant turns only), our multi-turn rollout loop
executing real calls, TRL's native tool loop in GRPO, and tools from a plugin or from dataset code (sandbox)."""

from __future__ import annotations

import json
import sys

import pytest

from halo_forge.agentic import episodes, grpo, rollout, tools
from halo_forge.data import tool_world
from halo_forge.verifiers import get_verifier
from halo_forge.verifiers.sandbox import detect_isolation

def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def adder() -> tools.Tool:
    from transformers.utils import get_json_schema

    return tools.Tool(get_json_schema(add), add)


# Short traces (a 1M model memorises them in a few dozen steps): one call, two parallel calls, a wrong tool.
ADD_TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}]
CALC = {"prompt": [{"role": "user", "content": "2+3?"}], "tools": ADD_TOOLS,
        "gold_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}], "answer": "5"}
PAIR = {"prompt": [{"role": "user", "content": "Sum 4+4 and 2+3."}], "tools": ADD_TOOLS,
        "gold_calls": [{"name": "add", "arguments": {"a": 4, "b": 4}}, {"name": "add", "arguments": {"a": 2, "b": 3}}],
        "answer": "8 and 5"}
BAD = {"prompt": [{"role": "user", "content": "rain?"}], "tools": ADD_TOOLS,
       "gold_calls": [{"name": "add", "arguments": {"a": 1, "b": 1}}], "answer": "2"}


def trace(row: dict, calls: list[dict], results: list[str], final: str) -> dict:
    from halo_forge.agentic.calls import message_calls

    msgs = row["prompt"] + [{"role": "assistant", "content": "", "tool_calls": message_calls(calls)}]
    msgs += [{"role": "tool", "name": c["name"], "content": r} for c, r in zip(calls, results)]
    return {"messages": msgs + [{"role": "assistant", "content": final}], "tools": json.dumps(ADD_TOOLS)}


TRACES = [trace(CALC, CALC["gold_calls"], ["5"], "5"), trace(PAIR, PAIR["gold_calls"], ["8", "5"], "8 and 5"),
          trace(BAD, [{"name": "sub", "arguments": {"a": 1}}], ["{'error': 'Tool sub not found.'}"], "no")]


@pytest.fixture(scope="module")
def memorised():
    """The tiny model after a plain PyTorch loop on the three traces (assistant tokens only) until it repeats
    them: a model that really emits calls, for the rollout loops to run. (TRL's SFT is tested on its own
    below; this is setup, kept short.)"""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from halo_forge.models.tiny import ensure_tiny

    torch.manual_seed(0)
    path = ensure_tiny("halo-forge/tiny")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    encs = [tok.apply_chat_template(t["messages"], tools=ADD_TOOLS, return_dict=True, return_assistant_tokens_mask=True)
            for t in TRACES]
    width = max(len(e["input_ids"]) for e in encs)
    ids = torch.full((len(encs), width), tok.pad_token_id)
    labels, att = torch.full_like(ids, -100), torch.zeros_like(ids)
    for i, e in enumerate(encs):
        n, row = len(e["input_ids"]), torch.tensor(e["input_ids"])
        ids[i, :n], att[i, :n] = row, 1
        labels[i, :n] = torch.where(torch.tensor(e["assistant_masks"]) == 1, row, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with torch.random.fork_rng(devices=[]):
        for _ in range(110):
            model(input_ids=ids, attention_mask=att, labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
    return model.eval(), tok


def test_template_masks_assistant_turns_only(tiny_model_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    row = {"prompt": [{"role": "user", "content": "What is 24 minus 12?"}], "tools": tool_world.TOOLS,
           "gold_calls": [{"name": "calculate", "arguments": {"a": 24, "b": 12, "operation": "subtract"}}]}
    trace = tool_world.sft_trace(row)
    enc = tok.apply_chat_template(trace["messages"], tools=json.loads(trace["tools"]), return_dict=True,
                                  return_assistant_tokens_mask=True)
    spans, cur = [], []
    for i, m in zip(enc["input_ids"], enc["assistant_masks"]):
        if m:
            cur.append(i)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    assert spans == ['<tool_call>{"name": "calculate", "arguments": {"a": 24, "b": 12, "operation": "subtract"}}'
                     '</tool_call><|im_end|>', "12<|im_end|>"]
    text = tok.decode(enc["input_ids"])
    assert text.startswith("<|im_start|>system\ntools: calculate(a,b,operation) convert(value,from_unit,to_unit) "
                           "lookup(table,key)<|im_end|>\n")
    assert "<|im_start|>tool\n12<|im_end|>" in text
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    assert supports_tool_calling(tok) and is_chat_template_prefix_preserving(tok)
    assert "tool_call" in grpo.ensure_tool_parsing(tok) or "Qwen" in grpo.ensure_tool_parsing(tok)


def test_sft_on_tool_traces_trains_assistant_turns_only(tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from halo_forge.models.tiny import ensure_tiny

    path = ensure_tiny("halo-forge/tiny")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    traces = [tool_world.sft_trace(r) for r in tool_world.tool_world_split(n=40)[0][:6]]
    args = SFTConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=3, learning_rate=1e-3,
                     assistant_only_loss=True, use_cpu=True, bf16=False, report_to=[], save_strategy="no",
                     logging_steps=1, seed=0, disable_tqdm=True, gradient_checkpointing=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(traces), processing_class=tok)
    row = trainer.train_dataset[0]
    trained = tok.decode([i for i, label in zip(row["input_ids"], row["labels"]) if label != -100])
    first = traces[0]["messages"]
    want = "".join(tok.apply_chat_template(first[:k + 1], tools=tool_world.TOOLS, tokenize=False)[
        len(tok.apply_chat_template(first[:k], tools=tool_world.TOOLS, tokenize=False, add_generation_prompt=True)):
    ].removesuffix("\n") for k, m in enumerate(first) if m["role"] == "assistant")
    assert trained == want  # exactly the assistant turns: the tool_calls turn and the final answer
    assert "<tool_call>" in trained and "tools:" not in trained and first[0]["content"] not in trained
    trainer.train()
    assert trainer.state.global_step == 3 and all(torch.isfinite(torch.tensor(e["loss"]))
                                                   for e in trainer.state.log_history if "loss" in e)
    assert any(not (p.detach() == before[n]).all() for n, p in trainer.model.named_parameters())


def test_rollout_executes_calls_and_feeds_results_back(memorised):
    model, tok = memorised
    eps = rollout.run_episodes(model, tok, [CALC, PAIR, BAD], [adder()], max_turns=3, max_new_tokens=200)
    calc, pair, bad = eps
    assert calc.calls == CALC["gold_calls"] and calc.turns == 2 and calc.ended == "answer"
    assert calc.messages[1] == {"role": "tool", "name": "add", "content": "5"}  # the tool really ran
    assert calc.final == "5"  # the answer turn was generated after the result was fed back
    assert pair.calls == PAIR["gold_calls"], pair.call_texts  # two parallel calls in one turn, both run
    assert [m["content"] for m in pair.messages if m["role"] == "tool"] == ["8", "5"] and pair.final == "8 and 5"
    assert bad.calls == [{"name": "sub", "arguments": {"a": 1}}] and bad.failures == ["sub: no such tool"]
    assert bad.messages[1]["content"] == "{'error': 'Tool sub not found.'}"
    verifier = get_verifier("tool_call")
    stats = episodes.EpisodeStats()
    for ep, row in zip(eps, [CALC, PAIR, BAD]):
        stats.add(ep, episodes.score_episode(ep, row, verifier))
    summary = stats.to_dict()
    assert summary["exact_call_rate"] == summary["answer_accuracy"] == round(2 / 3, 4)
    assert summary["turns_per_episode"] == {"2": 3} and summary["ended"] == {"answer": 3}
    assert summary["call_failures"]["sub: no such tool"] == 1
    assert summary["call_failures"]["sub: no such tool (tools: add)"] == 1  # the verifier's own reason
    one = rollout.run_episodes(model, tok, [CALC], [adder()], max_turns=1, max_new_tokens=200)[0]
    assert one.ended == "turn_limit" and one.final is None and one.turns == 1
    cut = rollout.run_episodes(model, tok, [PAIR], [adder()], max_turns=1, max_new_tokens=90)[0]
    assert cut.calls == PAIR["gold_calls"][:1]  # the second call was cut off by the token limit
    assert cut.failures[0].startswith("unparseable tool call: call 2 is not valid JSON")


def test_trl_grpo_runs_the_tools_natively(memorised, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tok = memorised
    note = grpo.ensure_tool_parsing(tok)
    stats = episodes.EpisodeStats()
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, max_steps=1,
                      max_completion_length=160, learning_rate=1e-4, beta=0.0, temperature=0.7, use_cpu=True,
                      bf16=False, report_to=[], save_strategy="no", logging_steps=1, seed=0, disable_tqdm=True,
                      gradient_checkpointing=False, max_tool_calling_iterations=2)
    g = GRPOTrainer(model=model, reward_funcs=grpo.episode_reward_func(stats), args=args,
                    train_dataset=Dataset.from_list(grpo.episode_rows([CALC])), processing_class=tok,
                    tools=[adder()])
    g.train()
    assert g.state.global_step == 1 and "Qwen" in note
    log = next(e for e in g.state.log_history if "tools/call_frequency" in e)
    assert log["tools/call_frequency"] > 0  # TRL parsed calls and ran our tools
    assert stats.episodes == 4 and max(stats.turns) >= 2  # the reward saw tool turns and a later answer


def test_plugin_tool(tmp_path, monkeypatch):
    (tmp_path / "my_tools.py").write_text(
        'def shout(word: str) -> str:\n    """Upper-case a word.\n\n    Args:\n        word: The word.\n    """\n'
        "    return word.upper()\n\ndef nodoc(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    t = tools.plugin_tool("my_tools:shout")
    assert t.__name__ == "shout" and t["function"]["parameters"]["required"] == ["word"] and t(word="hi") == "HI"
    from halo_forge.errors import DataError

    with pytest.raises(DataError, match="no JSON schema"):
        tools.plugin_tool("my_tools:nodoc")
    with pytest.raises(DataError, match="cannot be imported"):
        tools.plugin_tool("no_such_module:f")


@pytest.mark.skipif(detect_isolation() == "none", reason="no sandbox here (install bubblewrap)")
def test_dataset_code_tools_run_in_the_sandbox():
    definition = {"type": "function", "function": {
        "name": "whoami", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "code": "import os\ndef whoami(n):\n    return f'{os.getuid()}:{n * 2}:{os.path.exists(\"/root\")}'\n"}}
    [t] = tools.dataset_tools([{"tools": [definition]}, {"tools": [definition]}])
    uid, doubled, _ = t(n=21).split(":")
    assert doubled == "42" and uid != str(__import__("os").getuid())  # not our uid: the sandbox's
    assert "code" not in t["function"]
    boom = tools.code_tool({"name": "boom", "code": "def boom():\n    raise ValueError('nope')\n"})
    with pytest.raises(RuntimeError, match="boom failed: ValueError: nope"):
        boom()
    assert sys.executable  # the sandbox runs this interpreter, isolated (-I)


def test_held_out_figures(memorised):
    from halo_forge.agentic.evaluation import call_figures, episode_figures

    model, tok = memorised
    calls = call_figures(model, tok, [CALC, PAIR, BAD], [adder()], max_new_tokens=200)
    assert calls["n"] == 3 and calls["exact_call_accuracy"] == pytest.approx(2 / 3)
    assert calls["call_checks"]["exists"] == round(2 / 3, 4)
    assert calls["call_failures"] == {"sub: no such tool (tools: add)": 1, "values: N of N gold call(s) matched by N call(s)": 1}
    eps = episode_figures(model, tok, [CALC, PAIR], [adder()], max_new_tokens=200)
    assert eps["answer_accuracy"] == 1.0 and eps["mean_turns"] == 2.0 and eps["call_failures"] == {}
    from halo_forge.agentic.evaluation import figures_of
    from halo_forge.training import Figure

    assert list(figures_of(calls, eps).items()) == [("heldout_exact_call_accuracy", Figure(calls["exact_call_accuracy"], 3)),
                                                    ("heldout_answer_accuracy", Figure(1.0, 2))]
