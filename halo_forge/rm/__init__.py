"""Reward models: train one (`halo-forge rm train`), then score text with it.

    from halo_forge.rm import score
    score("outputs/rm", ["<|im_start|>user\\nWhat is 2+2?<|im_end|>\\n<|im_start|>assistant\\n4<|im_end|>\\n"])

`score` is what RAFT and GRPO use to turn a trained RM into a reward: one float per text, higher is
better. Loaded models are kept per path for the life of the process.
"""

from __future__ import annotations

from pathlib import Path

_LOADED: dict[str, tuple] = {}


def load(model_path: str | Path):
    """(model, tokenizer) of a saved reward model (a full model or a LoRA adapter folder)."""
    from halo_forge.models.loading import load_sequence_classifier, load_tokenizer, resolve_model

    ref = resolve_model(str(model_path))
    if ref not in _LOADED:
        tokenizer = load_tokenizer(ref)
        model = load_sequence_classifier(ref)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.eval()
        _LOADED[ref] = (model, tokenizer)
    return _LOADED[ref]


def score(model_path: str | Path, texts: list[str], *, batch_size: int = 32) -> list[float]:
    """The reward model's scalar score for each text (prompt and response rendered as one string)."""
    from halo_forge.evaluation import reward_scores

    model, tokenizer = load(model_path)
    return reward_scores(model, tokenizer, list(texts), batch_size=batch_size)


def score_pairs(model_path: str | Path, rows: list[dict]) -> list[float]:
    """Scores of each preference-shaped row's prompt + chosen reply (chat rows rendered by the chat template)."""
    from halo_forge.evaluation import pair_texts

    _, tokenizer = load(model_path)
    return score(model_path, [p + c for p, c, _ in (pair_texts(r, tokenizer) for r in rows)])
