"""Tool-use data: validated rows of tools + gold calls, from the built-in tool world, a local file or the hub.

Canonical row: ``{"prompt": [chat turns], "tools": [{"type": "function", "function": {"name", "description",
"parameters": <JSON Schema>}}], "gold_calls": [{"name", "arguments"}], "answer"?: str}``. A local file gives
those columns (``tools`` and ``gold_calls`` may be JSON text). Every row is checked before anything trains:

- ``tools`` must be a list of tool objects with a ``name`` (else: a malformed ``tools`` column);
- each tool's ``parameters`` must be valid JSON Schema (jsonschema's meta-schema check);
- each gold call must be ``{"name", "arguments"}`` and name one of the row's tools.

Each problem is a :class:`~halo_forge.errors.DataError` naming the row (file:line or hub[row i]) and the fix.
Short names (`TOOL_DATASETS`): ``tool_world`` and ``tool_arith`` (built-in, offline) and the hub sets xlam,
glaive, hermes.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from halo_forge.data.registry import DatasetSpec
from halo_forge.errors import DataError

HELDOUT_FRACTION = 0.1


def _loads(value: Any, where: str, column: str) -> Any:
    """JSON text (or a Python literal, as some hub sets write) → value; other values pass through."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DataError(f"{where}: column {column!r} is not valid JSON ({exc.msg} at char {exc.pos})",
                            hint=f"write {column} as a JSON list (or JSON text of one)") from None


def check_tools(tools: Any, where: str) -> list[dict]:
    """The row's tools in the ``{"type": "function", "function": {...}}`` form, each schema meta-checked."""
    import jsonschema

    tools = _loads(tools, where, "tools")
    if not isinstance(tools, list) or not tools:
        raise DataError(f"{where}: malformed 'tools' column: expected a non-empty list of tool objects, got "
                        f"{type(tools).__name__}",
                        hint='write tools as [{"type": "function", "function": {"name": ..., "parameters": {...}}}]')
    out = []
    for i, tool in enumerate(tools, 1):
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise DataError(f"{where}: malformed 'tools' column: tool {i} has no 'name'",
                            hint="every tool needs a string 'name' (and 'parameters', a JSON Schema)")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        try:
            jsonschema.validators.validator_for(params).check_schema(params)
        except jsonschema.SchemaError as exc:
            at = "/".join(map(str, exc.path)) or "(root)"
            raise DataError(f"{where}: tool {fn['name']!r}: 'parameters' is not valid JSON Schema: "
                            f"{exc.message[:160]} (at {at})",
                            hint="fix the schema: types are string, number, integer, boolean, array, object, null; "
                                 "'required' is a list of property names") from None
        out.append({"type": "function", "function": {**fn, "parameters": params}})
    return out


def check_gold_calls(calls: Any, tools: list[dict], where: str) -> list[dict]:
    from halo_forge.agentic.calls import as_call

    calls = _loads(calls, where, "gold_calls")
    if not isinstance(calls, list):
        raise DataError(f"{where}: 'gold_calls' must be a list of calls, got {type(calls).__name__}",
                        hint='write gold_calls as [{"name": ..., "arguments": {...}}]')
    names = [t["function"]["name"] for t in tools]
    out = []
    for i, raw in enumerate(calls, 1):
        call = as_call(raw)
        if call is None:
            raise DataError(f"{where}: gold call {i} is not a call object ({str(raw)[:80]})",
                            hint='write each call as {"name": ..., "arguments": {...}}')
        if call["name"] not in names:
            raise DataError(f"{where}: gold call {i} names tool {call['name']!r}, which is not among the row's "
                            f"tools ({', '.join(names)})",
                            hint="fix the call's name, or add the tool to the row's 'tools'")
        out.append(call)
    return out


def check_row(row: Any, where: str) -> dict:
    """A canonical, validated tool row (see the module doc for what is checked)."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per row, got {type(row).__name__}")
    missing = [c for c in ("prompt", "tools", "gold_calls") if c not in row]
    if missing:
        raise DataError(f"{where}: tool row is missing {', '.join(map(repr, missing))} "
                        f"(found: {', '.join(sorted(row))})",
                        hint="each row needs prompt (text or chat list), tools and gold_calls")
    prompt = row["prompt"]
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    tools = check_tools(row["tools"], where)
    out = {**row, "prompt": prompt, "tools": tools, "gold_calls": check_gold_calls(row["gold_calls"], tools, where)}
    if row.get("answer") is not None:
        out["answer"] = str(row["answer"])
    return out


# ------------------------------------------------------------------ hub formatters
_XLAM_TYPES = {"str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
               "number": "number", "bool": "boolean", "boolean": "boolean", "list": "array", "dict": "object"}


def _xlam_parameters(params: dict) -> dict:
    """xLAM's ``{"p": {"type": "str, optional", "description", "default"}}`` → a JSON Schema object."""
    props, required = {}, []
    for name, spec in (params or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        raw = str(spec.get("type", "")).strip()
        base = raw.split(",")[0].strip().split("[")[0].lower()
        prop = {"description": str(spec.get("description", ""))}
        if base in _XLAM_TYPES:
            prop["type"] = _XLAM_TYPES[base]
        props[name] = prop
        if "optional" not in raw.lower() and "default" not in spec:
            required.append(name)
    return {"type": "object", "properties": props, "required": required}


def from_xlam(row: dict, where: str) -> dict:
    tools = [{"type": "function", "function": {"name": t.get("name"), "description": t.get("description", ""),
                                               "parameters": _xlam_parameters(t.get("parameters"))}}
             for t in _loads(row["tools"], where, "tools")]
    return {"prompt": [{"role": "user", "content": str(row["query"])}], "tools": tools,
            "gold_calls": _loads(row["answers"], where, "answers")}


_GLAIVE_CALL = re.compile(r"<functioncall>\s*(\{.*?\})\s*(?:<\|endoftext\|>|$)", re.S)


def _json_objects(text: str) -> list:
    dec, out, i = json.JSONDecoder(), [], text.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        out.append(obj)
        i = text.find("{", end)
    return out


def from_glaive(row: dict, where: str) -> dict | None:
    """Glaive v2: functions as JSON objects in ``system``; the first ``<functioncall>`` of ``chat`` is the gold
    call (its ``arguments`` is single-quoted JSON text). Chats without a call give None (no call to learn)."""
    tools = [{"type": "function", "function": f} for f in _json_objects(str(row.get("system", "")))]
    chat = str(row["chat"])
    m = _GLAIVE_CALL.search(chat)
    if m is None or not tools:
        return None
    body = re.sub(r"'(\{.*\})'", r"\1", m.group(1), flags=re.S)
    user = chat.split("ASSISTANT:")[0].replace("USER:", "").strip()
    return {"prompt": [{"role": "user", "content": user}], "tools": tools, "gold_calls": [_loads(body, where, "chat")]}


_HERMES_TOOLS = re.compile(r"<tools>(.*?)</tools>", re.S)
_HERMES_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


def from_hermes(row: dict, where: str) -> dict | None:
    """Hermes function calling v1: tools in the system turn's ``<tools>…</tools>`` (or a ``tools`` column),
    gold calls in the first assistant turn's ``<tool_call>`` blocks (JSON or Python-literal dicts)."""
    turns = row["conversations"]
    system = next((t["value"] for t in turns if t.get("from") == "system"), "")
    found = _HERMES_TOOLS.search(system)
    tools = row.get("tools") or (found.group(1).strip() if found else None)
    user = next((t["value"] for t in turns if t.get("from") == "human"), None)
    reply = next((t["value"] for t in turns if t.get("from") == "gpt"), "")
    calls = [_loads(b.strip(), where, "conversations") for b in _HERMES_CALL.findall(reply)]
    if tools is None or user is None or not calls:
        return None
    return {"prompt": [{"role": "user", "content": str(user)}], "tools": tools, "gold_calls": calls}


TOOL_DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("tool_world", "builtin", "Built-in, offline: calculator, unit converter and lookup table; single, "
                "parallel and answer-after-result tasks with gold calls; sloppy-teacher SFT traces."),
    DatasetSpec("tool_arith", "builtin", "Built-in, offline, the agentic demo's: add(a,b) and sub(a,b) called "
                "from '47-12?'; sloppy-teacher SFT traces swap a subtraction's operands 60 % of the time."),
    DatasetSpec("xlam", "Salesforce/xlam-function-calling-60k", "60k verified single/parallel calls; xLAM "
                "parameter specs converted to JSON Schema.", from_xlam),
    DatasetSpec("glaive", "glaiveai/glaive-function-calling-v2", "Function-calling chats; the first "
                "<functioncall> is the gold call (chats without one are skipped).", from_glaive),
    DatasetSpec("hermes", "NousResearch/hermes-function-calling-v1", "Hermes single-turn calls; tools from "
                "<tools>, gold calls from <tool_call>.", from_hermes, config="func_calling_singleturn"),
]}


def load_tool_rows(name: str | None = None, *, data: str | Path | None = None, seed: int = 0,
                   heldout_fraction: float = HELDOUT_FRACTION) -> tuple[list[dict], list[dict], list[str]]:
    """(train, held-out, notes) validated tool rows from a short name, a hub id or a local file (``data``)."""
    from halo_forge.data import loaders, registry, split_rows

    notes: list[str] = []
    if data is not None:
        path = Path(data)
        raw, where = loaders.read_local(path), loaders.row_locator(path)
        formatter, source = (lambda r, w: r), str(path)
    else:
        spec = registry.get_spec(name or "tool_world", TOOL_DATASETS, "agentic")
        if spec is not None and spec.source == "builtin":
            from halo_forge.data import tool_world

            split = tool_world.tool_arith_split if spec.name == "tool_arith" else tool_world.tool_world_split
            train, heldout = split(seed=seed)
            return train, heldout, notes
        source = spec.source if spec else str(name)
        raw = loaders.load_hub(source, spec.config if spec else None, spec.split if spec else "train")
        where = lambda i: f"{source}[row {i}]"  # noqa: E731
        formatter = spec.formatter if spec and spec.formatter else (lambda r, w: r)
    if not raw:
        raise DataError(f"{source}: the dataset holds no rows", hint="one object per row: prompt, tools, gold_calls")
    rows = []
    for i, r in enumerate(raw):
        formatted = formatter(r, where(i))
        if formatted is not None:
            rows.append(check_row(formatted, where(i)))
    if len(rows) < len(raw):
        notes.append(f"{len(raw) - len(rows)} of {len(raw)} rows hold no tool call and were skipped")
    train, heldout = split_rows(rows, heldout_fraction, seed)
    return train, heldout, notes


def load_tool_data(config):
    """`SplitData` of validated tool rows for an agentic config (--dataset or --data, --eval-split for sets
    without a held-out split, --max-samples, --max-eval-samples)."""
    from halo_forge.data import SplitData, registry

    train, heldout, notes = load_tool_rows(config.dataset, data=config.data, seed=config.seed,
                                           heldout_fraction=config.eval_split)
    if config.data is not None:
        source = str(config.data)
    else:
        spec = registry.get_spec(config.dataset or "tool_world", TOOL_DATASETS, "agentic")
        source = f"builtin:{spec.name}" if spec is not None and spec.source == "builtin" else \
            (spec.source if spec else str(config.dataset))
    if config.max_samples is not None and len(train) > config.max_samples:
        train = train[: config.max_samples]
        notes.append(f"training on the first {config.max_samples} tool rows (--max-samples)")
    return SplitData(train=train, heldout=heldout[: config.max_eval_samples], source=source, format="tools",
                     notes=notes)
