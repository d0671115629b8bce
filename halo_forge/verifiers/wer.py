"""``wer``: speech recognition scored with jiwer against the row's ``text`` (option ``field``). The
reward is max(0, 1 - WER) (``metric=cer``: character error rate instead). ``normalise`` (default on)
lower-cases, drops punctuation and collapses whitespace on both sides before scoring; it passes
when the error rate is at most ``pass_at`` (0: a perfect transcript)."""

from __future__ import annotations

from halo_forge.verifiers.base import Verifier, VerifyResult, fail, register_verifier


def _normaliser():
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip()])


def error_rate(reference: str, hypothesis: str, *, metric: str = "wer", normalise: bool = True) -> dict:
    """jiwer's word (or character) error rate and its counts; an empty reference scores 0 only
    against an empty hypothesis (jiwer refuses empty references)."""
    import jiwer

    if normalise:
        norm = _normaliser()
        reference, hypothesis = norm(reference), norm(hypothesis)
    if not reference.strip():
        return {metric: 0.0 if not hypothesis.strip() else 1.0, "reference_empty": True}
    out = jiwer.process_words(reference, hypothesis) if metric == "wer" else jiwer.process_characters(reference, hypothesis)
    rate = out.wer if metric == "wer" else out.cer
    return {metric: float(rate), "substitutions": out.substitutions, "deletions": out.deletions,
            "insertions": out.insertions, "hits": out.hits}


@register_verifier("wer")
class WERVerifier(Verifier):
    """Transcript scored by jiwer: reward max(0, 1 - WER) (or CER) against the row's text."""

    requires = ("text",)

    def __init__(self, *, field: str = "text", metric: str = "wer", normalise: bool = True,
                 pass_at: float = 0.0) -> None:
        if metric not in ("wer", "cer"):
            raise ValueError("metric must be wer or cer")
        if pass_at < 0:
            raise ValueError("pass_at must be >= 0")
        self.field, self.metric, self.normalise, self.pass_at = field, metric, bool(normalise), float(pass_at)

    def required_fields(self) -> tuple[str, ...]:
        return (self.field,)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        figures = error_rate(str(row.get(self.field)), completion, metric=self.metric, normalise=self.normalise)
        rate = figures[self.metric]
        reward = max(0.0, 1.0 - rate)
        if rate <= self.pass_at:
            return VerifyResult(reward, True, {"reason": f"{self.metric} {rate:.3f}", **figures})
        return fail(f"{self.metric} {rate:.3f}", reward=reward, **figures)


def corpus_error_rates(references: list[str], hypotheses: list[str], *, normalise: bool = True) -> dict[str, float]:
    """Corpus-level WER and CER (every edit over every reference word or character, as ASR results are
    reported), after the same normalisation as the verifier; rows with an empty reference are left out."""
    import jiwer

    norm = _normaliser() if normalise else (lambda text: text)
    pairs = [(norm(r), norm(h)) for r, h in zip(references, hypotheses)]
    refs, hyps = [r for r, _ in pairs if r.strip()], [h for r, h in pairs if r.strip()]
    if not refs:
        return {}
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps))}
