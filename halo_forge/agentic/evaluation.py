"""Held-out agentic figures, greedy: exact-call accuracy (the first assistant turn's calls pass every
``tool_call`` check) with the call-check breakdown, and — when the tools can run — whole episodes (final-answer
accuracy, turns per episode, failure reasons)."""

from __future__ import annotations

from collections import Counter


def call_figures(model, tokenizer, rows: list[dict], tools: list, *, max_new_tokens: int = 160,
                 batch_size: int = 32, verifier=None) -> dict:
    """{n, exact_call_accuracy, call_checks (mean score per check), call_failures (counts)} over ``rows``."""
    from halo_forge.agentic.episodes import _reason_kind
    from halo_forge.agentic.rollout import first_turn_texts
    from halo_forge.verifiers import get_verifier

    verifier = verifier or get_verifier("tool_call")
    texts = [t[0] for t in first_turn_texts(model, tokenizer, rows, tools, max_new_tokens=max_new_tokens,
                                            batch_size=batch_size)]
    results = [verifier.verify(t, r) for t, r in zip(texts, rows)]
    n = max(len(rows), 1)
    checks: Counter = Counter()
    failures: Counter = Counter()
    for r in results:
        checks.update(r.details["checks"])
        failures.update(_reason_kind(f) for f in r.details["failures"])
    return {"n": len(rows), "exact_call_accuracy": sum(r.passed for r in results) / n,
            "call_checks": {k: round(v / n, 4) for k, v in checks.items()},
            "call_failures": dict(failures.most_common(10))}


def figures_of(calls: dict, episodes: dict | None = None):
    """``training.Figures`` from :func:`call_figures` (and :func:`episode_figures`): held-out exact-call
    accuracy (the verdict's figure), then the final-answer accuracy of whole episodes."""
    from halo_forge.training import Figure, Figures

    if not calls["n"]:
        return Figures()
    answers = Figure(episodes["answer_accuracy"], episodes["episodes"]) if episodes else None
    return Figures.of(heldout_exact_call_accuracy=Figure(calls["exact_call_accuracy"], calls["n"]),
                      heldout_answer_accuracy=answers)


def episode_figures(model, tokenizer, rows: list[dict], tools: list, *, max_turns: int = 3,
                    max_new_tokens: int = 160, batch_size: int = 32, verifier=None) -> dict:
    """Greedy episodes with the tools executed: EpisodeStats.to_dict() (exact calls, answer accuracy, turns,
    how episodes ended, call checks, failure reasons)."""
    from halo_forge.agentic.episodes import EpisodeStats, score_episode
    from halo_forge.agentic.rollout import run_episodes
    from halo_forge.verifiers import get_verifier

    verifier = verifier or get_verifier("tool_call")
    stats = EpisodeStats()
    for ep, row in zip(run_episodes(model, tokenizer, rows, tools, max_turns=max_turns, max_new_tokens=max_new_tokens,
                                    batch_size=batch_size), rows):
        stats.add(ep, score_episode(ep, row, verifier))
    return stats.to_dict()
