"""``json_extract``: document extraction. The completion's JSON (a fenced block or the first JSON
object, as for ``json_schema``) must validate against the row's ``schema`` (if any, or the option
``schema``) and its fields must equal the row's ``expected`` record: strings after trimming and
(``ignore_case``) case folding, numbers within ``rel_tol``. The reward is the fraction of expected
fields right, capped at ``invalid_cap`` (0.5) when the schema fails; it passes only when the JSON
validates and every field is right."""

from __future__ import annotations

import math
from typing import Any

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier
from halo_forge.verifiers.json_schema import _as_schema, extract_json


def _same(got: Any, want: Any, rel_tol: float, ignore_case: bool) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)):
        try:
            return math.isclose(float(got), float(want), rel_tol=rel_tol, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(want, str):
        a, b = " ".join(str(got).split()), " ".join(want.split())
        return a.casefold() == b.casefold() if ignore_case else a == b
    return got == want


@register_verifier("json_extract")
class JsonExtractVerifier(Verifier):
    """Extracted JSON validates against the schema and its fields equal the expected record."""

    requires = ("expected",)

    def __init__(self, *, field: str = "expected", schema: Any = None, schema_field: str = "schema",
                 rel_tol: float = 1e-6, ignore_case: bool = True, invalid_cap: float = 0.5) -> None:
        if not 0.0 <= invalid_cap <= 1.0:
            raise ValueError("invalid_cap must be in [0, 1]")
        self.field, self.schema_field = field, schema_field
        self.schema = _as_schema(schema, "option schema") if schema is not None else None
        self.rel_tol, self.ignore_case, self.invalid_cap = float(rel_tol), bool(ignore_case), float(invalid_cap)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def _schema_error(self, value: Any, row: dict) -> str | None:
        import jsonschema

        schema = self.schema if self.schema is not None else row.get(self.schema_field)
        if schema is None:
            return None
        schema = _as_schema(schema, f"row field {self.schema_field!r}")
        errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return None
        return f"schema violation at {'/'.join(map(str, errors[0].path)) or '(root)'}: {errors[0].message[:120]}"

    def verify(self, completion: str, row: dict) -> VerifyResult:
        expected = row.get(self.field)
        if not isinstance(expected, dict) or not expected:
            return fail(f"row field {self.field!r} must be a non-empty JSON object")
        found, value = extract_json(completion)
        if not found or not isinstance(value, dict):
            return fail("no JSON object in the completion", stage="parse")
        wrong = [k for k, want in expected.items() if k not in value or not _same(value[k], want, self.rel_tol,
                                                                                   self.ignore_case)]
        score = 1.0 - len(wrong) / len(expected)
        details = {"fields_right": len(expected) - len(wrong), "fields": len(expected), "wrong": wrong[:10]}
        schema_error = self._schema_error(value, row)
        if schema_error:
            return fail(schema_error, reward=min(score, self.invalid_cap), stage="validate", **details)
        if wrong:
            return fail(f"{len(wrong)} of {len(expected)} fields wrong: {', '.join(wrong[:5])}", reward=score,
                        stage="fields", **details)
        return VerifyResult(1.0, True, {"reason": "every field matches", **details})
