"""The VLM verifiers (vqa, json_extract, chart): each passes right answers and fails wrong ones."""

from __future__ import annotations

import json

import pytest

from halo_forge.data.vision_builtin import INVOICE_SCHEMA, record
from halo_forge.verifiers import available_verifiers, check_rows, describe_verifiers, get_verifier
from halo_forge.errors import DataError

INVOICE = {"invoice_number": "INV-1042", "date": "2025-05-17", "vendor": "Acme Ltd", "total": 123.45}


def test_registered_as_builtins_with_their_fields():
    rows = {r["name"]: r for r in describe_verifiers()}
    assert {"vqa", "json_extract", "chart", "wer"} <= set(available_verifiers())
    assert rows["vqa"]["requires"] == ["answer"] and rows["vqa"]["source"] == "builtin"
    assert rows["json_extract"]["requires"] == ["expected"] and rows["chart"]["requires"] == ["answer"]
    assert not any(rows[n]["runs_code"] for n in ("vqa", "json_extract", "chart", "wer"))


@pytest.mark.parametrize("completion, gold", [
    ("3", "3"), ("The answer is: Three.", "3"), ("three apples", "3 apples"), ("  Yes ", "yes"),
    ("an umbrella", "umbrella"), ("1,000", "1000"), ("3.5", "3.5"), ("no", ["yes", "no", "no"]),
])
def test_vqa_normalised_passes(completion, gold):
    r = get_verifier("vqa").verify(completion, {"answer": gold})
    assert r.passed and r.reward == 1.0, r


@pytest.mark.parametrize("completion, gold", [("4", "3"), ("", "3"), ("35", "3.5"), ("yes", ["no", "maybe"])])
def test_vqa_wrong_answer_fails(completion, gold):
    r = get_verifier("vqa").verify(completion, {"answer": gold})
    assert not r.passed and r.reward == 0.0, r


def test_vqa_exact_mode_and_field_option():
    assert not get_verifier("vqa", mode="exact").verify("Three", {"answer": "3"}).passed
    assert get_verifier("vqa", mode="exact").verify(" 3 ", {"answer": "3"}).passed
    v = get_verifier("vqa", field="label")
    assert v.verify("7", {"label": "7"}).passed
    with pytest.raises(DataError, match="'label'"):
        check_rows(v, [{"answer": "7"}], "rows.jsonl")


def test_json_extract_right_record_passes_fenced_or_plain():
    v, row = get_verifier("json_extract"), {"expected": INVOICE, "schema": INVOICE_SCHEMA}
    for text in (json.dumps(INVOICE), "Here it is:\n```json\n" + json.dumps(INVOICE) + "\n```",
                 json.dumps({**INVOICE, "vendor": "ACME  LTD", "total": 123.450000001})):
        r = v.verify(text, row)
        assert r.passed and r.reward == 1.0 and r.details["fields_right"] == 4, (text, r)


def test_json_extract_wrong_field_gets_partial_credit():
    r = get_verifier("json_extract").verify(json.dumps({**INVOICE, "total": 132.45}), {"expected": INVOICE,
                                                                                      "schema": INVOICE_SCHEMA})
    assert not r.passed and r.reward == pytest.approx(0.75) and r.details["wrong"] == ["total"]


def test_json_extract_schema_violation_is_capped_and_named():
    bad = {**INVOICE, "invoice_number": "1042", "total": "123.45"}  # pattern and type both wrong
    r = get_verifier("json_extract").verify(json.dumps(bad), {"expected": INVOICE, "schema": INVOICE_SCHEMA})
    assert not r.passed and r.reward <= 0.5 and "schema violation at invoice_number" in r.reason


def test_json_extract_no_json_and_missing_field():
    v = get_verifier("json_extract")
    assert v.verify("INV-1042 from Acme", {"expected": INVOICE}).reward == 0.0
    r = v.verify(json.dumps({k: val for k, val in INVOICE.items() if k != "date"}), {"expected": INVOICE})
    assert not r.passed and r.details["wrong"] == ["date"]  # no schema on the row: fields only


def test_json_extract_on_a_builtin_invoice_row():
    rec = record("invoices", 3)
    row = {"expected": rec["invoice"], "schema": INVOICE_SCHEMA}
    assert get_verifier("json_extract").verify(rec["answer"], row).passed


@pytest.mark.parametrize("completion, gold", [("7", "7"), ("The tallest bar is 7.", 7), ("about 10.4", "10"),
                                              ("$1,234", "1200"), ("45%", "45")])
def test_chart_scalar_within_tolerance_passes(completion, gold):
    r = get_verifier("chart").verify(completion, {"answer": gold})
    assert r.passed and r.reward == 1.0, r


@pytest.mark.parametrize("completion, gold", [("8", "7"), ("12", "10"), ("no idea", "3"), ("-7", "7")])
def test_chart_scalar_outside_tolerance_fails(completion, gold):
    r = get_verifier("chart").verify(completion, {"answer": gold})
    assert not r.passed and r.reward == 0.0, r


def test_chart_tolerance_option():
    assert get_verifier("chart", rel_tol=0.25).verify("12", {"answer": "10"}).passed
    assert not get_verifier("chart", rel_tol=0.0).verify("10.4", {"answer": "10"}).passed


def test_chart_label_values_are_scored_per_label():
    v, row = get_verifier("chart", field="values"), {"values": {"A": 3, "B": 5, "C": 9}}
    assert v.verify("A: 3, B: 5, C: 9", row).passed
    assert v.verify('{"A": 3.1, "B": 5, "C": 9}', row).passed
    r = v.verify("A: 3, B: 7, C = 9", row)
    assert not r.passed and r.reward == pytest.approx(2 / 3) and r.details["wrong"] == ["B"]
    assert v.verify("nothing", row).reward == 0.0
