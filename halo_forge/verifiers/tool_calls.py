"""``tool_call``: a graded score for a completion's tool calls against the row's tools and gold calls.

Five checks, each worth 1/5 of the reward (a check over several calls scores the fraction that pass):

1. ``parse``: every ``<tool_call>`` block (or the JSON call / list of calls) parses;
2. ``exists``: the function is one of the row's ``tools``;
3. ``arguments``: the required arguments are present and none is unexpected;
4. ``types``: each argument validates against its JSON-schema property (jsonschema: types, enums, ranges);
5. ``values``: the calls equal the gold calls after normalisation (strings case- and punctuation-
   normalised, numbers within ``rel_tol``/``abs_tol``), compared without order (parallel calls), extra or
   missing calls counting against: matched / max(predicted, gold).

``passed`` means all five are full. ``details`` holds ``checks`` (score per check) and ``failures`` (one
reason per failed call check, e.g. ``"call 1 lookup: missing required argument 'key'"``), what the run
summary's call-check breakdown is counted from.
"""

from __future__ import annotations

import json
from typing import Any

from halo_forge.verifiers.base import Verifier, VerifyResult, register_verifier

CHECKS = ("parse", "exists", "arguments", "types", "values")


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        raise ValueError(f"row field {what!r} must be a list (or JSON text of one), got {type(value).__name__}")
    return value


def _argument_problems(call: dict, params: dict) -> list[str]:
    props = params.get("properties") or {}
    missing = [k for k in params.get("required") or [] if k not in call["arguments"]]
    extra = [k for k in call["arguments"] if k not in props]
    return ([f"missing required argument {k!r}" for k in missing] +
            [f"unexpected argument {k!r}" for k in extra])


def _type_problems(call: dict, params: dict) -> list[str]:
    import jsonschema

    out = []
    for key, value in call["arguments"].items():
        prop = (params.get("properties") or {}).get(key)
        if prop is None:
            continue  # reported by the arguments check
        cls = jsonschema.validators.validator_for(prop)
        err = next(iter(cls(prop).iter_errors(value)), None)
        if err is not None:
            out.append(f"argument {key!r}: {err.message[:120]}")
    return out


@register_verifier("tool_call")
class ToolCallVerifier(Verifier):
    """Graded tool-call check: parses, function exists, arguments, JSON-schema types, values (unordered)."""

    requires = ("tools", "gold_calls")

    def __init__(self, *, tools_field: str = "tools", gold_field: str = "gold_calls", rel_tol: float = 1e-6,
                 abs_tol: float = 1e-6) -> None:
        self.tools_field, self.gold_field = tools_field, gold_field
        self.tol = {"rel_tol": float(rel_tol), "abs_tol": float(abs_tol)}
        self.workers = 1  # pure Python, microseconds per call

    def required_fields(self) -> tuple[str, ...]:
        return (self.tools_field, self.gold_field)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        from halo_forge.agentic.calls import as_call, match_unordered, parse_calls, tool_function

        tools = {tool_function(t)["name"]: tool_function(t).get("parameters") or {}
                 for t in _as_list(row[self.tools_field], self.tools_field)}
        gold = [as_call(c) for c in _as_list(row[self.gold_field], self.gold_field)]
        calls, parse_problems = parse_calls(completion)
        if not gold and not calls and parse_problems == ["no tool call found"]:
            return VerifyResult(1.0, True, {"reason": "no call expected, none made",
                                            "checks": dict.fromkeys(CHECKS, 1.0), "failures": [], "calls": 0})
        failures = list(parse_problems)
        n_blocks = len(calls) + sum(p.startswith("call ") for p in parse_problems)
        checks = dict.fromkeys(CHECKS, 0.0)
        if calls:
            checks["parse"] = len(calls) / max(n_blocks, 1)
            known = [c for c in calls if c["name"] in tools]
            checks["exists"] = len(known) / len(calls)
            failures += [f"call {i} {c['name']}: no such tool (tools: {', '.join(tools)})"
                         for i, c in enumerate(calls, 1) if c["name"] not in tools]
            for check, problems_of in (("arguments", _argument_problems), ("types", _type_problems)):
                bad = 0
                for i, c in enumerate(calls, 1):
                    problems = problems_of(c, tools[c["name"]]) if c["name"] in tools else ["no such tool"]
                    bad += bool(problems)
                    failures += [f"call {i} {c['name']}: {p}" for p in problems if p != "no such tool"]
                checks[check] = 1 - bad / len(calls)
            matched = match_unordered(calls, gold, **self.tol)
            checks["values"] = matched / max(len(calls), len(gold))
            if checks["values"] < 1:
                failures.append(f"values: {matched} of {len(gold)} gold call(s) matched by {len(calls)} call(s)")
        reward = sum(checks.values()) / len(CHECKS)
        passed = all(v == 1.0 for v in checks.values())
        details = {"reason": "calls match" if passed else failures[0], "checks": checks, "failures": failures,
                   "calls": len(calls)}
        return VerifyResult(reward, passed, details)
