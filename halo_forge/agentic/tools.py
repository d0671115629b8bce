"""Executable tools: a JSON-schema definition that is also callable.

A :class:`Tool` *is* its definition (a dict: what chat templates render with ``tools=``) and calling it runs
the implementation. That one object goes everywhere a tool does: ``apply_chat_template(tools=...)``, TRL's
``GRPOTrainer(tools=...)`` (which calls tools by ``__name__`` with the parsed arguments and feeds the result
back as a ``tool`` turn) and our own rollout loop. Implementations come from:

- the built-in tool world (:func:`world_tools`): pure Python functions, run in this process;
- a plugin (:func:`plugin_tool`, ``"package.module:function"``): a pure Python function, run in this process;
  its definition is the function's ``tool_definition`` attribute or transformers' ``get_json_schema``;
- the dataset (:func:`code_tool`): Python source in the tool definition's ``code`` field, untrusted, so it runs
  only in the sandbox (halo_forge.verifiers.sandbox), one process per call, arguments in on stdin as JSON.
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Callable

from halo_forge.errors import DataError

_RUNNER = """
import json, sys
__args = json.loads(sys.stdin.read())
__result = {name}(**__args)
sys.stdout.write(json.dumps(__result if isinstance(__result, (str, int, float, bool)) else str(__result)))
"""


class Tool(dict):
    """A tool definition (``{"type": "function", "function": {...}}``) that runs its implementation when called."""

    def __init__(self, definition: dict, fn: Callable[..., Any]) -> None:
        fn_def = definition.get("function", definition)
        super().__init__({"type": "function", "function": dict(fn_def)} if "function" not in definition else definition)
        self.fn = fn
        self.__name__ = fn_def["name"]

    def __call__(self, **arguments) -> str:
        return str(self.fn(**arguments))

    def __hash__(self) -> int:  # TRL keeps tools in lists and compares by identity
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other


def world_tools(world: str = "tool_world") -> list[Tool]:
    """A built-in world's tools: ``tool_world``'s calculator, unit converter and lookup table, or
    ``tool_arith``'s ``add`` and ``sub``."""
    from halo_forge.data import tool_world as w

    defs, fns = (w.ARITH_TOOLS, w.ARITH_FUNCTIONS) if world == "tool_arith" else (w.TOOLS, w.FUNCTIONS)
    return [Tool(d, fns[d["function"]["name"]]) for d in defs]


def plugin_tool(spec: str) -> Tool:
    """``"package.module:function"`` → a Tool running that function in this process."""
    module, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DataError(f"tool plugin {spec!r} cannot be imported: {exc}",
                        hint="give 'package.module:function' of an installed module") from None
    definition = getattr(fn, "tool_definition", None)
    if definition is None:
        from transformers.utils import get_json_schema

        try:
            definition = get_json_schema(fn)
        except Exception as exc:  # transformers raises its own DocstringParsingException / TypeHintParsingException
            raise DataError(f"tool plugin {spec!r}: no JSON schema ({exc})",
                            hint="give the function type hints and a Google-style docstring, or a "
                                 "`tool_definition` attribute holding its JSON-schema definition") from None
    return Tool(definition, fn)


def code_tool(definition: dict, *, unsafe: bool = False, timeout: float = 5.0) -> Tool:
    """A tool whose implementation is Python source (``definition["function"]["code"]`` or ``definition["code"]``)
    defining a function of the tool's name; every call runs in the sandbox."""

    from halo_forge.verifiers.sandbox import Limits, get_sandbox

    fn_def = definition.get("function", definition)
    name, code = fn_def["name"], fn_def.get("code", definition.get("code"))
    if not isinstance(code, str) or not code.strip():
        raise DataError(f"tool {name!r} has no 'code' to run", hint="give its Python source in the 'code' field")
    sandbox = get_sandbox(unsafe, Limits(wall_seconds=timeout, cpu_seconds=max(1, round(timeout))))
    program = code + "\n" + _RUNNER.format(name=name)

    def run(**arguments):
        res = sandbox.run([*sandbox.python_argv, "tool.py"], files={"tool.py": program},
                          stdin=json.dumps(arguments))
        if res.returncode != 0:
            tail = res.text("stderr").strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
            raise RuntimeError(f"{name} failed: {tail[0][:200]}")
        return json.loads(res.text("stdout"))

    clean = {k: v for k, v in fn_def.items() if k != "code"}
    return Tool({"type": "function", "function": clean}, run)


def dataset_tools(rows: list[dict], *, unsafe: bool = False) -> list[Tool]:
    """One sandboxed Tool per distinct tool name with ``code`` among the rows' tools (others are call-only)."""
    seen: dict[str, Tool] = {}
    for row in rows:
        for t in row.get("tools") or []:
            fn_def = t.get("function", t)
            if fn_def["name"] not in seen and (fn_def.get("code") or t.get("code")):
                seen[fn_def["name"]] = code_tool(t, unsafe=unsafe)
    return list(seen.values())


def definitions(tools: list) -> list[dict]:
    """Plain definitions (for JSON and Arrow columns): a Tool's dict without the callable."""
    return [json.loads(json.dumps(dict(t))) for t in tools]
