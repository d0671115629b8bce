"""``vqa``: the completion's answer must equal the row's ``answer`` (option ``field``; a list means
any of several annotators' answers). ``mode=normalised`` (default) compares after the VQA
evaluation's normalisation: lower case, punctuation and articles dropped, number words as digits,
whitespace collapsed, a leading "The answer is" removed; ``mode=exact`` compares stripped text."""

from __future__ import annotations

import re

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_ARTICLES = {"a", "an", "the"}
_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.I)
_PUNCT = re.compile(r"[^\w\s.]|(?<!\d)\.|\.(?!\d)")  # keep the point of 3.5, drop every other mark


def normalise_answer(text: str) -> str:
    """VQA-style normal form: 'The answer is: Three apples.' -> '3 apples'."""
    text = _PREFIX.sub("", str(text).strip().lower())
    text = _PUNCT.sub(" ", text.replace(",", "") if re.fullmatch(r"[\d,.\s]+", text) else text)
    words = [_NUMBER_WORDS.get(w, w) for w in text.split() if w not in _ARTICLES]
    return " ".join(words)


@register_verifier("vqa")
class VQAVerifier(Verifier):
    """Answer match for visual question answering: exact, or after VQA normalisation (default)."""

    requires = ("answer",)

    def __init__(self, *, field: str = "answer", mode: str = "normalised") -> None:
        if mode not in ("normalised", "exact"):
            raise ValueError("mode must be normalised or exact")
        self.field, self.mode = field, mode

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def _form(self, text: str) -> str:
        return normalise_answer(text) if self.mode == "normalised" else str(text).strip()

    def verify(self, completion: str, row: dict) -> VerifyResult:
        gold = row.get(self.field)
        golds = [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]
        predicted = self._form(completion)
        if not predicted:
            return fail("empty answer", predicted="", gold=golds[0][:80])
        if predicted in {self._form(g) for g in golds}:
            return VerifyResult(1.0, True, {"reason": "answer matches", "predicted": predicted[:80]})
        return fail("wrong answer", predicted=predicted[:80], gold=golds[0][:80])
