"""Held-out reasoning figures, greedy: format rate (``think_format``), answer accuracy (``reasoning_answer``)
and the rate of completions that have both — the summary extras and the demo's verdict figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ReasoningFigures:
    n: int
    format_rate: float
    answer_accuracy: float
    correct_and_formatted: float

    def to_dict(self) -> dict:
        return asdict(self)

    def figures(self):
        """``training.Figures``: held-out answer accuracy (the verdict's figure), then the format rate."""
        from halo_forge.training import Figure, Figures

        if not self.n:
            return Figures()
        return Figures.of(heldout_answer_accuracy=Figure(self.answer_accuracy, self.n),
                          heldout_format_rate=Figure(self.format_rate, self.n))


def score_completions(completions: list[str], rows: list[dict]) -> ReasoningFigures:
    from halo_forge.verifiers import get_verifier

    fmt, ans = get_verifier("think_format"), get_verifier("reasoning_answer")
    f = [fmt.verify(c, r).passed for c, r in zip(completions, rows)]
    a = [ans.verify(c, r).passed for c, r in zip(completions, rows)]
    n = max(len(rows), 1)
    return ReasoningFigures(n=len(rows), format_rate=sum(f) / n, answer_accuracy=sum(a) / n,
                            correct_and_formatted=sum(x and y for x, y in zip(f, a)) / n)


def reasoning_figures(model, tokenizer, rows: list[dict], *, max_new_tokens: int = 64,
                      batch_size: int = 64) -> ReasoningFigures:
    """Greedy completions of the held-out ``rows`` (chat prompts with ``answer``) scored for format and answer."""
    from halo_forge.evaluation import generate, prompt_text

    texts = generate(model, tokenizer, [prompt_text(r, tokenizer) for r in rows], max_new_tokens=max_new_tokens,
                     batch_size=batch_size)
    return score_completions(texts, rows)
