"""``regex_format``: the completion must match a regular expression: the option ``pattern`` or the
row's ``pattern`` field. ``mode``: search (anywhere, default), fullmatch (the whole stripped text) or
match (from the start)."""

from __future__ import annotations

import re

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier


@register_verifier("regex_format")
class RegexFormatVerifier(Verifier):
    """Completion must match a regex (the option pattern, else the row's pattern)."""

    requires = ("pattern",)

    def __init__(self, *, pattern: str | None = None, field: str = "pattern", mode: str = "search",
                 ignore_case: bool = False, dotall: bool = True, multiline: bool = False) -> None:
        if mode not in ("search", "fullmatch", "match"):
            raise ValueError("mode must be search, fullmatch or match")
        self.flags = (re.I if ignore_case else 0) | (re.S if dotall else 0) | (re.M if multiline else 0)
        self.pattern = re.compile(pattern, self.flags) if pattern is not None else None
        self.field, self.mode = field, mode

    def required_fields(self) -> tuple[str, ...]:
        return () if self.pattern is not None else (self.field,)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        pat = self.pattern or re.compile(str(row.get(self.field)), self.flags)
        text = completion.strip() if self.mode == "fullmatch" else completion
        m = getattr(pat, self.mode)(text)
        if m:
            return VerifyResult(1.0, True, {"reason": "matches", "match": m.group(0)[:120]})
        return fail(f"does not {'fully ' if self.mode == 'fullmatch' else ''}match {pat.pattern[:80]!r}")
