"""``math``: answer equivalence with ``math-verify`` (boxed answers, fractions, LaTeX, plain numbers)
against the row's ``answer`` (option ``field``). Optional partial credit for format only
(``format_credit``): a completion that states a parseable final answer which is wrong."""

from __future__ import annotations

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, in_main_thread, register_verifier


def _gold_text(gold) -> str:
    text = str(gold)
    if "####" in text:  # GSM8K-style worked solution: the gold is what follows ####
        from halo_forge.data.formats import final_answer

        text = final_answer(text) or text
    return text


@register_verifier("math")
class MathVerifier(Verifier):
    """Math answer equivalence (math-verify) against the row's answer; boxed, fractions, LaTeX."""

    requires = ("answer",)

    def __init__(self, *, field: str = "answer", format_credit: float = 0.0, require_boxed: bool = False,
                 float_rounding: int = 6, timeout: int = 5) -> None:
        if not 0.0 <= format_credit < 1.0:
            raise ValueError("format_credit must be in [0, 1)")
        self.field, self.format_credit, self.require_boxed = field, float(format_credit), bool(require_boxed)
        self.float_rounding, self.timeout = int(float_rounding), int(timeout)
        self.workers = 1  # math-verify's timeouts use signal.alarm: main thread, serial (it is fast)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        from math_verify import parse, verify

        timeout = self.timeout if in_main_thread() else None  # signal-based timeouts only in the main thread
        gold_raw = row.get(self.field)
        if gold_raw is None:
            return fail(f"row has no {self.field!r}")
        # "$…$" first: bare LaTeX golds parse wrongly or not at all (2\sqrt{2} → 2, x^2+1 → nothing)
        gold = parse(f"${_gold_text(gold_raw)}$", parsing_timeout=timeout)
        if not gold:
            gold = parse(_gold_text(gold_raw), parsing_timeout=timeout)
        if not gold:
            return fail(f"gold answer {str(gold_raw)[:80]!r} cannot be parsed")
        if self.require_boxed and "\\boxed" not in completion:
            return fail("no \\boxed{} answer", stage="format")
        pred = parse(completion, parsing_timeout=timeout)
        if not pred:
            return fail("no final answer found", stage="format")
        shown = str(pred[-1])[:80]
        if verify(gold, pred, float_rounding=self.float_rounding, timeout_seconds=timeout):
            return VerifyResult(1.0, True, {"reason": "answer matches", "predicted": shown, "gold": str(gold[-1])[:80]})
        return fail("wrong answer", reward=self.format_credit, stage="answer", predicted=shown, gold=str(gold[-1])[:80])
