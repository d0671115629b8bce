"""The `wer` verifier: built on jiwer, reward max(0, 1 - WER), CER as an option."""

from __future__ import annotations

import jiwer
import pytest

from halo_forge.verifiers import get_verifier
from halo_forge.verifiers.wer import error_rate

PAIRS = [
    ("three one four", "three one four"),
    ("three one four", "three four"),  # a deletion
    ("three one four", "three one one four"),  # an insertion
    ("three one four", "tree one for"),  # two substitutions
    ("the quick brown fox", "the quick brown fox jumps over"),  # two insertions: WER 0.5
    ("yes", "no no no"),  # WER 3: the reward floors at 0
    ("seven", ""),
]


@pytest.mark.parametrize("ref, hyp", PAIRS)
def test_wer_matches_jiwer_on_known_pairs(ref, hyp):
    got = error_rate(ref, hyp, normalise=False)["wer"]
    assert got == pytest.approx(jiwer.wer(ref, hyp))
    r = get_verifier("wer", normalise=False).verify(hyp, {"text": ref})
    assert r.reward == pytest.approx(max(0.0, 1.0 - jiwer.wer(ref, hyp)))
    assert r.passed == (jiwer.wer(ref, hyp) == 0)


@pytest.mark.parametrize("ref, hyp", PAIRS[1:4])
def test_cer_matches_jiwer(ref, hyp):
    r = get_verifier("wer", metric="cer", normalise=False).verify(hyp, {"text": ref})
    assert r.details["cer"] == pytest.approx(jiwer.cer(ref, hyp))
    assert r.reward == pytest.approx(max(0.0, 1.0 - jiwer.cer(ref, hyp)))


def test_known_figures_and_counts():
    r = get_verifier("wer").verify("three four", {"text": "three one four"})
    assert r.reward == pytest.approx(2 / 3) and not r.passed
    assert (r.details["deletions"], r.details["substitutions"], r.details["insertions"]) == (1, 0, 0)
    assert get_verifier("wer").verify("yes no no no", {"text": "yes"}).reward == 0.0  # WER 3 -> floored


def test_normalisation_ignores_case_and_punctuation():
    assert get_verifier("wer").verify("Three, one; FOUR!", {"text": "three one four"}).passed
    assert not get_verifier("wer", normalise=False).verify("Three, one; FOUR!", {"text": "three one four"}).passed


def test_pass_at_threshold_and_field_option():
    v = get_verifier("wer", pass_at=0.34, field="transcript")
    assert v.verify("three four", {"transcript": "three one four"}).passed
    assert not v.verify("four", {"transcript": "three one four"}).passed


def test_empty_reference():
    assert get_verifier("wer").verify("", {"text": ""}).reward == 1.0
    assert get_verifier("wer").verify("noise", {"text": " "}).reward == 0.0


def test_bad_options_refused():
    from halo_forge.verifiers import VerifierError

    with pytest.raises(VerifierError, match="metric"):
        get_verifier("wer", metric="bleu")
