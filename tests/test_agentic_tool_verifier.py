"""The tool_call verifier: every check passing and failing, graded scores, reasons in details."""

from __future__ import annotations

import json

import pytest

from halo_forge.agentic.calls import norm_text, parse_calls, render_calls, values_match
from halo_forge.data.tool_world import TOOLS
from halo_forge.verifiers import get_verifier

LOOKUP = {"name": "lookup", "arguments": {"table": "price", "key": "apple"}}
CONVERT = {"name": "convert", "arguments": {"value": 5, "from_unit": "km", "to_unit": "mi"}}


def row(*gold):
    return {"tools": TOOLS, "gold_calls": list(gold)}


def check(text, *gold, **options):
    return get_verifier("tool_call", **options).verify(text, row(*gold))


def block(name, **arguments):
    return render_calls([{"name": name, "arguments": arguments}])


def test_all_checks_pass():
    r = check(render_calls([LOOKUP]), LOOKUP)
    assert r.passed and r.reward == 1.0
    assert r.details["checks"] == dict.fromkeys(("parse", "exists", "arguments", "types", "values"), 1.0)
    assert r.details["failures"] == [] and r.reason == "calls match"


def test_parse_fails():
    r = check('<tool_call>{"name": "lookup", "arguments": {"table": "price"</tool_call>', LOOKUP)
    assert not r.passed and r.reward == 0.0 and r.details["checks"]["parse"] == 0.0
    assert r.reason.startswith("call 1 is not valid JSON")
    assert check("I think the price is 1.25", LOOKUP).reason == "no tool call found"
    # one good block and one broken: half the parse credit, the good call still scored
    half = check(render_calls([LOOKUP]) + "<tool_call>{oops}</tool_call>", LOOKUP)
    assert half.details["checks"]["parse"] == 0.5 and half.details["checks"]["values"] == 1.0


def test_function_must_exist():
    r = check(block("lookup_price", table="price", key="apple"), LOOKUP)
    assert r.details["checks"]["exists"] == 0.0 and r.details["checks"]["parse"] == 1.0
    assert "lookup_price: no such tool" in r.reason and not r.passed


def test_required_present_and_none_unexpected():
    missing = check(block("lookup", table="price"), LOOKUP)
    assert missing.details["checks"]["arguments"] == 0.0
    assert "missing required argument 'key'" in " ".join(missing.details["failures"])
    extra = check(block("lookup", table="price", key="apple", colour="red"), LOOKUP)
    assert extra.details["checks"]["arguments"] == 0.0
    assert "unexpected argument 'colour'" in " ".join(extra.details["failures"])
    assert check(block("lookup", table="price", key="apple"), LOOKUP).details["checks"]["arguments"] == 1.0


def test_types_validate_against_the_schema():
    wrong_type = check(block("convert", value="5", from_unit="km", to_unit="mi"), CONVERT)
    assert wrong_type.details["checks"]["types"] == 0.0
    assert "argument 'value': '5' is not of type 'number'" in " ".join(wrong_type.details["failures"])
    bad_enum = check(block("convert", value=5, from_unit="km", to_unit="parsec"), CONVERT)
    assert bad_enum.details["checks"]["types"] == 0.0 and "'parsec' is not one of" in " ".join(bad_enum.details["failures"])
    assert check(block("convert", value=5.0, from_unit="km", to_unit="mi"), CONVERT).details["checks"]["types"] == 1.0


def test_values_normalised():
    # strings: case and punctuation; numbers: within tolerance
    assert check(block("lookup", table="Price.", key=" APPLE "), LOOKUP).details["checks"]["values"] == 1.0
    assert check(block("convert", value=5.0000001, from_unit="km", to_unit="mi"), CONVERT).passed
    wrong = check(block("convert", value=6, from_unit="km", to_unit="mi"), CONVERT)
    assert wrong.details["checks"]["values"] == 0.0 and not wrong.passed
    assert "values: 0 of 1 gold call(s) matched" in wrong.reason
    assert wrong.reward == pytest.approx(0.8)  # every other check passed
    loose = check(block("convert", value=5.01, from_unit="km", to_unit="mi"), CONVERT, abs_tol=0.05)
    assert loose.passed
    assert norm_text("  New-York, NY. ") == "new york ny"
    assert values_match([1, "A"], [1.0, "a"]) and not values_match([1, 2], [2, 1])


def test_parallel_calls_compared_without_order():
    a = {"name": "lookup", "arguments": {"table": "price", "key": "pear"}}
    assert check(render_calls([a, LOOKUP]), LOOKUP, a).passed
    assert check(render_calls([LOOKUP, a]), LOOKUP, a).passed
    one_missing = check(render_calls([LOOKUP]), LOOKUP, a)
    assert one_missing.details["checks"]["values"] == 0.5 and not one_missing.passed
    duplicate = check(render_calls([LOOKUP, LOOKUP]), LOOKUP, a)  # the same call twice matches one gold call
    assert duplicate.details["checks"]["values"] == 0.5
    extra = check(render_calls([LOOKUP, a, CONVERT]), LOOKUP, a)
    assert extra.details["checks"]["values"] == pytest.approx(2 / 3)


def test_other_call_forms_parse():
    xlam = json.dumps([LOOKUP, CONVERT])
    assert check(xlam, LOOKUP, CONVERT).passed
    openai = json.dumps({"type": "function", "function": {"name": "lookup",
                                                           "arguments": json.dumps(LOOKUP["arguments"])}})
    assert check(openai, LOOKUP).passed
    calls, problems = parse_calls('{"answer": 3}')
    assert calls == [] and problems == ["JSON found, but not a call object or a list of call objects"]


def test_rows_with_json_text_columns():
    v = get_verifier("tool_call")
    r = v.verify(render_calls([LOOKUP]), {"tools": json.dumps(TOOLS), "gold_calls": json.dumps([LOOKUP])})
    assert r.passed


def test_no_call_expected():
    assert check("It is sunny.").passed and check("It is sunny.").reason == "no call expected, none made"
    made = check(render_calls([LOOKUP]))
    assert not made.passed and made.details["checks"]["values"] == 0.0


def test_episodes_from_trl_messages_and_their_reward():
    from halo_forge.agentic.episodes import EpisodeStats, answer_matches, episode_from_messages, score_episode

    tc = [{"type": "function", "function": {"name": "lookup", "arguments": {"table": "price", "key": "apple"}}}]
    ok = episode_from_messages([{"role": "assistant", "content": "", "tool_calls": tc},
                                {"role": "tool", "name": "lookup", "content": "1.25"},
                                {"role": "assistant", "content": "It costs 1.25."}])
    assert (ok.turns, ok.ended, ok.final, ok.calls) == (2, "answer", "It costs 1.25.", [LOOKUP])
    broken = episode_from_messages([{"role": "assistant", "content": '<tool_call>{"name": "lookup", "argu'}])
    assert broken.failures == ["unparseable tool call"] and broken.ended == "turn_limit" and broken.final is None
    failed = episode_from_messages([{"role": "assistant", "content": "", "tool_calls": tc},
                                    {"role": "tool", "name": "lookup", "content": "{'error': 'boom'}"}])
    assert failed.failures == ["lookup: {'error': 'boom'}"] and failed.ended == "turn_limit"
    v, r = get_verifier("tool_call"), {**row(LOOKUP), "answer": "1.25"}
    assert score_episode(ok, r, v)["reward"] == 1.0
    half = score_episode(failed, r, v)  # right call, no answer
    assert half["reward"] == 0.5 and half["exact_calls"] and not half["answer_correct"]
    assert score_episode(broken, r, v, answer_weight=0)["reward"] == 0.0
    stats = EpisodeStats()
    for ep in (ok, broken, failed):
        stats.add(ep, score_episode(ep, r, v))
    d = stats.to_dict()
    assert d["ended"] == {"answer": 1, "turn_limit": 2} and d["exact_call_rate"] == round(2 / 3, 4)
    assert d["call_failures"]["unparseable tool call"] == 1
    assert answer_matches("8 and 5", "8 and 5.0") and not answer_matches("5 and 8", "8 and 5")
    assert answer_matches("About 6.21 miles", "6.21") and answer_matches(" Paris. ", "paris")
