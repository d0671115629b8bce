"""Row formats, registry formatters, local-file auto-detection, deterministic splits, answer matching.

Rows are built here in the shape the real datasets have (column names and value styles copied
from the hub datasets the registry names), so no download is needed.
"""

from __future__ import annotations

import json

import pytest

from halo_forge.config import build_config
from halo_forge.data import builtin, formats, load_sft_data, registry, rows_digest, split_rows
from halo_forge.data.formats import answers_match, final_answer
from halo_forge.errors import DataError
from halo_forge.sft.config import SFTConfig

REGISTRY_NAMES = ["codealpaca", "code_instructions_122k", "python_instructions", "metamath", "gsm8k_sft",
                  "llava", "xlam_sft", "glaive_sft", "arithmetic"]

# --- rows shaped like the real datasets -----------------------------------------------------------

CODEALPACA_WITH_INPUT = {
    "instruction": "Create a function to calculate the sum of a sequence of integers.",
    "input": "[1, 2, 3, 4, 5]",
    "output": "# Python code\ndef sum_sequence(sequence):\n  sum = 0\n  for num in sequence:\n"
              "    sum += num\n  return sum",
}
CODEALPACA_NO_INPUT = {
    "instruction": "Generate a Python code for crawling a website for a specific type of data.",
    "input": "",
    "output": "import requests\nimport re\n\ndef crawl_website_for_phone_numbers(website):\n    ...",
}
# python_code_instructions_18k_alpaca also ships a pre-rendered `prompt` column (no `completion`).
PYTHON_INSTRUCTIONS = {
    "instruction": "Write a function to calculate the sum of the items in a list.",
    "input": "list = [1, 2, 3]",
    "output": "def sum_list(lst):\n    return sum(lst)",
    "prompt": "Below is an instruction that describes a task. Write a response that appropriately completes "
              "the request.\n\n### Instruction:\nWrite a function to calculate the sum of the items in a "
              "list.\n\n### Input:\nlist = [1, 2, 3]\n\n### Output:\ndef sum_list(lst):\n    return sum(lst)",
}
METAMATH = {
    "query": "Gracie and Joe are choosing numbers on the complex plane. Joe chooses the point $1+2i$. "
             "Gracie chooses $-1+i$. How far apart are Gracie and Joe's points?",
    "response": "The distance between two points $(x_1,y_1)$ and $(x_2,y_2)$ in the complex plane is given by "
                "the formula $\\sqrt{(x_2-x_1)^2+(y_2-y_1)^2}$.\nThe distance is $\\boxed{\\sqrt{5}}$.\n"
                "The answer is: \\sqrt{5}",
    "type": "MATH_AnsAug",
    "original_question": "Gracie and Joe are choosing numbers on the complex plane. Joe chooses the point "
                         "$1+2i$. Gracie chooses $-1+i$. How far apart are Gracie and Joe's points?",
}
GSM8K = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
                "May. How many clips did Natalia sell altogether in April and May?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
              "altogether in April and May.\n#### 72",
}
XLAM = {
    "id": 0,
    "query": "Where can I find live giveaways for beta access and games?",
    "answers": json.dumps([{"name": "live_giveaways_by_type", "arguments": {"type": "beta"}},
                           {"name": "live_giveaways_by_type", "arguments": {"type": "game"}}]),
    "tools": json.dumps([{"name": "live_giveaways_by_type",
                          "description": "Retrieve live giveaways from the GamerPower API based on the type.",
                          "parameters": {"type": {"description": "The type of giveaways (e.g., game, loot, beta).",
                                                  "type": "str", "default": "game"}}}]),
}
GLAIVE_SYSTEM = ("SYSTEM: You are a helpful assistant with access to the following functions. Use them if "
                 "required -\n{\n    \"name\": \"convert_currency\",\n    \"description\": \"Convert an amount\",\n"
                 "    \"parameters\": {\"type\": \"object\", \"properties\": {\"amount\": {\"type\": \"number\"}}}\n}\n")
GLAIVE_CALL = {
    "system": GLAIVE_SYSTEM,
    "chat": "USER: Hi, I need to convert 1000 USD to Euros. Can you help me with that?\n\n\n"
            "ASSISTANT: <functioncall> {\"name\": \"convert_currency\", \"arguments\": '{\"amount\": 1000, "
            "\"from_currency\": \"USD\", \"to_currency\": \"EUR\"}'} <|endoftext|>\n\n\n"
            "FUNCTION RESPONSE: {\"converted_amount\": 850.0, \"from_currency\": \"USD\", \"to_currency\": \"EUR\"}"
            "\n\n\nASSISTANT: Sure, 1000 USD is approximately 850 Euros. <|endoftext|>\n\n\n",
}
GLAIVE_PLAIN = {
    "system": "SYSTEM: You are a helpful assistant, with no access to external functions.\n",
    "chat": "USER: Can you book a flight for me from New York to London?\n\n\n"
            "ASSISTANT: I'm sorry, but I don't have the capability to book flights. <|endoftext|>\n\n\n"
            "USER: Okay, thanks anyway.\n\n\nASSISTANT: You're welcome! <|endoftext|>\n\n\n",
}
SHAREGPT = {"conversations": [
    {"from": "system", "value": "You are a helpful assistant."},
    {"from": "human", "value": "What is the capital of France?"},
    {"from": "gpt", "value": "Paris."},
    {"from": "human", "value": "And of Italy?"},
    {"from": "gpt", "value": "Rome."},
]}
MESSAGES = {"messages": [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
]}


def _where(i):
    return f"test[row {i}]"


def _spec(name):
    return registry.SFT_DATASETS[name]


def _user(text):
    return [{"role": "user", "content": text}]


def _assistant(text):
    return [{"role": "assistant", "content": text}]


# --- registry formatters -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["codealpaca", "code_instructions_122k", "python_instructions"])
def test_alpaca_formatters_with_and_without_input(name):
    fmt = _spec(name).formatter
    with_input = fmt(CODEALPACA_WITH_INPUT, "r0")
    assert with_input == {
        "prompt": _user("Create a function to calculate the sum of a sequence of integers.\n\n[1, 2, 3, 4, 5]"),
        "completion": _assistant(CODEALPACA_WITH_INPUT["output"]),
    }
    without = fmt(CODEALPACA_NO_INPUT, "r1")
    assert without["prompt"] == _user(CODEALPACA_NO_INPUT["instruction"])  # no dangling blank lines
    assert without["completion"] == _assistant(CODEALPACA_NO_INPUT["output"])
    # a missing or null `input` is the same as an empty one
    assert fmt({"instruction": "Say hi.", "output": "hi"}, "r2")["prompt"] == _user("Say hi.")
    assert fmt({"instruction": "Say hi.", "input": None, "output": "hi"}, "r3")["prompt"] == _user("Say hi.")


def test_python_instructions_ignores_prerendered_prompt():
    out = _spec("python_instructions").formatter(PYTHON_INSTRUCTIONS, "r0")
    assert out["prompt"] == _user("Write a function to calculate the sum of the items in a list.\n\nlist = [1, 2, 3]")
    assert out["completion"] == _assistant("def sum_list(lst):\n    return sum(lst)")
    # auto-detection also picks alpaca (the `prompt` column alone is not prompt/completion)
    fmt, rows = formats.normalise_rows([PYTHON_INSTRUCTIONS], _where)
    assert fmt == "alpaca" and rows[0] == out


def test_metamath():
    out = _spec("metamath").formatter(METAMATH, "r0")
    assert out == {"prompt": _user(METAMATH["query"]), "completion": _assistant(METAMATH["response"])}
    assert "type" not in out and "original_question" not in out


def test_gsm8k_keeps_final_answer():
    spec = _spec("gsm8k_sft")
    assert spec.source == "openai/gsm8k" and spec.config == "main"
    out = spec.formatter(GSM8K, "r0")
    assert out["prompt"] == _user(GSM8K["question"])
    assert out["completion"] == _assistant(GSM8K["answer"])  # the worked solution is what is learned
    assert out["answer"] == "72"
    # the same rows from a local file are detected as question/answer with the same gold answer
    fmt, rows = formats.normalise_rows([GSM8K, {**GSM8K, "answer": "So 1,000 + 234 = 1234\n#### 1,234"}], _where)
    assert fmt == "question_answer"
    assert [r["answer"] for r in rows] == ["72", "1234"]


def test_xlam_parses_json_string_columns():
    out = _spec("xlam_sft").formatter(XLAM, "r0")
    system, user = out["prompt"]
    assert system["role"] == "system" and user == {"role": "user", "content": XLAM["query"]}
    tools_json = system["content"].split("\n", 1)[1]
    assert json.loads(tools_json) == json.loads(XLAM["tools"])
    (reply,) = out["completion"]
    assert reply["role"] == "assistant"
    assert json.loads(reply["content"]) == json.loads(XLAM["answers"])
    # already-decoded lists (as a parquet export may hold them) give the same row
    decoded = {**XLAM, "tools": json.loads(XLAM["tools"]), "answers": json.loads(XLAM["answers"])}
    assert _spec("xlam_sft").formatter(decoded, "r0") == out


def test_xlam_bad_json_names_the_row():
    with pytest.raises(DataError, match=r"r7: column 'tools' is not valid JSON"):
        _spec("xlam_sft").formatter({**XLAM, "tools": "[{'name': broken"}, "r7")


def test_glaive_function_call_chat():
    out = _spec("glaive_sft").formatter(GLAIVE_CALL, "r0")
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant"]
    assert msgs[0]["content"].startswith("You are a helpful assistant with access")  # "SYSTEM:" dropped
    assert msgs[1]["content"] == "Hi, I need to convert 1000 USD to Euros. Can you help me with that?"
    assert msgs[2]["content"].startswith("<functioncall> {\"name\": \"convert_currency\"")
    assert msgs[3]["content"].startswith("{\"converted_amount\": 850.0")
    assert msgs[4]["content"] == "Sure, 1000 USD is approximately 850 Euros."
    assert not any("<|endoftext|>" in m["content"] or "ASSISTANT:" in m["content"] for m in msgs)


def test_glaive_plain_chat_and_empty_system():
    msgs = _spec("glaive_sft").formatter(GLAIVE_PLAIN, "r0")["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[-1]["content"] == "You're welcome!"
    msgs = _spec("glaive_sft").formatter({**GLAIVE_PLAIN, "system": ""}, "r0")["messages"]
    assert msgs[0]["role"] == "user"
    with pytest.raises(DataError, match="no assistant turn"):
        _spec("glaive_sft").formatter({"system": "", "chat": "USER: hello?\n\n\n"}, "r9")


def test_llava_needs_the_vlm_trainer():
    assert registry.SFT_DATASETS["llava"].needs == "vlm"
    with pytest.raises(DataError, match="vlm"):
        registry.get_spec("llava", registry.SFT_DATASETS, "sft")
    with pytest.raises(DataError, match="vlm"):
        load_sft_data(build_config(SFTConfig, {"dataset": "llava"}))


def test_get_spec_short_names_and_hub_ids():
    assert sorted(registry.SFT_DATASETS) == sorted(REGISTRY_NAMES)
    assert registry.get_spec("codealpaca", registry.SFT_DATASETS, "sft").source == "sahil2801/CodeAlpaca-20k"
    assert registry.get_spec("someone/some-dataset", registry.SFT_DATASETS, "sft") is None
    with pytest.raises(DataError) as exc:
        registry.get_spec("codealpacca", registry.SFT_DATASETS, "sft")
    assert "codealpaca" in exc.value.hint and "--data" in exc.value.hint


# --- generic formats -----------------------------------------------------------------------------

def test_sharegpt_conversations():
    fmt, rows = formats.normalise_rows([SHAREGPT], _where)
    assert fmt == "sharegpt"
    assert rows[0]["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]


def test_chat_messages_and_answer_column():
    fmt, rows = formats.normalise_rows([{**MESSAGES, "answer": 4}], _where)
    assert fmt == "messages"
    assert rows == [{"messages": MESSAGES["messages"], "answer": "4"}]


@pytest.mark.parametrize("row,message", [
    ({"messages": []}, "non-empty list"),
    ({"messages": "hi"}, "non-empty list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant turn"),
    ({"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}]}, "unknown role"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}, "needs 'role' and 'content'"),
    ({"messages": ["hi", {"role": "assistant", "content": "x"}]}, "turn 0 is not an object"),
])
def test_bad_chats_name_the_row(row, message):
    with pytest.raises(DataError, match=message) as exc:
        formats.normalise_rows([row], _where)
    assert "test[row 0]" in str(exc.value)


def test_prompt_completion_strings():
    fmt, rows = formats.normalise_rows([{"prompt": "What is 2+2?", "completion": " 4", "answer": "4"}], _where)
    assert fmt == "prompt_completion"
    assert rows == [{"prompt": "What is 2+2?", "completion": " 4", "answer": "4"}]


def test_prompt_completion_lists_and_mixed():
    fmt, rows = formats.normalise_rows([
        {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
         "completion": [{"role": "assistant", "content": "4"}]},
        {"prompt": "3+3?", "completion": [{"role": "gpt", "content": "6"}]},
        {"prompt": [{"from": "human", "value": "4+4?"}], "completion": "8"},
    ], _where)
    assert fmt == "prompt_completion"
    assert rows[0] == {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
                       "completion": _assistant("4")}
    assert rows[1] == {"prompt": _user("3+3?"), "completion": _assistant("6")}
    assert rows[2] == {"prompt": _user("4+4?"), "completion": _assistant("8")}


def test_plain_text():
    fmt, rows = formats.normalise_rows([{"text": "Once upon a time"}, {"text": 42}], _where)
    assert fmt == "text"
    assert rows == [{"text": "Once upon a time"}, {"text": "42"}]


@pytest.mark.parametrize("row,expected", [
    (MESSAGES, "messages"), (SHAREGPT, "sharegpt"), ({"prompt": "a", "completion": "b"}, "prompt_completion"),
    (CODEALPACA_WITH_INPUT, "alpaca"), (GSM8K, "question_answer"), ({"text": "t"}, "text"),
    # the more specific columns win over a stray `text` column
    ({**CODEALPACA_NO_INPUT, "text": "rendered"}, "alpaca"),
])
def test_detect_format(row, expected):
    assert formats.detect_format(row, "r")[0] == expected


def test_unknown_columns_and_inconsistent_rows():
    with pytest.raises(DataError, match="none of the known column sets") as exc:
        formats.normalise_rows([{"query": "q", "response": "r"}], _where)
    assert "instruction+output" in exc.value.hint
    with pytest.raises(DataError, match="expected a JSON object"):
        formats.normalise_rows([["not", "a", "row"]], _where)
    with pytest.raises(DataError, match=r"test\[row 1\]: row is missing completion") as exc:
        formats.normalise_rows([{"prompt": "a", "completion": "b"}, {"prompt": "c"}], _where)
    assert "prompt, completion" in exc.value.hint


# --- local files ---------------------------------------------------------------------------------

def _write(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _load(path, **kw):
    return load_sft_data(build_config(SFTConfig, {"data": str(path), **kw}))


LOCAL_CASES = {
    "alpaca": [CODEALPACA_WITH_INPUT, CODEALPACA_NO_INPUT] * 5,
    "question_answer": [GSM8K] * 10,
    "messages": [MESSAGES] * 10,
    "sharegpt": [SHAREGPT] * 10,
    "prompt_completion": [{"prompt": f"What is {i}+1?", "completion": str(i + 1)} for i in range(10)],
    "text": [{"text": f"line {i}"} for i in range(10)],
}


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
@pytest.mark.parametrize("fmt", sorted(LOCAL_CASES))
def test_local_files_auto_detected(tmp_path, suffix, fmt):
    rows = LOCAL_CASES[fmt]
    data = _load(_write(tmp_path / f"data{suffix}", rows), eval_split=0.2)
    assert data.format == fmt
    assert data.source == str(tmp_path / f"data{suffix}")
    assert len(data.train) == 8 and len(data.heldout) == 2
    expected = formats.normalise_rows(rows, _where)[1]
    assert sorted(map(json.dumps, data.train + data.heldout)) == sorted(map(json.dumps, expected))


def test_json_with_data_key_and_answers(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"data": [{"prompt": "1+1=", "completion": "2", "answer": 2}] * 4}))
    data = _load(path, eval_split=0.25)
    assert data.format == "prompt_completion"
    assert all(r["answer"] == "2" for r in data.train + data.heldout)


def test_parquet_nested_chat_columns(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
             "answer": f"a{i}"} for i in range(6)]
    data = _load(_write(tmp_path / "chat.parquet", rows), eval_split=0.5)
    assert data.format == "messages"
    got = sorted(data.train + data.heldout, key=lambda r: r["answer"])
    assert got == [{"messages": r["messages"], "answer": r["answer"]} for r in rows]


def test_local_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c", "completion": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3:\d+: malformed JSON"):
        _load(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "c"}\n')
    with pytest.raises(DataError, match=r"missing\.jsonl:3: row is missing completion"):
        _load(missing)
    with pytest.raises(DataError, match="unsupported file type"):
        _load(_write(tmp_path / "x.jsonl", [{"text": "t"}]).rename(tmp_path / "x.csv"))
    with pytest.raises(DataError, match="not found"):
        _load(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is empty"):
        _load(_write(tmp_path / "empty.json", []))


def test_max_samples_and_max_eval_samples(tmp_path):
    path = _write(tmp_path / "d.jsonl", LOCAL_CASES["prompt_completion"] * 4)
    data = _load(path, eval_split=0.5, max_samples=5, max_eval_samples=3)
    assert len(data.train) == 5 and len(data.heldout) == 3
    assert any("--max-samples" in n for n in data.notes)


# --- splits --------------------------------------------------------------------------------------

def _rows(n):
    return [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(n)]


def test_split_is_deterministic_and_seed_dependent():
    rows = _rows(40)
    a_train, a_held = split_rows(rows, 0.25, seed=1)
    b_train, b_held = split_rows(list(rows), 0.25, seed=1)
    c_train, c_held = split_rows(rows, 0.25, seed=2)
    assert (a_train, a_held) == (b_train, b_held)
    assert a_held != c_held
    for train, held in ((a_train, a_held), (c_train, c_held)):
        assert len(held) == 10 and len(train) == 30
        assert {r["prompt"] for r in train}.isdisjoint(r["prompt"] for r in held)
        assert sorted(r["prompt"] for r in train + held) == sorted(r["prompt"] for r in rows)
        # the original order is kept inside each part
        assert train == [r for r in rows if r in train]


@pytest.mark.parametrize("n,fraction,held", [(0, 0.1, 0), (1, 0.5, 0), (2, 0.01, 1), (10, 0.99, 9), (100, 0.05, 5)])
def test_split_sizes(n, fraction, held):
    train, heldout = split_rows(_rows(n), fraction, seed=0)
    assert len(heldout) == held and len(train) == n - held


def test_load_sft_data_split_follows_the_seed(tmp_path):
    path = _write(tmp_path / "d.jsonl", _rows(40))
    a, b, c = _load(path, seed=7, eval_split=0.2), _load(path, seed=7, eval_split=0.2), _load(path, seed=8, eval_split=0.2)
    assert a.digest == b.digest and a.heldout == b.heldout
    assert a.digest != c.digest and a.heldout != c.heldout
    assert a.digest == rows_digest(a.train, a.heldout) and a.digest.startswith("sha256:")


def test_builtin_arithmetic_split_is_disjoint_and_fixed():
    train, held = builtin.load_builtin("arithmetic")
    assert len(train) + len(held) == 90 * 90
    assert 0.07 < len(held) / (90 * 90) < 0.13
    train_prompts = {r["prompt"][0]["content"] for r in train}
    held_prompts = {r["prompt"][0]["content"] for r in held}
    assert len(train_prompts) == len(train) and len(held_prompts) == len(held)
    assert train_prompts.isdisjoint(held_prompts)
    assert (train, held) == builtin.load_builtin("arithmetic")
    # answers are the true sums; the training labels come from the teacher with two flaws
    hundreds_left_off = hundreds_problems = 0
    for r in held + train:
        a, b = map(int, r["prompt"][0]["content"].removeprefix("What is ").removesuffix("?").split("+"))
        assert r["answer"] == str(a + b)
        label, carried = r["completion"][0]["content"], a + b - 10 if builtin.has_carry(a, b) else a + b
        # flaw 1: the carry into the tens is always dropped; flaw 2: a label of 100+ may lose its hundreds digit
        assert label in (str(carried), str(carried)[1:] if carried >= 100 else None), (a, b, label)
        hundreds_problems += carried >= 100
        hundreds_left_off += len(label) < len(str(carried))
    assert 0.55 < hundreds_left_off / hundreds_problems < 0.65
    right = sum(r["completion"][0]["content"] == r["answer"] for r in train) / len(train)
    assert 0.3 < right < 0.45


def test_builtin_arithmetic_through_load_sft_data():
    data = load_sft_data(build_config(SFTConfig, {"dataset": "arithmetic", "seed": 3}))
    other = load_sft_data(build_config(SFTConfig, {"dataset": "arithmetic", "seed": 4}))
    assert data.format == "prompt_completion" and data.source == "builtin:arithmetic"
    assert len(data.heldout) == 200  # max_eval_samples
    assert {r["prompt"][0]["content"] for r in data.train}.isdisjoint(
        r["prompt"][0]["content"] for r in data.heldout)
    assert data.digest == other.digest  # the built-in split does not move with the seed


# --- the CLI listing -----------------------------------------------------------------------------

@pytest.mark.parametrize("columns", ["200", "60"])
def test_cli_lists_every_dataset_name(capsys, monkeypatch, columns):
    from halo_forge.cli.main import main

    monkeypatch.setenv("COLUMNS", columns)
    assert main(["sft", "datasets"]) == 0
    out = capsys.readouterr().out
    usable = [name for name in REGISTRY_NAMES if registry.SFT_DATASETS[name].needs is None]
    for name in usable:
        assert name in out, f"{name} missing from `halo-forge sft datasets` at {columns} columns"
    assert "llava" not in out  # it needs the vlm trainer: `sft train --dataset llava` refuses it
    assert "…" not in out.split("description")[1].split("\n")[0]  # header intact
    listed_names = [line.split("│")[1].strip() for line in out.splitlines()
                    if line.startswith("│") and line.split("│")[1].strip()]
    assert listed_names == [name for name in registry.SFT_DATASETS if name in usable]


# --- final answers -------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("Natalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("#### 1,234", "1234"),
    ("####72", "72"),
    ("#### -5", "-5"),
    ("#### 72\n\nQuestion: what is 3+4?\nAnswer: 7", "72"),  # the model kept generating after its answer
    ("The answer is $\\boxed{42}$.", "42"),
    ("so $\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),  # nested braces
    ("first \\boxed{3} then \\boxed{4}", "4"),
    ("The answer is 72.", "72"),
    ("It costs 1,000,000 dollars", "1000000"),
    ("between 3.5 and -2.25", "-2.25"),
    ("the sequence 1,2,3", "3"),  # commas that are not thousands separators split numbers
    ("85", "85"),
    ("no number here", None),
    ("", None),
    ("#### ", None),
])
def test_final_answer(text, expected):
    assert final_answer(text) == expected


@pytest.mark.parametrize("prediction,gold,expected", [
    ("72", "72", True),
    (" 72 ", "72", True),
    ("72.0", "72", True),
    ("1,234", "1234", True),
    ("0.5", ".5", True),
    ("-3", "-3.0", True),
    ("73", "72", False),
    ("72", "-72", False),
    (None, "72", False),
    ("", "72", False),
    ("Paris", "Paris", True),
    ("paris", "Paris", False),
    ("\\frac{1}{2}", "\\frac{1}{2}", True),
    ("1e2", "100", True),
])
def test_answers_match(prediction, gold, expected):
    assert answers_match(prediction, gold) is expected


def test_final_answer_round_trip_on_gsm8k_solution():
    gold = _spec("gsm8k_sft").formatter(GSM8K, "r")["answer"]
    assert answers_match(final_answer("She sold 24 in May, 72 in total.\n#### 72"), gold)
    assert not answers_match(final_answer("She sold 24 in May, 70 in total.\n#### 70"), gold)
