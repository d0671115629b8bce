"""Reasoning rewards: the think/answer format, the answer after the reasoning, and length shaping.

- ``think_format``: exactly one ``<think>…</think>`` block at the start, then a non-empty answer. TRL's
  ``trl.rewards.think_format_reward`` decides the opening (one ``<think>`` at the very start, closed);
  we add what it lets through: a second ``</think>``, an empty answer, empty reasoning.
- ``reasoning_answer``: the ``math`` verifier (math-verify: boxed answers, fractions, equivalent forms,
  the row's ``answer``) applied to the text after ``</think>`` only, so numbers in the reasoning never
  count. No ``</think>``: reasoning unfinished, reward 0 (as TRL's ``reasoning_accuracy_reward``).
- ``soft_overlong``: DAPO's soft overlong punishment (TRL's ``get_soft_overlong_punishment``) shifted to
  [0, 1]: 1 up to ``max_length - cache`` tokens, falling linearly to 0 at ``max_length``.
- ``cosine_length``: the cosine-scaled correctness reward (TRL's ``get_cosine_scaled_reward`` formula)
  rescaled from [min_value_wrong, max_value_correct] to [0, 1]: short right answers best, short wrong
  answers worst. Correctness is ``reasoning_answer``'s verdict.

Lengths are in tokens: the row's ``completion_tokens`` when the caller knows it (the GRPO reward bridge
passes TRL's completion ids), else the ``tokenizer`` option (a model name or folder), else characters
(``details["unit"]`` says which).
"""

from __future__ import annotations

import math

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier
from halo_forge.verifiers.math_answer import MathVerifier

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_think(text: str) -> tuple[str | None, str]:
    """(reasoning, answer): the reasoning inside the first ``<think>…</think>`` and the text after the last
    ``</think>``; (None, text) when the reasoning is never closed."""
    if THINK_CLOSE not in text:
        return None, text
    head, _, answer = text.rpartition(THINK_CLOSE)
    reasoning = head.split(THINK_OPEN, 1)[1] if THINK_OPEN in head else head
    return reasoning, answer


def format_problem(text: str, *, require_reasoning: bool = True) -> str | None:
    """Why ``text`` is not ``<think>reasoning</think>answer`` (None when it is)."""
    from trl.rewards import think_format_reward

    if not think_format_reward([[{"content": text}]])[0]:
        if not text.startswith(THINK_OPEN):
            return "does not start with <think>"
        return "no closing </think>" if THINK_CLOSE not in text else "more than one <think>"
    if text.count(THINK_CLOSE) != 1:
        return "more than one </think>"
    reasoning, answer = split_think(text)
    if require_reasoning and not (reasoning or "").strip():
        return "empty reasoning"
    if not answer.strip():
        return "no answer after </think>"
    return None


@register_verifier("think_format")
class ThinkFormatVerifier(Verifier):
    """Exactly one <think>…</think> at the start, then a non-empty answer (wraps TRL's think_format_reward)."""

    def __init__(self, *, require_reasoning: bool = True) -> None:
        self.require_reasoning = bool(require_reasoning)
        self.workers = 1  # a regex: threads only cost

    def verify(self, completion: str, row: dict) -> VerifyResult:
        problem = format_problem(completion, require_reasoning=self.require_reasoning)
        if problem:
            return fail(problem, stage="format")
        return VerifyResult(1.0, True, {"reason": "think/answer format"})


@register_verifier("reasoning_answer")
class ReasoningAnswerVerifier(MathVerifier):
    """Math answer equivalence (math-verify) of the text after </think> against the row's answer."""

    def __init__(self, *, require_think: bool = True, **math_options) -> None:
        super().__init__(**math_options)
        self.require_think = bool(require_think)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        reasoning, answer = split_think(completion)
        if reasoning is None and self.require_think:
            return fail("reasoning not finished (no </think>)", stage="format")
        return super().verify(answer, row)


class _LengthVerifier(Verifier):
    """Shared by the length-shaping verifiers: the completion's length in tokens (or characters)."""

    def __init__(self, *, max_length: int, tokenizer: str | None = None) -> None:
        if int(max_length) <= 0:
            raise ValueError("max_length must be a positive number of tokens")
        self.max_length, self.tokenizer_name, self._tokenizer = int(max_length), tokenizer, None
        self.workers = 1

    def length(self, completion: str, row: dict) -> tuple[int, str]:
        if row.get("completion_tokens") is not None:
            return int(row["completion_tokens"]), "tokens"
        if self.tokenizer_name:
            if self._tokenizer is None:
                from halo_forge.models.loading import load_tokenizer, resolve_model

                self._tokenizer = load_tokenizer(resolve_model(self.tokenizer_name))
            return len(self._tokenizer(completion, add_special_tokens=False)["input_ids"]), "tokens"
        return len(completion), "chars"


@register_verifier("soft_overlong")
class SoftOverlongVerifier(_LengthVerifier):
    """DAPO soft overlong punishment (TRL's get_soft_overlong_punishment) shifted to [0, 1]."""

    def __init__(self, *, max_length: int, cache: int, tokenizer: str | None = None) -> None:
        super().__init__(max_length=max_length, tokenizer=tokenizer)
        if not 0 < int(cache) <= self.max_length:
            raise ValueError("cache must be in (0, max_length]")
        from trl.rewards import get_soft_overlong_punishment

        self.cache = int(cache)
        self._punish = get_soft_overlong_punishment(self.max_length, self.cache)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        n, unit = self.length(completion, row)
        penalty = self._punish([[0] * n])[0]  # TRL's formula: 0, then linear to -1, -1 past max_length
        reward = 1.0 + penalty
        details = {"length": n, "unit": unit, "penalty": penalty}
        if n <= self.max_length - self.cache:
            return VerifyResult(reward, True, {"reason": "within length", **details})
        return VerifyResult(reward, False, {"reason": f"overlong: {n} {unit} > {self.max_length - self.cache}",
                                            **details})


def cosine_scaled(correct: bool, length: int, max_length: int, *, min_value_wrong: float = -1.0,
                  max_value_wrong: float = -0.5, min_value_correct: float = 0.5,
                  max_value_correct: float = 1.0) -> float:
    """TRL's cosine-scaled reward for one completion (same formula and defaults as
    ``trl.rewards.get_cosine_scaled_reward``; correctness is given, not recomputed with LaTeX-only parsing)."""
    progress = min(length / max_length, 1.0)
    lo, hi = (min_value_correct, max_value_correct) if correct else (max_value_wrong, min_value_wrong)
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(progress * math.pi))


@register_verifier("cosine_length")
class CosineLengthVerifier(_LengthVerifier):
    """Cosine-scaled correctness by length (TRL's formula), rescaled to [0, 1]; passed = correct."""

    requires = ("answer",)

    def __init__(self, *, max_length: int, tokenizer: str | None = None, min_value_wrong: float = -1.0,
                 max_value_wrong: float = -0.5, min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                 field: str = "answer") -> None:
        super().__init__(max_length=max_length, tokenizer=tokenizer)
        if not min_value_wrong <= max_value_wrong < min_value_correct <= max_value_correct:
            raise ValueError("need min_value_wrong <= max_value_wrong < min_value_correct <= max_value_correct")
        self.values = dict(min_value_wrong=min_value_wrong, max_value_wrong=max_value_wrong,
                           min_value_correct=min_value_correct, max_value_correct=max_value_correct)
        self.answer = ReasoningAnswerVerifier(field=field)

    def required_fields(self) -> tuple[str, ...]:
        return self.answer.required_fields()

    def verify(self, completion: str, row: dict) -> VerifyResult:
        verdict = self.answer.verify(completion, row)
        n, unit = self.length(completion, row)
        raw = cosine_scaled(verdict.passed, n, self.max_length, **self.values)
        lo, hi = self.values["min_value_wrong"], self.values["max_value_correct"]
        details = {"reason": verdict.reason, "length": n, "unit": unit, "raw_reward": raw}
        return VerifyResult(min(1.0, max(0.0, (raw - lo) / (hi - lo))), verdict.passed, details)
