"""``json_schema``: the completion must parse as JSON (a fenced ```json block or the first JSON value in
the text is taken) and validate against the row's ``schema`` (option ``field``) or a configured
``schema`` (a dict, JSON text, or a path to a .json file). Graded: no JSON 0, parses ``parse_credit``
(0.5), validates 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from halo_forge.verifiers._code import code_blocks
from halo_forge.verifiers.base import Verifier, VerifierError, VerifyResult, fail, register_verifier


def _as_schema(value: Any, where: str) -> dict:
    if isinstance(value, (dict, bool)):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        text = value
        if not value.lstrip().startswith("{") and Path(value).is_file():
            text = Path(value).read_text()
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise VerifierError(f"{where}: schema is not valid JSON: {exc}") from exc
    raise VerifierError(f"{where}: schema must be a JSON object, JSON text or a file path, got {type(value).__name__}")


def extract_json(text: str) -> tuple[bool, Any]:
    """(found, value): a fenced json block, the whole text, or the first JSON object/array in it."""
    candidates = [b for lang, b in code_blocks(text) if lang in ("json", "")] + [text]
    dec = json.JSONDecoder()
    for cand in candidates:
        s = cand.strip()
        try:
            return True, json.loads(s)
        except json.JSONDecodeError:
            pass
        for i, ch in enumerate(s):
            if ch in "{[":
                try:
                    return True, dec.raw_decode(s, i)[0]
                except json.JSONDecodeError:
                    continue
    return False, None


@register_verifier("json_schema")
class JsonSchemaVerifier(Verifier):
    """Completion must parse as JSON and validate against the row's (or the configured) JSON Schema."""

    requires = ("schema",)

    def __init__(self, *, schema: Any = None, field: str = "schema", parse_credit: float = 0.5,
                 strict: bool = False) -> None:
        import jsonschema

        if not 0.0 <= parse_credit < 1.0:
            raise ValueError("parse_credit must be in [0, 1)")
        self.field, self.parse_credit, self.strict = field, float(parse_credit), bool(strict)
        self.schema = _as_schema(schema, "option schema") if schema is not None else None
        if self.schema is not None:
            jsonschema.validators.validator_for(self.schema).check_schema(self.schema)

    def required_fields(self) -> tuple[str, ...]:
        return () if self.schema is not None else (self.field,)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        import jsonschema

        schema = self.schema if self.schema is not None else _as_schema(row.get(self.field), f"row field {self.field!r}")
        if self.strict:
            try:
                found, value = True, json.loads(completion.strip())
            except json.JSONDecodeError:
                found, value = False, None
        else:
            found, value = extract_json(completion)
        if not found:
            return fail("not valid JSON", stage="parse")
        cls = jsonschema.validators.validator_for(schema)
        errors = sorted(cls(schema).iter_errors(value), key=lambda e: list(e.path))
        if not errors:
            return VerifyResult(1.0, True, {"reason": "valid"})
        e = errors[0]
        path = "/".join(map(str, e.path)) or "(root)"
        return fail(f"schema violation at {path}: {e.message[:160]}", reward=self.parse_credit, stage="validate",
                    errors=len(errors))
