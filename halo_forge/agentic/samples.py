"""Sampled episodes as text, for the RAFT cycle: sampling, scoring and the traces the kept ones train on.

RAFT's cycle (`raft.recipe.RAFTRecipe.run_cycle`) caches, scores, ranks and deduplicates samples
as strings. An agentic sample is one episode written as JSON text, ``{"messages": [assistant and tool turns],
"tools": [definitions]}``; :class:`EpisodeScorer` is the verifier RAFT's `rl.score` calls on it (the episode
reward of :func:`~halo_forge.agentic.episodes.score_episode`), and `trace_rows` turns the kept samples back into
the chat SFT trains on (assistant turns only).
"""

from __future__ import annotations

import json

from halo_forge.verifiers.base import VerifyResult


def sample_episodes(model, tokenizer, rows: list[dict], tools: list, *, n: int, single_turn: bool, max_turns: int,
                    temperature: float, max_new_tokens: int, batch_size: int) -> list[list[str]]:
    """``n`` sampled episodes per row, as JSON text: whole episodes with the calls executed, or (single turn)
    the first assistant turn's calls."""
    from halo_forge.agentic.calls import message_calls, parse_calls
    from halo_forge.agentic.rollout import first_turn_texts, run_episodes
    from halo_forge.agentic.tools import definitions

    if single_turn:
        texts = first_turn_texts(model, tokenizer, rows, tools, n=n, do_sample=True, temperature=temperature,
                                 max_new_tokens=max_new_tokens, batch_size=batch_size)
        out = []
        for row, outs in zip(rows, texts):
            group = []
            for text in outs:
                calls, problems = parse_calls(text)
                turn = {"role": "assistant", "content": "", "tool_calls": message_calls(calls)} \
                    if calls and not problems else {"role": "assistant", "content": text.strip()}
                group.append(_sample([turn], row["tools"]))
            out.append(group)
        return out
    repeated = [r for r in rows for _ in range(n)]
    episodes = run_episodes(model, tokenizer, repeated, tools, max_turns=max_turns, max_new_tokens=max_new_tokens,
                            batch_size=batch_size, do_sample=True, temperature=temperature)
    defs = definitions(tools)
    flat = [_sample(ep.messages, defs) for ep in episodes]
    return [flat[i * n:(i + 1) * n] for i in range(len(rows))]


def _sample(messages: list[dict], tools: list[dict]) -> str:
    return json.dumps({"messages": messages, "tools": tools}, sort_keys=True)


class EpisodeScorer:
    """A verifier over sampled episodes (JSON text): reward = the episode reward (calls and, unless single turn,
    the final answer); passed = every call check passed and the final answer (when the row has one) is right."""

    def __init__(self, call_verifier, *, call_weight: float, answer_weight: float, single_turn: bool) -> None:
        self.call_verifier, self.single_turn = call_verifier, single_turn
        self.call_weight, self.answer_weight = call_weight, answer_weight

    def verify(self, text: str, row: dict) -> VerifyResult:
        from halo_forge.agentic.episodes import _reason_kind, episode_from_messages, score_episode

        ep = episode_from_messages(json.loads(text)["messages"])
        if self.single_turn:
            row = {k: v for k, v in row.items() if k != "answer"}
        scored = score_episode(ep, row, self.call_verifier, call_weight=self.call_weight,
                               answer_weight=self.answer_weight if not self.single_turn else 0.0)
        answered = scored["answer_correct"] or row.get("answer") is None
        passed = bool(scored["exact_calls"] and answered)
        failures = ep.failures + scored["calls"].details.get("failures", [])
        reason = "passed" if passed else _reason_kind(failures[0]) if failures else "wrong final answer"
        return VerifyResult(scored["reward"], passed, {"reason": reason})

    def verify_batch(self, texts: list[str], rows: list[dict]) -> list[VerifyResult]:
        return [self.verify(t, r) for t, r in zip(texts, rows)]


def trace_rows(kept: list[dict]) -> list[dict]:
    """The SFT rows of RAFT's kept samples: each prompt, then its episode's turns; the tools as JSON text."""
    out = []
    for r in kept:
        sample = json.loads(r["completion"][0]["content"])
        out.append({"messages": list(r["prompt"]) + sample["messages"], "tools": json.dumps(sample["tools"])})
    return out
