"""The built-in tool world (offline, deterministic from a seed): three tools as pure Python functions with
JSON-schema definitions, and generated tasks with gold calls.

Tools: ``calculate(a, b, operation)``, ``convert(value, from_unit, to_unit)``, ``lookup(table, key)``.
Task kinds: ``calc``, ``convert`` and ``lookup`` (one call), ``parallel`` (two lookups or two conversions in
one turn). Every task is also an episode: the tool results feed the final answer (``answer``: the result,
or both results joined by " and ").

Rows: ``{"prompt": [user turn], "tools": [definitions], "gold_calls": [{"name", "arguments"}], "answer",
"kind"}``. :func:`sft_trace` turns a row into the chat SFT trains on (``tool_calls`` and ``tool`` turns,
results from really calling the tools).

The SFT traces come from a *sloppy teacher* (the flaw leaves headroom for GRPO/RAFT, as in the
quickstart): on ``SLOPPY_RATE`` (60 %) of the ``convert`` calls it swaps ``from_unit`` and ``to_unit``, and
on 60 % of the ``subtract`` calls it swaps ``a`` and ``b`` (about 43 % of the traces hold a wrong call; a
model copying the habit greedily gets those calls wrong every time). Gold calls are always right.
"""

from __future__ import annotations

import json
import random

from halo_forge.data.generated import distinct_split, unit as _unit

SLOPPY_RATE = 0.6
HELDOUT_FRACTION = 0.1


def _fmt(x: float) -> int | float:
    x = round(float(x), 2)
    return int(x) if x == int(x) else x


def calculate(a: float, b: float, operation: str) -> str:
    """Apply an arithmetic operation to two numbers."""
    ops = {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b if b else None}
    if operation not in ops:
        raise ValueError(f"unknown operation {operation!r}; use one of {', '.join(ops)}")
    if ops[operation] is None:
        raise ValueError("division by zero")
    return str(_fmt(ops[operation]))


_UNITS = {  # unit -> (dimension, factor to the base unit)
    "km": ("length", 1000.0), "mi": ("length", 1609.344), "m": ("length", 1.0), "ft": ("length", 0.3048),
    "kg": ("mass", 1.0), "lb": ("mass", 0.45359237), "l": ("volume", 1.0), "gal": ("volume", 3.785411784),
}


def convert(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a quantity between units of length (km, mi, m, ft), mass (kg, lb) or volume (l, gal)."""
    for u in (from_unit, to_unit):
        if u not in _UNITS:
            raise ValueError(f"unknown unit {u!r}; use one of {', '.join(_UNITS)}")
    (dim_a, fa), (dim_b, fb) = _UNITS[from_unit], _UNITS[to_unit]
    if dim_a != dim_b:
        raise ValueError(f"cannot convert {dim_a} ({from_unit}) to {dim_b} ({to_unit})")
    return str(_fmt(value * fa / fb))


TABLES = {
    "price": {"apple": 1.25, "banana": 0.5, "cherry": 4, "grape": 2.75, "kiwi": 0.75, "lemon": 0.6, "mango": 1.8,
              "pear": 0.9, "plum": 0.4, "peach": 1.1},
    "calories": {"apple": 95, "banana": 105, "cherry": 4, "grape": 3, "kiwi": 42, "lemon": 17, "mango": 200,
                 "pear": 100, "plum": 30, "peach": 59},
}


def lookup(table: str, key: str) -> str:
    """Look up a fruit's price or calories in a table."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; use one of {', '.join(TABLES)}")
    k = key.strip().lower()
    if k not in TABLES[table]:
        raise KeyError(f"{key!r} is not in table {table!r}")
    return str(TABLES[table][k])


FUNCTIONS = {"calculate": calculate, "convert": convert, "lookup": lookup}

TOOLS = [
    {"type": "function", "function": {
        "name": "calculate", "description": calculate.__doc__,
        "parameters": {"type": "object", "properties": {
            "a": {"type": "number", "description": "The first number."},
            "b": {"type": "number", "description": "The second number."},
            "operation": {"type": "string", "enum": ["add", "subtract", "multiply", "divide"],
                          "description": "What to do with a and b."}},
            "required": ["a", "b", "operation"]}}},
    {"type": "function", "function": {
        "name": "convert", "description": convert.__doc__,
        "parameters": {"type": "object", "properties": {
            "value": {"type": "number", "description": "The quantity to convert."},
            "from_unit": {"type": "string", "enum": list(_UNITS), "description": "The unit of value."},
            "to_unit": {"type": "string", "enum": list(_UNITS), "description": "The unit wanted."}},
            "required": ["value", "from_unit", "to_unit"]}}},
    {"type": "function", "function": {
        "name": "lookup", "description": lookup.__doc__,
        "parameters": {"type": "object", "properties": {
            "table": {"type": "string", "enum": list(TABLES), "description": "Which table."},
            "key": {"type": "string", "description": "The fruit to look up."}},
            "required": ["table", "key"]}}},
]

_UNIT_WORDS = {"km": "kilometres", "mi": "miles", "m": "metres", "ft": "feet", "kg": "kilograms", "lb": "pounds",
               "l": "litres", "gal": "gallons"}
_PAIRS = [("km", "mi"), ("mi", "km"), ("m", "ft"), ("ft", "m"), ("kg", "lb"), ("lb", "kg"), ("l", "gal"),
          ("gal", "l")]
_OP_WORDS = {"add": "plus", "subtract": "minus", "multiply": "times", "divide": "divided by"}


def _call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def _calc(rng: random.Random) -> tuple[str, list[dict]]:
    op = rng.choice(list(_OP_WORDS))
    b = rng.randint(2, 12)
    a = b * rng.randint(2, 12) if op == "divide" else rng.randint(2, 99)
    return f"What is {a} {_OP_WORDS[op]} {b}?", [_call("calculate", a=a, b=b, operation=op)]


def _convert(rng: random.Random) -> tuple[str, list[dict]]:
    src, dst = rng.choice(_PAIRS)
    v = rng.randint(1, 50)
    return (f"How many {_UNIT_WORDS[dst]} is {v} {_UNIT_WORDS[src]}?",
            [_call("convert", value=v, from_unit=src, to_unit=dst)])


def _lookup(rng: random.Random) -> tuple[str, list[dict]]:
    table, fruit = rng.choice(list(TABLES)), rng.choice(sorted(TABLES["price"]))
    shown = fruit.capitalize() if rng.random() < 0.3 else fruit  # the key is case-normalised when checked
    q = f"How much does a {shown} cost?" if table == "price" else f"How many calories are in a {shown}?"
    return q, [_call("lookup", table=table, key=fruit)]


def _parallel(rng: random.Random) -> tuple[str, list[dict]]:
    if rng.random() < 0.5:
        table = rng.choice(list(TABLES))
        f1, f2 = rng.sample(sorted(TABLES["price"]), 2)
        what = "cost" if table == "price" else "calories"
        return (f"Give the {what} of a {f1} and of a {f2}.",
                [_call("lookup", table=table, key=f1), _call("lookup", table=table, key=f2)])
    (s1, d1), (s2, d2) = rng.sample(_PAIRS, 2)
    v1, v2 = rng.randint(1, 50), rng.randint(1, 50)
    return (f"Convert {v1} {_UNIT_WORDS[s1]} to {_UNIT_WORDS[d1]} and {v2} {_UNIT_WORDS[s2]} to {_UNIT_WORDS[d2]}.",
            [_call("convert", value=v1, from_unit=s1, to_unit=d1),
             _call("convert", value=v2, from_unit=s2, to_unit=d2)])


KINDS = {"calc": _calc, "convert": _convert, "lookup": _lookup, "parallel": _parallel}


def run_calls(calls: list[dict]) -> list[str]:
    """The tool results of ``calls`` (each raises on bad arguments, as the tools do)."""
    return [FUNCTIONS[c["name"]](**c["arguments"]) for c in calls]


def task(index: int, seed: int = 0) -> dict:
    rng = random.Random(f"tools:{seed}:{index}")
    kind = rng.choice(list(KINDS))
    q, gold = KINDS[kind](rng)
    return {"prompt": [{"role": "user", "content": q}], "tools": TOOLS, "gold_calls": gold,
            "answer": " and ".join(run_calls(gold)), "kind": kind}


def teacher_calls(row: dict, seed: int = 0) -> list[dict]:
    """The sloppy teacher's calls for ``row``: the gold calls, with its two habitual slips."""
    out = []
    for i, c in enumerate(row["gold_calls"]):
        args = dict(c["arguments"])
        slip = _unit(f"teacher:{seed}:{row['prompt'][0]['content']}:{i}") < SLOPPY_RATE
        if slip and c["name"] == "convert":
            args["from_unit"], args["to_unit"] = args["to_unit"], args["from_unit"]
        elif slip and (c["name"] == "sub" or (c["name"] == "calculate" and args["operation"] == "subtract")):
            args["a"], args["b"] = args["b"], args["a"]
        out.append({"name": c["name"], "arguments": args})
    return out


def sft_trace(row: dict, calls: list[dict] | None = None, tools: dict | None = None) -> dict:
    """The chat SFT trains on (``tools`` as JSON text, as TRL's SFTTrainer reads it): user → assistant
    ``tool_calls`` → ``tool`` results (the calls really run, with ``tools``: name → callable, default this
    world's) → assistant final answer. When a call's tool has no implementation (hub sets), the trace ends
    after the calls: user → assistant ``tool_calls``."""
    from halo_forge.agentic.calls import message_calls

    calls = row["gold_calls"] if calls is None else calls
    tools = FUNCTIONS if tools is None else tools
    messages = list(row["prompt"]) + [{"role": "assistant", "content": "", "tool_calls": message_calls(calls)}]
    if all(c["name"] in tools for c in calls):
        results = [str(tools[c["name"]](**c["arguments"])) for c in calls]
        messages += [{"role": "tool", "name": c["name"], "content": r} for c, r in zip(calls, results)]
        messages.append({"role": "assistant", "content": " and ".join(results)})
    return {"messages": messages, "tools": json.dumps(row["tools"])}


def tool_world_split(n: int = 3000, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) tasks with distinct questions; held out by a hash of the question."""
    return distinct_split(lambda i: task(i, seed), n, HELDOUT_FRACTION)


# ------------------------------------------------------------------ tool_arith: the demo's small world
def add(a: int, b: int) -> str:
    """a+b"""
    return str(a + b)


def sub(a: int, b: int) -> str:
    """a-b"""
    return str(a - b)


ARITH_FUNCTIONS = {"add": add, "sub": sub}
_INT_PAIR = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
             "required": ["a", "b"]}
ARITH_TOOLS = [{"type": "function", "function": {"name": n, "description": f.__doc__, "parameters": _INT_PAIR}}
               for n, f in ARITH_FUNCTIONS.items()]


def arith_task(index: int, seed: int = 0) -> dict:
    """``tool_arith``: "47-12?" → ``sub(a=47, b=12)`` (two-digit numbers, a > b for a subtraction)."""
    rng = random.Random(f"arith:{seed}:{index}")
    name, a, b = rng.choice(list(ARITH_FUNCTIONS)), rng.randint(10, 99), rng.randint(10, 99)
    if name == "sub" and a <= b:
        a, b = b + 1, a
    gold = [_call(name, a=a, b=b)]
    return {"prompt": [{"role": "user", "content": f"{a}{'+' if name == 'add' else '-'}{b}?"}], "tools": ARITH_TOOLS,
            "gold_calls": gold, "answer": ARITH_FUNCTIONS[name](a, b), "kind": name}


def tool_arith_split(n: int = 4000, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, held-out) ``tool_arith`` tasks with distinct questions; held out by a hash of the question."""
    return distinct_split(lambda i: arith_task(i, seed), n, HELDOUT_FRACTION)
