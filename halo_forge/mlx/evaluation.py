"""Held-out figures measured on an MLX model, scored exactly as the PyTorch path scores them
(halo_forge.evaluation / halo_forge.rl: same prompts, same answer matching, same verifiers), as the same
`Figure`s. The model is measured as it is (callers put it in eval mode: `halo_forge.mlx.trainer.evaluating`)."""

from __future__ import annotations

from halo_forge.training.figures import Figure, Figures


def task_accuracy(model, tokenizer, rows: list[dict], *, max_new_tokens: int = 16,
                  batch_size: int = 64) -> Figure | None:
    """Fraction of rows with an `answer` whose greedy completion has that final answer; None if no row has one."""
    from halo_forge.data.formats import answers_match, final_answer
    from halo_forge.evaluation import prompt_text
    from halo_forge.mlx.sampling import greedy_texts
    from halo_forge.mlx.weights import hf_tokenizer

    scored = [r for r in rows if r.get("answer") is not None]
    if not scored:
        return None
    texts = greedy_texts(model, tokenizer, [prompt_text(r, hf_tokenizer(tokenizer)) for r in scored],
                         max_new_tokens=max_new_tokens, batch_size=batch_size)
    hits = sum(answers_match(final_answer(c), str(r["answer"])) for c, r in zip(texts, scored))
    return Figure(hits / len(scored), len(scored))


def preference_accuracy(model, tokenizer, rows: list[dict], *, batch_size: int = 64) -> Figure | None:
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
    return Figure(wins / len(rows), len(rows))


def preference_figures(model, tokenizer, heldout: list[dict], *, max_new_tokens: int, batch_size: int) -> Figures:
    """What DPO measures on held-out pairs (as halo_forge.evaluation.preference_figures): preference accuracy
    (primary) and, for rows with an `answer`, task accuracy."""
    return Figures.of(heldout_preference_accuracy=preference_accuracy(model, tokenizer, heldout, batch_size=batch_size),
                      heldout_accuracy=task_accuracy(model, tokenizer, heldout, max_new_tokens=max_new_tokens,
                                                     batch_size=batch_size))


def heldout_loss(model, examples: list[tuple[list[int], list[int]]], pad_id: int, *,
                 batch_size: int = 64) -> Figure | None:
    """SFT's loss on the held-out rows (`tokenize.sft_example` outputs): mean cross-entropy over every learned
    token; None without held-out rows."""
    from halo_forge.mlx.steps import sft_loss
    from halo_forge.mlx.tokenize import sft_batch

    if not examples:
        return None
    total, tokens = 0.0, 0.0
    for i in range(0, len(examples), batch_size):
        loss, n = sft_loss(model, *sft_batch(examples[i:i + batch_size], pad_id))
        total += float(loss) * float(n)
        tokens += float(n)
    return Figure(total / max(tokens, 1.0), len(examples), higher_is_better=False)


def pass_rate(model, tokenizer, verifiers, rows: list[dict], *, max_new_tokens: int,
              batch_size: int = 64) -> Figure | None:
    """Fraction of prompts whose greedy completion passes every verifier (GRPO/RAFT's held-out figure)."""
    from halo_forge import rl
    from halo_forge.evaluation import prompt_text
    from halo_forge.mlx.sampling import greedy_texts
    from halo_forge.mlx.weights import hf_tokenizer

    if not rows:
        return None
    texts = greedy_texts(model, tokenizer, [prompt_text(r, hf_tokenizer(tokenizer)) for r in rows],
                         max_new_tokens=max_new_tokens, batch_size=batch_size)
    return Figure(sum(s["passed"] for s in rl.score(verifiers, texts, rows)) / len(rows), len(rows))
