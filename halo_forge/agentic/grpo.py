"""Agentic GRPO on TRL 1.16: its native tool loop for multi-turn episodes, or rendered prompts for
single-turn call training.

TRL 1.16's ``GRPOTrainer`` runs tools natively: ``tools=[callables]`` are rendered with the chat template,
each sampled turn is parsed with the tokenizer's ``response_template`` (TRL falls back to plain text when a
call is malformed), the calls run and their results go back as ``tool`` turns, for up to
``GRPOConfig.max_tool_calling_iterations`` rounds; tool-result tokens get no loss. We wrap that:

- :func:`ensure_tool_parsing`: TRL knows the response templates of the big families; for a ChatML template
  that writes Hermes/Qwen ``<tool_call>{json}</tool_call>`` (the tiny model's) we set TRL's own Qwen
  response template;
- :func:`episode_reward_func`: a TRL reward function that reads each completion's messages as an
  :class:`~halo_forge.agentic.episodes.Episode`, scores calls and final answer, and counts into
  :class:`~halo_forge.agentic.episodes.EpisodeStats`;
- :func:`episode_rows` / :func:`single_turn_rows`: dataset rows for the two modes (``tools`` and
  ``gold_calls`` as JSON text, so Arrow sees one type per column).
"""

from __future__ import annotations

import json

from halo_forge.errors import ConfigError


def ensure_tool_parsing(tokenizer) -> str:
    """Make ``tokenizer.parse_response`` read tool calls; returns how (for the summary's notes)."""
    if getattr(tokenizer, "response_template", None) is not None or getattr(tokenizer, "response_schema", None):
        return "the tokenizer's own response template"
    from trl.chat_template_utils import add_response_schema, qwen3_template

    try:
        add_response_schema(tokenizer)
        return "TRL's response template for this chat template"
    except ValueError:
        pass
    probe = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"},
         {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
                                                                "function": {"name": "f", "arguments": {"x": 1}}}]}],
        tokenize=False)
    if "<|im_start|>assistant\n" in probe and '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>' in probe:
        tokenizer.response_template = qwen3_template
        return "TRL's Qwen response template (ChatML with <tool_call> JSON)"
    raise ConfigError("the model's chat template has no known tool-call format, so its calls cannot be parsed",
                      hint="use a model whose chat template TRL knows (Qwen, Llama 3.1+, GLM, GPT-OSS …), or set "
                           "tokenizer.response_template (transformers' chat response parsing)")


def _row_fields(kwargs: dict, i: int) -> dict:
    return {k: kwargs[k][i] for k in ("tools", "gold_calls", "answer") if k in kwargs and kwargs[k][i] is not None}


def episode_reward_func(stats, *, call_weight: float = 1.0, answer_weight: float = 1.0, verifier=None):
    """A TRL reward function scoring whole episodes (calls and final answer, the calls by ``verifier``, default
    a plain ``tool_call``); counts go to ``stats``."""
    from halo_forge.agentic.episodes import episode_from_messages, score_episode
    from halo_forge.verifiers import get_verifier

    verifier = verifier or get_verifier("tool_call")

    def episode_reward(prompts, completions, **kwargs):
        out = []
        for i, messages in enumerate(completions):
            ep = episode_from_messages(messages if isinstance(messages, list) else
                                       [{"role": "assistant", "content": str(messages)}])
            scored = score_episode(ep, _row_fields(kwargs, i), verifier, call_weight=call_weight,
                                   answer_weight=answer_weight)
            stats.add(ep, scored)
            out.append(scored["reward"])
        return out

    return episode_reward


def episode_rows(rows: list[dict]) -> list[dict]:
    """Conversational rows for the native tool loop (TRL renders the trainer's ``tools=`` itself)."""
    return [{"prompt": r["prompt"], "tools": json.dumps(r["tools"]), "gold_calls": json.dumps(r["gold_calls"]),
             "answer": r.get("answer")} for r in rows]


def single_turn_rows(rows: list[dict], tokenizer) -> list[dict]:
    """Text prompts rendered with each row's own tools: GRPO samples the first assistant turn only and the
    ``tool_call`` verifier scores it (no tool runs; per-row tools, as in xLAM-style sets)."""
    return [{"prompt": tokenizer.apply_chat_template(r["prompt"], tools=r["tools"], tokenize=False,
                                                     add_generation_prompt=True),
             "tools": json.dumps(r["tools"]), "gold_calls": json.dumps(r["gold_calls"])} for r in rows]
