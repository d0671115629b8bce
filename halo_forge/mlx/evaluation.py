"""Held-out figures measured on an MLX model, scored exactly as the PyTorch path scores them
(halo_forge.evaluation / halo_forge.rl: same prompts, same answer matching, same verifiers)."""

from __future__ import annotations


def task_accuracy(model, tokenizer, rows: list[dict], *, max_new_tokens: int = 16) -> tuple[float, int] | None:
    """Fraction of rows with an `answer` whose greedy completion has that final answer; None if no row has one."""
    from halo_forge.data.formats import answers_match, final_answer
    from halo_forge.evaluation import prompt_text
    from halo_forge.mlx.sampling import greedy_texts
    from halo_forge.mlx.weights import hf_tokenizer

    scored = [r for r in rows if r.get("answer") is not None]
    if not scored:
        return None
    texts = greedy_texts(model, tokenizer, [prompt_text(r, hf_tokenizer(tokenizer)) for r in scored],
                         max_new_tokens=max_new_tokens)
    return sum(answers_match(final_answer(c), str(r["answer"])) for c, r in zip(texts, scored)) / len(scored), len(scored)


def preference_accuracy(model, tokenizer, rows: list[dict], *, batch_size: int = 64) -> tuple[float, int] | None:
    """Fraction of held-out pairs whose chosen reply the model gives a higher log-probability than the rejected."""
    from halo_forge.dpo.mlx_losses import reference_logps
    from halo_forge.mlx.tokenize import preference_batch, preference_example
    from halo_forge.mlx.weights import hf_tokenizer

    if not rows:
        return None
    pad = hf_tokenizer(tokenizer).pad_token_id or 0
    wins = 0
    for i in range(0, len(rows), batch_size):
        tokens, mask = preference_batch([preference_example(r, tokenizer) for r in rows[i:i + batch_size]], pad)
        chosen, rejected = reference_logps(model, tokens, mask)
        wins += int((chosen > rejected).sum())
    return wins / len(rows), len(rows)


def pass_rate(model, tokenizer, verifiers, rows: list[dict], *, max_new_tokens: int) -> tuple[float, int] | None:
    """Fraction of prompts whose greedy completion passes every verifier (GRPO/RAFT's held-out figure)."""
    from halo_forge import rl
    from halo_forge.evaluation import prompt_text
    from halo_forge.mlx.sampling import greedy_texts
    from halo_forge.mlx.weights import hf_tokenizer

    if not rows:
        return None
    texts = greedy_texts(model, tokenizer, [prompt_text(r, hf_tokenizer(tokenizer)) for r in rows],
                         max_new_tokens=max_new_tokens)
    return sum(s["passed"] for s in rl.score(verifiers, texts, rows)) / len(rows), len(rows)
