"""Tool calls as text and as data: parsing a model's calls, rendering gold calls, normalising values.

The text form is the Hermes/Qwen one the tiny model's chat template renders and TRL's Qwen response
template parses: ``<tool_call>{"name": "lookup", "arguments": {"table": "price", "key": "apple"}}</tool_call>``,
one block per call (parallel calls are several blocks). Without blocks, a JSON call object or a JSON list
of them is accepted too (the xLAM ``answers`` form, OpenAI's ``{"function": {...}}`` form, ``arguments``
given as JSON text).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)


def tool_name(tool: dict) -> str | None:
    """A tool definition's name, in either the ``{"type": "function", "function": {...}}`` or the flat form."""
    fn = tool.get("function", tool) if isinstance(tool, dict) else None
    return fn.get("name") if isinstance(fn, dict) else None


def tool_function(tool: dict) -> dict:
    """The ``{"name", "description", "parameters"}`` part of a tool definition."""
    return tool.get("function", tool) if isinstance(tool.get("function"), dict) else tool


def as_call(obj: Any) -> dict | None:
    """``{"name": str, "arguments": dict}`` from one parsed JSON call object, or None when it is not one."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # OpenAI: {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(name, str) or not isinstance(args, dict):
        return None
    return {"name": name, "arguments": args}


def parse_calls(text: str) -> tuple[list[dict], list[str]]:
    """(calls, problems) for a completion: every ``<tool_call>`` block, else a JSON call or list of calls."""
    blocks = _BLOCK.findall(text)
    if blocks:
        calls, problems = [], []
        for i, body in enumerate(blocks, 1):
            try:
                call = as_call(json.loads(body.strip()))
            except json.JSONDecodeError as exc:
                problems.append(f"call {i} is not valid JSON ({exc.msg} at char {exc.pos})")
                continue
            if call is None:
                problems.append(f"call {i} has no string 'name' and object 'arguments'")
            else:
                calls.append(call)
        return calls, problems
    from halo_forge.verifiers.json_schema import extract_json

    found, value = extract_json(text)
    if not found:
        return [], ["no tool call found"]
    items = value if isinstance(value, list) else [value]
    calls = [as_call(v) for v in items]
    if not items or any(c is None for c in calls):
        return [c for c in calls if c], ["JSON found, but not a call object or a list of call objects"]
    return calls, []


def render_calls(calls: list[dict]) -> str:
    """The text a model writes for ``calls`` (what the tiny chat template renders for ``tool_calls``)."""
    return "".join("<tool_call>" + json.dumps({"name": c["name"], "arguments": c["arguments"]}, ensure_ascii=False)
                   + "</tool_call>" for c in calls)


def message_calls(calls: list[dict]) -> list[dict]:
    """Calls in a chat message's ``tool_calls`` form (arguments as JSON text: every row then has the same
    column types, which Arrow-backed datasets need; chat templates render them like a dict)."""
    return [{"type": "function", "function": {"name": c["name"],
                                              "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
            for c in calls]


def norm_text(value: str) -> str:
    """Case-folded, punctuation removed, whitespace collapsed: ``" New-York. "`` → ``"new york"``."""
    out = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in value.casefold())
    return " ".join(out.split())


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def values_match(pred: Any, gold: Any, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Equal after normalisation: numbers within tolerance, strings by :func:`norm_text`, lists in order,
    objects key by key."""
    if _number(pred) and _number(gold):
        return math.isclose(pred, gold, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(pred, str) and isinstance(gold, str):
        return norm_text(pred) == norm_text(gold)
    if isinstance(pred, list) and isinstance(gold, list):
        return len(pred) == len(gold) and all(values_match(p, g, rel_tol=rel_tol, abs_tol=abs_tol)
                                              for p, g in zip(pred, gold))
    if isinstance(pred, dict) and isinstance(gold, dict):
        return pred.keys() == gold.keys() and all(values_match(pred[k], gold[k], rel_tol=rel_tol, abs_tol=abs_tol)
                                                  for k in gold)
    return pred == gold


def calls_match(pred: dict, gold: dict, **tol) -> bool:
    return pred["name"] == gold["name"] and values_match(pred["arguments"], gold["arguments"], **tol)


def match_unordered(pred: list[dict], gold: list[dict], **tol) -> int:
    """How many gold calls a distinct predicted call matches (order ignored: a maximum bipartite matching)."""
    options = [[j for j, p in enumerate(pred) if calls_match(p, g, **tol)] for g in gold]
    owner: dict[int, int] = {}

    def assign(i: int, seen: set[int]) -> bool:
        for j in options[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or assign(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(assign(i, set()) for i in range(len(gold)))
