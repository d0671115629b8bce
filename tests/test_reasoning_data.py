"""Reasoning data: the built-in arithmetic chains (deterministic, worked steps, sloppy teacher) and the hub
formatters into the think/answer format."""

from __future__ import annotations

import pytest

from halo_forge.data import reasoning_sets as rs
from halo_forge.errors import DataError
from halo_forge.verifiers import get_verifier


def test_chains_are_deterministic_disjoint_and_two_to_four_steps():
    train, heldout = rs.chain_split(n=500, seed=0)
    assert (train, heldout) == rs.chain_split(n=500, seed=0)
    assert train != rs.chain_split(n=500, seed=1)[0]
    assert len(train) + len(heldout) == 500 and 20 < len(heldout) < 90
    assert not {r["prompt"][0]["content"] for r in train} & {r["prompt"][0]["content"] for r in heldout}
    steps = {r["completion"][0]["content"].count("\n") + 1 for r in train}
    assert steps == {2, 3, 4}


def test_worked_steps_in_the_think_answer_format():
    fmt, ans = get_verifier("think_format"), get_verifier("reasoning_answer")
    start, steps = 7, [("add", 5), ("subtract", 3)]
    assert rs.question(start, steps) == "Start at 7. Add 5, then subtract 3."
    lines, value = rs.worked_steps(start, steps)
    text = rs.think_answer(lines, value)
    assert text == "<think>7+5=12\n12-3=9</think>9"
    assert fmt.verify(text, {}).passed and ans.verify(text, {"answer": "9"}).passed


def test_sloppy_teacher_drops_carries_only():
    train, _ = rs.chain_split(n=1500)
    fmt, ans = get_verifier("think_format"), get_verifier("reasoning_answer")
    right = [ans.verify(r["completion"][0]["content"], r).passed for r in train]
    assert 0.35 < sum(right) / len(right) < 0.6  # headroom for GRPO, enough signal for SFT
    assert all(fmt.verify(r["completion"][0]["content"], {}).passed for r in train)
    for r in [r for r, ok in zip(train, right) if not ok][:30]:
        slips = [line for line in r["completion"][0]["content"][7:].split("</think>")[0].split("\n")
                 if "+" in line and eval(line.split("=")[0]) != int(line.split("=")[1])]
        a, b = map(int, slips[0].split("=")[0].split("+"))
        assert (a % 10) + b >= 10 and int(slips[0].split("=")[1]) == a + b - 10


def test_easy_level_is_the_quickstart_additions_with_one_worked_step():
    from halo_forge.data.builtin import arithmetic_split

    train, heldout = rs.load_reasoning_rows("arithmetic_think")
    plain_train, plain_heldout = arithmetic_split()
    assert [r["prompt"][0]["content"] for r in heldout] == [r["prompt"] for r in plain_heldout]
    assert len(train) == len(plain_train) and len(heldout) >= 100
    fmt, ans = get_verifier("think_format"), get_verifier("reasoning_answer")
    texts = [r["completion"][0]["content"] for r in train]
    assert all(fmt.verify(t, {}).passed and ans.verify(t, r).passed == t.endswith(f">{r['answer']}")
               for t, r in list(zip(texts, train))[::200])  # math-verify is ~10 ms a call: a sample
    right = [t.endswith(f">{r['answer']}") for t, r in zip(texts, train)]
    assert 0.65 < sum(right) / len(right) < 0.8  # the sloppy teacher: a dropped carry on 60 % of carry problems
    for t, r in [(t, r) for t, r, ok in zip(texts, train, right) if not ok][:30]:
        a, b = map(int, r["prompt"][0]["content"][len("What is "):-1].split("+"))
        assert (a % 10) + (b % 10) >= 10 and t == f"<think>{a}+{b}={a + b - 10}</think>{a + b - 10}"
    assert all(int(r["answer"]) == eval(r["prompt"][0]["content"][len("What is "):-1]) for r in heldout)


def test_hub_formatters():
    g = rs.from_gsm8k({"question": "Q?", "answer": "Half of 48 is <<48/2=24>>24.\n#### 1,024"}, "g[0]")
    assert g["answer"] == "1024" and g["completion"][0]["content"].endswith("</think>1024")
    m = rs.from_math({"problem": "P?", "solution": "So $x=\\boxed{\\frac{1}{2}}$."}, "m[0]")
    assert m["answer"] == "\\frac{1}{2}"
    assert get_verifier("reasoning_answer").verify(m["completion"][0]["content"], m).passed
    mm = rs.from_metamath({"query": "Q?", "response": "2+2=4. The answer is: 4"}, "mm[0]")
    assert mm["answer"] == "4" and mm["completion"][0]["content"] == "<think>2+2=4.</think>4"
    with pytest.raises(DataError, match=r"m\[3\]: no final answer"):
        rs.from_math({"problem": "P?", "solution": "no box here"}, "m[3]")
    assert {n: s.source for n, s in rs.REASONING_DATASETS.items()} == {
        "arithmetic_chains": "builtin", "arithmetic_think": "builtin", "gsm8k": "openai/gsm8k",
        "math": "DigitalLearningGmbH/MATH-lighteval", "metamath": "meta-math/MetaMathQA"}
    train, heldout = rs.load_reasoning_rows("arithmetic_chains", n=200)
    assert len(train) + len(heldout) == 200


def test_local_files(tmp_path):
    import json

    path = tmp_path / "r.jsonl"
    rows = [{"prompt": "1+1?", "answer": 2}, {"prompt": [{"role": "user", "content": "2+2?"}], "answer": "4",
                                              "completion": "<think>2+2=4</think>4"},
            {"question": "3+3?", "answer": "3+3=6\n#### 6"}] * 4
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, heldout = rs.load_reasoning_rows(data=path)
    got = sorted(train + heldout, key=lambda r: r["prompt"][0]["content"])
    assert len(got) == 12 and got[0] == {"prompt": [{"role": "user", "content": "1+1?"}], "answer": "2"}
    assert got[4]["completion"] == [{"role": "assistant", "content": "<think>2+2=4</think>4"}]
    assert got[8]["answer"] == "6" and got[8]["completion"][0]["content"] == "<think>3+3=6</think>6"
    path.write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(DataError, match=r"r\.jsonl:1: row has no 'answer'"):
        rs.load_reasoning_rows(data=path)
    path.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(DataError, match="none of the reasoning column pairs"):
        rs.load_reasoning_rows(data=path)
