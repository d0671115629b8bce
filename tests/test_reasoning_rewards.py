"""Reasoning rewards: the think/answer format, the math answer after </think> (agreeing with math-verify on a
table), and length shaping against TRL's own formulas."""

from __future__ import annotations

import pytest

from halo_forge.verifiers import describe_verifiers, get_verifier

# (gold, predicted answer text, equivalent?) — boxed answers, fractions, equivalent and non-equivalent forms
TABLE = [
    ("42", "42", True),
    ("42", "\\boxed{42}", True),
    ("42", "The answer is 42.", True),
    ("42", "42.0", True),
    ("42", "43", False),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\boxed{\\frac{2}{4}}", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "$\\frac{1}{3}$", False),
    ("0.25", "$\\frac{1}{4}$", True),
    ("2\\sqrt{2}", "$\\sqrt{8}$", True),
    ("2\\sqrt{2}", "$\\sqrt{6}$", False),
    ("x^2+2x+1", "$(x+1)^2$", True),
    ("x^2+2x+1", "$(x-1)^2$", False),
    ("\\pi", "\\boxed{\\pi}", True),
    ("3", "\\boxed{-3}", False),
    ("-7", "$-7$", True),
    ("1000", "1,000", True),
]


@pytest.mark.parametrize("gold,pred,equivalent", TABLE)
def test_answer_reward_agrees_with_math_verify(gold, pred, equivalent):
    from math_verify import parse, verify

    direct = bool(verify(parse(f"${gold}$"), parse(pred)))
    assert direct == equivalent, "the table itself must hold for math-verify"
    v = get_verifier("reasoning_answer")
    r = v.verify(f"<think>some work, 99 and 7/3 along the way</think>{pred}", {"answer": gold})
    assert r.passed == direct and r.reward == float(direct), r.details


def test_answer_reward_ignores_numbers_in_the_reasoning_and_needs_the_close():
    v = get_verifier("reasoning_answer")
    assert not v.verify("<think>the answer is 42</think>41", {"answer": "42"}).passed
    unfinished = v.verify("<think>the answer is 42", {"answer": "42"})
    assert not unfinished.passed and "no </think>" in unfinished.reason
    assert get_verifier("reasoning_answer", require_think=False).verify("42", {"answer": "42"}).passed


@pytest.mark.parametrize("text,reason", [
    ("<think>7+5=12</think>12", None),
    ("<think>\n7+5=12\n</think>\n12", None),
    ("7+5=12</think>12", "does not start with <think>"),
    (" <think>7+5=12</think>12", "does not start with <think>"),
    ("<think>7+5=12 12", "no closing </think>"),
    ("<think>a</think><think>b</think>12", "more than one <think>"),
    ("<think>a</think>b</think>12", "more than one </think>"),
    ("<think>7+5=12</think>   ", "no answer after </think>"),
    ("<think> </think>12", "empty reasoning"),
])
def test_think_format(text, reason):
    r = get_verifier("think_format").verify(text, {})
    assert r.passed == (reason is None) and r.reward == float(reason is None)
    if reason:
        assert r.reason == reason
    from trl.rewards import think_format_reward

    if reason is None:  # every completion we pass, TRL's own format reward passes too
        assert think_format_reward([[{"content": text}]]) == [1.0]


def test_soft_overlong_is_trls_punishment_shifted():
    from trl.rewards import get_soft_overlong_punishment

    trl_fn = get_soft_overlong_punishment(max_completion_len=100, soft_punish_cache=20)
    v = get_verifier("soft_overlong", max_length=100, cache=20)
    for n in (10, 80, 81, 90, 100, 101, 500):
        r = v.verify("x", {"completion_tokens": n})
        assert r.reward == pytest.approx(1 + trl_fn([[0] * n])[0])
        assert r.passed == (n <= 80) and r.details["unit"] == "tokens"
    assert v.verify("x" * 90, {}).details == {"reason": "overlong: 90 chars > 80", "length": 90, "unit": "chars",
                                                "penalty": -0.5}


def test_length_counts_tokens_with_the_tokenizer(tiny_model_path):
    v = get_verifier("soft_overlong", max_length=8, cache=4, tokenizer=str(tiny_model_path))
    r = v.verify("1234567", {})  # one token per digit
    assert r.details["length"] == 7 and r.details["unit"] == "tokens" and r.reward == pytest.approx(0.25)


def test_cosine_length_matches_trl_on_boxed_answers():
    from trl.rewards import get_cosine_scaled_reward

    trl_fn = get_cosine_scaled_reward(max_len=100)
    v = get_verifier("cosine_length", max_length=100)
    for content, gold, n in [("\\boxed{\\frac{1}{3}}", "\\frac{1}{3}", 50), ("\\boxed{\\frac{1}{2}}", "\\frac{1}{3}", 50),
                             ("\\boxed{7}", "7", 5), ("\\boxed{8}", "7", 5), ("\\boxed{7}", "7", 300)]:
        want = trl_fn([[{"content": content}]], [gold], [[0] * n])[0]
        r = v.verify(f"<think>w</think>{content}", {"answer": gold, "completion_tokens": n})
        assert r.details["raw_reward"] == pytest.approx(want)
        assert r.reward == pytest.approx((want + 1) / 2)  # [-1, 1] → [0, 1]
        assert r.passed == (want > 0)
    short_right = v.verify("<think>w</think>7", {"answer": "7", "completion_tokens": 5}).reward
    long_right = v.verify("<think>w</think>7", {"answer": "7", "completion_tokens": 90}).reward
    short_wrong = v.verify("<think>w</think>8", {"answer": "7", "completion_tokens": 5}).reward
    assert short_right > long_right > 0.5 > short_wrong


def test_registered_with_their_fields():
    rows = {r["name"]: r for r in describe_verifiers()}
    assert rows["reasoning_answer"]["requires"] == ["answer"] and rows["think_format"]["requires"] == []
    assert {"soft_overlong", "cosine_length", "tool_call"} <= set(rows)
    with pytest.raises(Exception, match="cache"):
        get_verifier("soft_overlong", max_length=10, cache=20)


def test_reward_funcs_for_trl_count_completion_tokens():
    from halo_forge.reasoning.rewards import reasoning_reward_funcs, reasoning_verifiers

    verifiers = reasoning_verifiers(answer_weight=1.0, format_weight=0.5, overlong=(10, 4), cosine_max_length=10)
    assert [(n, w) for n, _, w in verifiers] == [("reasoning_answer", 1.0), ("think_format", 0.5),
                                                 ("soft_overlong", 1.0), ("cosine_length", 1.0)]
    funcs = reasoning_reward_funcs(verifiers)
    assert [f.__name__ for f in funcs] == ["verifier_reasoning_answer", "verifier_think_format",
                                           "verifier_soft_overlong", "verifier_cosine_length"]
    completions = [[{"role": "assistant", "content": "<think>3+4=7</think>7"}],
                   [{"role": "assistant", "content": "<think>3+4=8</think>8"}]]
    kw = {"answer": ["7", "7"], "completion_ids": [[1] * 6, [1] * 9], "trainer_state": None}
    got = [f(prompts=["p", "p"], completions=completions, **kw) for f in funcs]
    assert got[0] == [1.0, 0.0] and got[1] == [1.0, 1.0]
    assert got[2] == [1.0, pytest.approx(1 - 3 / 4)]  # 6 tokens within 10-4; 9 tokens: 3 into the 4-token cache
    assert got[3][0] > 0.5 > got[3][1]
    with pytest.raises(ValueError, match="weight 0"):
        reasoning_verifiers(answer_weight=0, format_weight=0)


def test_held_out_reasoning_figures():
    from halo_forge.reasoning.evaluation import score_completions

    rows = [{"answer": "9"}] * 4
    figs = score_completions(["<think>7+5=12\n12-3=9</think>9", "<think>7+5=2\n2-3=-1</think>-1", "9",
                              "<think>x</think>9</think>"], rows)
    assert (figs.n, figs.format_rate, figs.answer_accuracy, figs.correct_and_formatted) == (4, 0.5, 0.25, 0.25)
    from halo_forge.training import Figure

    assert list(figs.figures().items()) == [("heldout_answer_accuracy", Figure(0.25, 4)),
                                            ("heldout_format_rate", Figure(0.5, 4))]
    assert score_completions([], []).figures() == {}
