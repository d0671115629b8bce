"""Tool-use data: the built-in tool world (tools, tasks, gold calls, SFT traces) and row validation errors."""

from __future__ import annotations

import json

import pytest

from halo_forge.data import tool_sets, tool_world
from halo_forge.errors import DataError
from halo_forge.verifiers import get_verifier


def test_tools_are_pure_functions_with_valid_schemas():
    assert tool_world.calculate(7, 3, "subtract") == "4" and tool_world.calculate(9, 4, "divide") == "2.25"
    assert tool_world.convert(10, "km", "mi") == "6.21" and tool_world.convert(1, "gal", "l") == "3.79"
    assert tool_world.lookup("price", "Apple") == "1.25"
    with pytest.raises(ValueError, match="cannot convert length"):
        tool_world.convert(1, "km", "kg")
    with pytest.raises(KeyError):
        tool_world.lookup("price", "durian")
    assert tool_sets.check_tools(tool_world.TOOLS, "world") == tool_world.TOOLS


def test_tasks_deterministic_split_disjoint_and_gold_calls_verify():
    train, heldout = tool_world.tool_world_split(n=400, seed=0)
    again, _ = tool_world.tool_world_split(n=400, seed=0)
    assert train == again and len(train) + len(heldout) == 400
    assert not {r["prompt"][0]["content"] for r in train} & {r["prompt"][0]["content"] for r in heldout}
    assert {r["kind"] for r in train} == {"calc", "convert", "lookup", "parallel"}
    v = get_verifier("tool_call")
    for r in train[:50]:
        tool_sets.check_row(r, "world")
        from halo_forge.agentic.calls import render_calls

        assert v.verify(render_calls(r["gold_calls"]), r).passed
        assert r["answer"] == " and ".join(tool_world.run_calls(r["gold_calls"]))
    assert any(len(r["gold_calls"]) == 2 for r in train)  # parallel calls


def test_sloppy_teacher_and_sft_trace():
    train, _ = tool_world.tool_world_split(n=600)
    wrong = [r for r in train if tool_world.teacher_calls(r) != r["gold_calls"]]
    assert 0.25 < len(wrong) / len(train) < 0.55
    assert {c["name"] for r in wrong for c in r["gold_calls"]} <= {"convert", "calculate"}
    trace = tool_world.sft_trace(train[0])
    roles = [m["role"] for m in trace["messages"]]
    assert roles[0] == "user" and roles[1] == "assistant" and roles[-1] == "assistant" and "tool" in roles
    assert json.loads(trace["tools"]) == tool_world.TOOLS
    call = trace["messages"][1]["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == train[0]["gold_calls"][0]["arguments"]


def test_tool_arith_world_the_demo_s():
    train, heldout = tool_sets.load_tool_rows("tool_arith")[:2]
    assert (len(train), len(heldout)) == (3597, 403)  # distinct questions, held out by a hash of the question
    assert not {r["prompt"][0]["content"] for r in train} & {r["prompt"][0]["content"] for r in heldout}
    v = get_verifier("tool_call")
    from halo_forge.agentic.calls import render_calls

    for r in train[:40]:
        tool_sets.check_row(r, "arith")
        assert v.verify(render_calls(r["gold_calls"]), r).passed
        assert r["answer"] == tool_world.ARITH_FUNCTIONS[r["kind"]](**r["gold_calls"][0]["arguments"])
    wrong = [r for r in train if tool_world.teacher_calls(r) != r["gold_calls"]]
    assert {r["kind"] for r in wrong} == {"sub"} and 0.2 < len(wrong) / len(train) < 0.35  # swapped a and b
    trace = tool_world.sft_trace(wrong[0], tool_world.teacher_calls(wrong[0]), tools=tool_world.ARITH_FUNCTIONS)
    assert trace["messages"][-1]["content"].startswith("-")  # the swapped call really ran: a negative result


def _row(**over):
    base = {"prompt": "Price of an apple?", "tools": tool_world.TOOLS,
            "gold_calls": [{"name": "lookup", "arguments": {"table": "price", "key": "apple"}}]}
    return {**base, **over}


def test_rows_load_from_a_local_file(tmp_path):
    path = tmp_path / "tools.jsonl"
    rows = [_row(), _row(tools=json.dumps(tool_world.TOOLS), gold_calls=json.dumps(_row()["gold_calls"])),
            _row(prompt=[{"role": "user", "content": "Apple price?"}])] * 4
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    train, heldout, notes = tool_sets.load_tool_rows(data=path)
    assert len(train) + len(heldout) == 12 and notes == []
    assert all(isinstance(r["tools"], list) and r["prompt"][0]["role"] == "user" for r in train)


@pytest.mark.parametrize("row,message,fix", [
    (_row(tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "dict"}}}]),
     r"tools\.jsonl:2: tool 'lookup': 'parameters' is not valid JSON Schema: 'dict' is not valid", "fix the schema"),
    (_row(tools=[{"name": "lookup", "parameters": {"type": "object", "required": "key"}}]),
     r"tools\.jsonl:2: tool 'lookup': 'parameters' is not valid JSON Schema: 'key' is not of type 'array'",
     "'required' is a list"),
    (_row(gold_calls=[{"name": "lookup_price", "arguments": {}}]),
     r"tools\.jsonl:2: gold call 1 names tool 'lookup_price', which is not among the row's tools "
     r"\(calculate, convert, lookup\)", "add the tool"),
    (_row(tools="[{not json"), r"tools\.jsonl:2: column 'tools' is not valid JSON", "JSON list"),
    (_row(tools={"name": "lookup"}), r"tools\.jsonl:2: malformed 'tools' column: expected a non-empty list",
     "type"),
    (_row(tools=[{"description": "no name"}]), r"tools\.jsonl:2: malformed 'tools' column: tool 1 has no 'name'",
     "string 'name'"),
    (_row(gold_calls=[{"tool": "lookup"}]), r"tools\.jsonl:2: gold call 1 is not a call object", "arguments"),
    ({"prompt": "x", "tools": tool_world.TOOLS}, r"tools\.jsonl:2: tool row is missing 'gold_calls'", "gold_calls"),
])
def test_bad_rows_name_the_row_and_the_fix(tmp_path, row, message, fix):
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps(_row()) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as e:
        tool_sets.load_tool_rows(data=path)
    assert fix in e.value.hint


def test_hub_formatters_on_rows_in_their_published_shape():
    xlam = {"query": "Where is 8.8.8.8?", "answers": json.dumps([{"name": "ip_lookup", "arguments": {"ip": "8.8.8.8"}}]),
            "tools": json.dumps([{"name": "ip_lookup", "description": "Locate an IP.",
                                  "parameters": {"ip": {"description": "The IP.", "type": "str", "default": "1.1.1.1"},
                                                 "fields": {"description": "Which fields.", "type": "List[str]"}}}])}
    row = tool_sets.check_row(tool_sets.from_xlam(xlam, "x[0]"), "x[0]")
    params = row["tools"][0]["function"]["parameters"]
    assert params["properties"]["ip"]["type"] == "string" and params["properties"]["fields"]["type"] == "array"
    assert params["required"] == ["fields"]
    glaive = {"system": 'SYSTEM: You are a helpful assistant with access to the following functions. Use them if '
                        'required -\n{\n    "name": "get_news",\n    "parameters": {"type": "object", "properties": '
                        '{"country": {"type": "string"}}, "required": ["country"]}\n}',
              "chat": "USER: News from the US?\n\n\nASSISTANT: <functioncall> {\"name\": \"get_news\", \"arguments\": "
                      "'{\"country\": \"US\"}'} <|endoftext|>\n\n\nFUNCTION RESPONSE: {}\n\n\nASSISTANT: Done <|endoftext|>"}
    g = tool_sets.check_row(tool_sets.from_glaive(glaive, "g[0]"), "g[0]")
    assert g["gold_calls"] == [{"name": "get_news", "arguments": {"country": "US"}}]
    assert g["prompt"][0]["content"] == "News from the US?"
    assert tool_sets.from_glaive({"system": glaive["system"], "chat": "USER: hi\n\n\nASSISTANT: hello"}, "g") is None
    hermes = {"conversations": [
        {"from": "system", "value": "You are a function calling AI model. <tools> [{'type': 'function', 'function': "
                                    "{'name': 'get_stock', 'parameters': {'type': 'object', 'properties': {'symbol': "
                                    "{'type': 'string'}}, 'required': ['symbol']}}}] </tools>"},
        {"from": "human", "value": "Price of AAPL?"},
        {"from": "gpt", "value": "<tool_call>\n{'arguments': {'symbol': 'AAPL'}, 'name': 'get_stock'}\n</tool_call>"}]}
    h = tool_sets.check_row(tool_sets.from_hermes(hermes, "h[0]"), "h[0]")
    assert h["gold_calls"] == [{"name": "get_stock", "arguments": {"symbol": "AAPL"}}]
    assert set(tool_sets.TOOL_DATASETS) == {"tool_world", "tool_arith", "xlam", "glaive", "hermes"}
    assert tool_sets.TOOL_DATASETS["xlam"].source == "Salesforce/xlam-function-calling-60k"


def test_traces_of_rows_whose_tools_cannot_run_end_after_the_calls():
    row = tool_sets.check_row(_row(tools=[{"name": "ip_lookup", "parameters": {"type": "object", "properties": {
        "ip": {"type": "string"}}}}], gold_calls=[{"name": "ip_lookup", "arguments": {"ip": "8.8.8.8"}}]), "x")
    trace = tool_world.sft_trace(row)
    assert [m["role"] for m in trace["messages"]] == ["user", "assistant"]
    assert json.loads(trace["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"ip": "8.8.8.8"}
    custom = tool_world.sft_trace(row, tools={"ip_lookup": lambda ip: "Mountain View"})
    assert [m["content"] for m in custom["messages"][2:]] == ["Mountain View", "Mountain View"]
