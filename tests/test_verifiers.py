"""Verifier registry and built-in verifiers: real completions, real sandbox."""

from __future__ import annotations

import json
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata

import pytest

from halo_forge.errors import ConfigError, DataError, HaloForgeError
from halo_forge.verifiers import (VerifierError, VerifierPluginWarning, VerifyResult, available_verifiers,
                                  check_rows, describe_verifiers, get_verifier, load_plugins, parse_verifier_args,
                                  verifier_identity)
from halo_forge.verifiers import base as vbase
from halo_forge.verifiers.sandbox import detect_isolation

needs_sandbox = pytest.mark.skipif(detect_isolation() == "none", reason="no sandbox here (install bubblewrap)")
BUILTINS = {"execution", "pytest", "humaneval", "math", "json_schema", "regex_format", "llm_judge"}


# ------------------------------------------------------------------ registry
def test_builtins_listed_with_source_and_fields():
    rows = {r["name"]: r for r in describe_verifiers()}
    assert BUILTINS <= set(rows)
    assert rows["humaneval"]["requires"] == ["task_id"] and rows["humaneval"]["source"] == "builtin"
    assert rows["math"]["requires"] == ["answer"] and rows["execution"]["runs_code"]
    assert "match" in rows["execution"]["options"]


def test_unknown_verifier_lists_known_ones():
    with pytest.raises(VerifierError) as e:
        get_verifier("no_such_verifier")
    assert isinstance(e.value, HaloForgeError)
    assert all(name in str(e.value) for name in BUILTINS)


def test_bad_option_names_the_options():
    with pytest.raises(VerifierError, match="no option 'fild'.*field"):
        get_verifier("math", fild="x")


def test_parse_verifier_args_types():
    got = parse_verifier_args(["timeout=5", "tolerance=0.01", "strict=true", "ignore-case=no", "x=null",
                               'schema={"type": "object"}', "tags=[1, 2]", "mode=numeric", "pattern=a=b"])
    assert got == {"timeout": 5, "tolerance": 0.01, "strict": True, "ignore_case": False, "x": None,
                   "schema": {"type": "object"}, "tags": [1, 2], "mode": "numeric", "pattern": "a=b"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_verifier_args(["timeout"])
    with pytest.raises(ConfigError, match="JSON"):
        parse_verifier_args(["schema={bad"])


def test_check_rows_names_field_and_line():
    v = get_verifier("math", field="solution")
    check_rows(v, [{"solution": "1"}], "data.jsonl")
    with pytest.raises(DataError, match=r"data\.jsonl:3: .*'solution'.*'math'"):
        check_rows(v, [{"solution": "1"}, {"solution": "2"}, {"answer": "3"}], "data.jsonl")
    with pytest.raises(DataError, match=r"prompts\.jsonl:7"):
        check_rows(get_verifier("humaneval"), [{"prompt": "x"}], lambda i: f"prompts.jsonl:{i + 7}")


def test_verifier_identity_tracks_options():
    a = verifier_identity("math", {"field": "answer"})
    assert a == verifier_identity("math", {"field": "answer"})
    assert a != verifier_identity("math", {"field": "gold"})
    assert a.startswith("math{") and "@sha256:" in a
    with pytest.raises(VerifierError):
        verifier_identity("nope", {})


@pytest.fixture
def fake_plugins(monkeypatch, tmp_path):
    (tmp_path / "hf_good_plugin.py").write_text(
        "from halo_forge.verifiers import register_verifier, VerifyResult\n"
        "@register_verifier('shouting')\n"
        "class Shouting:\n"
        "    requires = ('prompt',)\n"
        "    def verify(self, completion, row):\n"
        "        ok = completion.isupper()\n"
        "        return VerifyResult(float(ok), ok, {'reason': 'upper' if ok else 'not upper'})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [metadata.EntryPoint("broken", "hf_missing_plugin_xyz:Verifier", vbase.ENTRY_POINT_GROUP),
           metadata.EntryPoint("shouting", "hf_good_plugin", vbase.ENTRY_POINT_GROUP)]

    def entry_points(**kw):
        return eps if kw.get("group") == vbase.ENTRY_POINT_GROUP else metadata.EntryPoints(())

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    yield
    vbase._REGISTRY.pop("shouting", None)
    sys.modules.pop("hf_good_plugin", None)
    monkeypatch.undo()
    load_plugins(reload=True)


def test_plugin_that_fails_to_import_is_named_and_others_load(fake_plugins):
    with pytest.warns(VerifierPluginWarning, match="broken.*hf_missing_plugin_xyz"):
        errors = load_plugins(reload=True)
    assert "broken" in errors
    assert available_verifiers()["shouting"].source == "plugin: hf_good_plugin"
    assert BUILTINS <= set(available_verifiers())
    v = get_verifier("shouting")
    assert v.verify("HELLO", {"prompt": "p"}).passed and not v.verify("hello", {"prompt": "p"}).passed
    assert [r.reward for r in v.verify_batch(["A", "b"], [{}, {}])] == [1.0, 0.0]
    with pytest.raises(VerifierError, match="plugin that failed to import.*hf_missing_plugin_xyz"):
        get_verifier("broken")
    listed = {r["name"]: r for r in describe_verifiers()}
    assert "hf_missing_plugin_xyz" in listed["broken"]["error"]


def test_cli_verifiers_list(capsys):
    from halo_forge.cli.main import main

    assert main(["verifiers", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert BUILTINS <= {r["name"] for r in data["verifiers"]}
    assert data["sandbox"]["isolation"] in ("bwrap", "none")
    assert main(["verifiers", "list"]) == 0
    out = capsys.readouterr().out
    assert "humaneval" in out and "task_id" in out and "sandbox:" in out


def test_verify_result_validates_reward():
    with pytest.raises(ValueError):
        VerifyResult(1.5, True)
    assert VerifyResult(0.0, False).reason == "failed"


# ------------------------------------------------------------------ built-ins
@needs_sandbox
def test_execution_python_modes_and_grading():
    v = get_verifier("execution", timeout=5)
    row = {"tests": [{"input": "1 2\n", "output": "3"}, {"input": "5 7\n", "output": "12"}]}
    good = "Sure:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"
    results = v.verify_batch([good, "print(3)", "def f(:\n", "", "import sys\nprint('PASSED')\nsys.exit(0)\n"],
                             [row] * 5)
    assert [r.reward for r in results] == [1.0, 0.5, 0.0, 0.0, 0.0]
    assert results[0].passed and results[2].details["stage"] == "compile_error"
    assert results[3].details["stage"] == "no_code"
    graded = get_verifier("execution", compile_credit=0.1, run_credit=0.1).verify("print(3)", row)
    assert graded.reward == pytest.approx(0.1 + 0.1 + 0.8 * 0.5)
    num = get_verifier("execution", match="numeric")
    assert num.verify("print(0.1 + 0.2)", {"tests": [{"input": "", "output": "0.3"}]}).passed
    assert not num.verify("print(0.4)", {"tests": [{"input": "", "output": "0.3"}]}).passed
    mixed = {"tests": [{"input": "", "output": r"ans(wer)?: \d+", "match": "regex"},
                       {"input": "", "output": "42", "match": "contains"}]}
    assert v.verify("print('answer: 42')", mixed).passed
    assert not v.verify("print('answer: x')", mixed).passed


@needs_sandbox
@pytest.mark.skipif(not __import__("shutil").which("gcc"), reason="gcc not installed")
def test_execution_c():
    v = get_verifier("execution", timeout=5)
    row = {"tests": [{"input": "2 3\n", "output": "5"}, {"input": "10 -4\n", "output": "6"}]}
    c_ok = "```c\n#include <stdio.h>\nint main(void){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);return 0;}\n```"
    c_wrong = c_ok.replace("a+b", "a*b")
    c_broken = "```c\nint main( {\n```"
    r_ok, r_wrong, r_broken = v.verify_batch([c_ok, c_wrong, c_broken], [row] * 3)
    assert r_ok.passed and r_ok.details["language"] == "c"
    assert r_wrong.reward == 0.0 and r_broken.details["stage"] == "compile_error"


@needs_sandbox
def test_pytest_verifier():
    v = get_verifier("pytest")
    src = {"tests": "from solution import add\n\ndef test_a():\n    assert add(1, 2) == 3\n\n"
                    "def test_b():\n    assert add(-1, 1) == 0\n"}
    asserts = {"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 5) == 5"]}
    classes = {"tests": "import pytest\nimport solution\nfrom solution import Account, Overdrawn\n\n"
                        "def test_balance():\n    a = Account(10)\n    a.deposit(5)\n    assert a.balance == 15\n"
                        "    assert str(a) == 'Account(15)' and len(a.history) == 1\n\n"
                        "def test_overdraw():\n    with pytest.raises(Overdrawn):\n        Account(1).withdraw(5)\n"
                        "    with pytest.raises(ValueError):\n        solution.parse('x')\n\n"
                        "def test_iterate():\n    assert list(solution.evens(7)) == [0, 2, 4, 6]\n"
                        "    assert solution.RATES == {'a': (1, 2.5)}\n"}
    account = ("class Overdrawn(ValueError):\n    pass\n\nRATES = {'a': (1, 2.5)}\n\n"
               "class Account:\n    def __init__(self, n):\n        self.balance, self.history = n, []\n"
               "    def deposit(self, n):\n        self.balance += n\n        self.history.append(n)\n"
               "    def withdraw(self, n):\n        if n > self.balance:\n            raise Overdrawn(n)\n"
               "    def __str__(self):\n        return f'Account({self.balance})'\n\n"
               "def parse(s):\n    return int(s)\n\ndef evens(n):\n    return (i for i in range(n) if i % 2 == 0)\n")
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    res = v.verify_batch([good, good, account, "def add(a, b):\n    return 3\n", "def add(a, b):\n    return 3\n",
                          "import sys\nprint('2 passed')\nsys.exit(0)\n", "import os\nos._exit(0)\n", "def add(:"],
                         [src, asserts, classes, src, asserts, src, src, src])
    assert [r.passed for r in res[:3]] == [True, True, True], [r.details for r in res[:3]]
    assert res[3].reward == 0.5 and res[4].reward == pytest.approx(1 / 3)
    assert all(r.reward == 0.0 and not r.passed for r in res[5:]), [r.details for r in res[5:]]


@needs_sandbox
def test_humaneval_canonical_pass_and_broken_fail():
    """All 164 canonical solutions pass (half as continuations, half as chat-style whole functions);
    broken ones fail, including ones that fake success at import time or in the call."""
    v = get_verifier("humaneval", workers=4)
    problems = v.problems
    assert len(problems) == 164
    completions, rows = [], []
    for i, (tid, p) in enumerate(sorted(problems.items(), key=lambda kv: int(kv[0].split("/")[1]))):
        if i % 2 == 0:  # classic continuation: the body alone
            completions.append(p["canonical_solution"])
        else:  # chat style: the whole function in a markdown block
            completions.append(f"Here you go:\n```python\n{p['prompt']}{p['canonical_solution']}```\nDone.")
        rows.append({"task_id": tid})
    broken = ["    return None\n", "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```",
              "    import sys\n    print('All tests passed')\n    sys.exit(0)\n", "    import os\n    os._exit(0)\n",
              "    raise SystemExit(0)\n", "import builtins\nbuiltins.AssertionError = type('E', (Exception,), {})\n"
              "def has_close_elements(numbers, threshold):\n    return True\n"]
    results = v.verify_batch(completions + broken, rows + [{"task_id": "HumanEval/0"}] * len(broken))
    good, bad = results[:len(completions)], results[len(completions):]
    assert all(r.passed and r.reward == 1.0 for r in good), [(r.details) for r in good if not r.passed]
    assert {r.details["form"] for r in good} == {"continuation", "function"}
    assert all(r.reward == 0.0 and not r.passed for r in bad), [r.details for r in bad]
    assert v.verify("    return 1\n", {"task_id": "HumanEval/9999"}).reason.startswith("unknown HumanEval task_id")


def test_math_verifier():
    v = get_verifier("math")
    row = {"answer": "\\frac{1}{2}"}
    assert v.verify("So the answer is $\\boxed{\\dfrac{1}{2}}$.", row).passed
    assert v.verify("The result is 0.5", row).passed
    assert not v.verify("The answer is \\boxed{\\frac{1}{3}}", row).passed
    assert get_verifier("math").verify("#### 72", {"answer": "Natalia sold 48/2 = 24 ... #### 72"}).passed
    credit = get_verifier("math", format_credit=0.2, field="gold")
    assert credit.verify("\\boxed{7}", {"gold": "8"}).reward == 0.2
    assert credit.verify("I do not know", {"gold": "8"}).reward == 0.0
    assert v.verify("\\boxed{7}", {"answer": "8"}).reward == 0.0  # no partial credit unless asked
    assert [r.passed for r in v.verify_batch(["\\boxed{3}", "\\boxed{4}"], [{"answer": 3}, {"answer": 3}])] == [True, False]


def test_json_schema_verifier():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    v = get_verifier("json_schema")
    row = {"schema": schema}
    assert v.verify('```json\n{"name": "Ada", "age": 36}\n```', row).passed
    assert v.verify('Sure! {"name": "Ada", "age": 36} hope it helps', row).passed
    bad = v.verify('{"name": "Ada", "age": "old"}', row)
    assert bad.reward == 0.5 and "age" in bad.reason
    assert v.verify("not json at all", row).reward == 0.0
    fixed = get_verifier("json_schema", schema=json.dumps(schema), parse_credit=0.0)
    assert fixed.required_fields() == ()
    assert fixed.verify('{"name": "x"}', {}).reward == 0.0 and fixed.verify('{"name": "x", "age": 1}', {}).passed


def test_regex_format_verifier():
    v = get_verifier("regex_format", pattern=r"<think>.+</think>\s*<answer>\d+</answer>", mode="fullmatch")
    assert v.verify("<think>2+2</think> <answer>4</answer>", {}).passed
    assert not v.verify("<answer>4</answer>", {}).passed
    per_row = get_verifier("regex_format")
    assert per_row.verify("ID: AB-123", {"pattern": r"[A-Z]{2}-\d{3}"}).passed
    assert not per_row.verify("ID: ab-12", {"pattern": r"[A-Z]{2}-\d{3}"}).passed


@pytest.fixture
def judge_server():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization"), body))
            text = body["messages"][-1]["content"]
            response = text.split("RESPONSE:", 1)[1]
            reply = "Reasoning... SCORE: 9" if "Paris" in response else "SCORE: 2"
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", seen
    srv.shutdown()
    srv.server_close()


def test_llm_judge_against_local_server(judge_server, monkeypatch):
    url, seen = judge_server
    monkeypatch.setenv("HF_TEST_JUDGE_KEY", "sk-test")
    v = get_verifier("llm_judge", base_url=url, model="tiny-judge", api_key_env="HF_TEST_JUDGE_KEY")
    row = {"prompt": [{"role": "user", "content": "Capital of France?"}], "reference": "Paris"}
    good, bad = v.verify_batch(["It is Paris.", "It is Lyon."], [row, row])
    assert good.passed and good.reward == pytest.approx(0.9)
    assert not bad.passed and bad.reward == pytest.approx(0.2)
    path, auth, body = seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test" and body["model"] == "tiny-judge"
    assert "Capital of France?" in body["messages"][0]["content"]
    down = get_verifier("llm_judge", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    r = down.verify("x", row)
    assert r.reward == 0.0 and "unreachable" in r.reason
    with pytest.raises(VerifierError, match="endpoint"):
        with warnings.catch_warnings():
            monkeypatch.delenv("HALO_FORGE_JUDGE_URL", raising=False)
            get_verifier("llm_judge")
