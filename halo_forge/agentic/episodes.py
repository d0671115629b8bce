"""Episodes (a prompt's assistant turns, tool calls and tool results), their rewards and their statistics.

An episode ends on a final answer (an assistant turn without calls) or at the turn limit. Its reward is
``call_weight`` × the ``tool_call`` verifier's graded score of every call it made + ``answer_weight`` × whether
the final answer matches the row's ``answer`` (numbers in order within a tolerance, else normalised text),
divided by the weights' sum. :class:`EpisodeStats` gathers what the run summary reports: turns per episode,
how episodes ended, the call-check breakdown and the reasons calls failed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class Episode:
    """One rollout after the prompt."""

    messages: list[dict] = field(default_factory=list)  # assistant and tool turns, in order
    call_texts: list[str] = field(default_factory=list)  # raw text of each assistant turn that held calls
    calls: list[dict] = field(default_factory=list)      # every parsed call, in order
    final: str | None = None                             # the final answer (None: no answer before the limit)
    turns: int = 0                                       # assistant turns
    failures: list[str] = field(default_factory=list)    # calls that could not run, and why
    ended: str = "answer"                                # answer | turn_limit

    def to_dict(self) -> dict[str, Any]:
        return {"turns": self.turns, "ended": self.ended, "calls": self.calls, "final": self.final,
                "failures": self.failures}


def answer_matches(text: str | None, gold: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-2) -> bool:
    """The gold answer's numbers appear, in order, as the text's numbers (within tolerance); a gold without
    numbers matches the text after case and punctuation normalisation."""
    from halo_forge.agentic.calls import norm_text

    if text is None:
        return False
    want = [float(x) for x in _NUMBER.findall(gold)]
    if not want:
        return norm_text(text) == norm_text(gold)
    got = [float(x) for x in _NUMBER.findall(text)]
    return len(got) == len(want) and all(math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
                                         for a, b in zip(got, want))


def episode_from_messages(messages: list[dict]) -> Episode:
    """An Episode from a completion's messages as TRL's tool loop hands them to reward functions
    (assistant turns with parsed ``tool_calls``, ``tool`` turns with the results)."""
    from halo_forge.agentic.calls import as_call, render_calls

    ep = Episode(messages=list(messages))
    for m in messages:
        if m.get("role") == "assistant":
            ep.turns += 1
            calls = [c for c in (as_call(tc) for tc in m.get("tool_calls") or []) if c]
            text = str(m.get("content") or "")
            if calls:
                ep.calls += calls
                ep.call_texts.append(text + render_calls(calls))
            elif "<tool_call>" in text:  # TRL's parser fell back to plain text: a malformed call
                ep.call_texts.append(text)
                ep.failures.append("unparseable tool call")
            else:
                ep.final = text
        elif m.get("role") == "tool" and str(m.get("content", "")).startswith("{'error'"):
            ep.failures.append(f"{m.get('name')}: {m['content'][:120]}")
    if ep.final is None:
        ep.ended = "turn_limit"
    return ep


def score_episode(ep: Episode, row: dict, call_verifier, *, call_weight: float = 1.0,
                  answer_weight: float = 1.0) -> dict[str, Any]:
    """{reward, calls (the tool_call VerifyResult), answer_correct, exact_calls}."""
    calls = call_verifier.verify("".join(ep.call_texts), row)
    has_answer = row.get("answer") is not None
    correct = has_answer and answer_matches(ep.final, str(row["answer"]))
    total = call_weight + (answer_weight if has_answer else 0.0)
    reward = (call_weight * calls.reward + (answer_weight * correct if has_answer else 0.0)) / total
    return {"reward": reward, "calls": calls, "answer_correct": correct, "exact_calls": calls.passed}


@dataclass
class EpisodeStats:
    """Counts over many scored episodes (summary extras)."""

    episodes: int = 0
    turns: Counter = field(default_factory=Counter)
    ended: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    checks: Counter = field(default_factory=Counter)  # sum of each call check's score
    exact_calls: int = 0
    answers_correct: int = 0

    def add(self, ep: Episode, scored: dict) -> None:
        self.episodes += 1
        self.turns[ep.turns] += 1
        self.ended[ep.ended] += 1
        self.failures.update(_reason_kind(f) for f in ep.failures + scored["calls"].details.get("failures", []))
        self.checks.update(scored["calls"].details.get("checks", {}))
        self.exact_calls += bool(scored["exact_calls"])
        self.answers_correct += bool(scored["answer_correct"])

    def to_dict(self) -> dict[str, Any]:
        n = max(self.episodes, 1)
        return {"episodes": self.episodes,
                "turns_per_episode": {str(k): v for k, v in sorted(self.turns.items())},
                "mean_turns": round(sum(k * v for k, v in self.turns.items()) / n, 3),
                "ended": dict(self.ended), "exact_call_rate": round(self.exact_calls / n, 4),
                "answer_accuracy": round(self.answers_correct / n, 4),
                "call_checks": {k: round(v / n, 4) for k, v in self.checks.items()},
                "call_failures": dict(self.failures.most_common(20))}


def _reason_kind(reason: str) -> str:
    """A failure reason without its call number and values, so equal kinds count together."""
    reason = re.sub(r"^call \d+ ", "", reason)
    reason = re.sub(r"'[^']*'", "'…'", reason)
    return re.sub(r"\d+(\.\d+)?", "N", reason)[:120]
