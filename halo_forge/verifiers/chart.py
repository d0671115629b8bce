"""``chart``: numbers read off a chart must be within a relative tolerance (``rel_tol``, 5 %; plus
``abs_tol``) of the truth. A scalar ``answer`` (option ``field``) is compared with the last number
in the completion. A JSON object of values (label -> number, e.g. a row's ``values``) is compared
label by label with "label: number" pairs or a JSON object in the completion; the reward is the
fraction of labels within tolerance. Thousands separators, currency and % signs are ignored."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from halo_forge.data.formats import _NUMBER
from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier
from halo_forge.verifiers.json_schema import extract_json


def numbers(text: str) -> list[float]:
    """Every number in `text`, in order ('1,234.5' is one number)."""
    return [float(n.replace(",", "")) for n in _NUMBER.findall(str(text))]


def _label_values(text: str, labels: list[str]) -> dict[str, float]:
    found, obj = extract_json(text)
    if found and isinstance(obj, dict):
        return {str(k): v for k, v in obj.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out = {}
    for label in labels:
        m = re.search(rf"(?<!\w){re.escape(label)}\s*[:=\-]?\s*[$€£]?\s*({_NUMBER.pattern})", text, re.I)
        if m:
            out[label] = float(m.group(1).replace(",", ""))
    return out


@register_verifier("chart")
class ChartVerifier(Verifier):
    """Chart values within a relative tolerance of the truth (a scalar answer or label -> value)."""

    requires = ("answer",)

    def __init__(self, *, field: str = "answer", rel_tol: float = 0.05, abs_tol: float = 0.0) -> None:
        if rel_tol < 0 or abs_tol < 0:
            raise ValueError("rel_tol and abs_tol must be >= 0")
        self.field, self.rel_tol, self.abs_tol = field, float(rel_tol), float(abs_tol)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def _close(self, got: float, want: float) -> bool:
        return math.isclose(got, want, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        gold: Any = row.get(self.field)
        if isinstance(gold, str) and gold.strip().startswith("{"):
            gold = json.loads(gold)
        if isinstance(gold, dict):
            return self._verify_values(completion, {str(k): float(v) for k, v in gold.items()})
        want = numbers(str(gold))
        if len(want) != 1:
            return fail(f"row field {self.field!r} = {str(gold)[:60]!r} is not one number")
        got = numbers(completion)
        if not got:
            return fail("no number in the completion", stage="parse", gold=want[0])
        if self._close(got[-1], want[0]):
            return VerifyResult(1.0, True, {"reason": "within tolerance", "predicted": got[-1], "gold": want[0]})
        return fail("outside tolerance", predicted=got[-1], gold=want[0],
                    rel_error=abs(got[-1] - want[0]) / max(abs(want[0]), 1e-12))

    def _verify_values(self, completion: str, gold: dict[str, float]) -> VerifyResult:
        got = _label_values(completion, list(gold))
        right = [k for k, v in gold.items() if k in got and self._close(float(got[k]), v)]
        details = {"values_right": len(right), "values": len(gold),
                   "wrong": [k for k in gold if k not in right][:10]}
        if len(right) == len(gold):
            return VerifyResult(1.0, True, {"reason": "every value within tolerance", **details})
        return fail(f"{len(gold) - len(right)} of {len(gold)} values missing or outside tolerance",
                    reward=len(right) / len(gold), **details)
