"""Sampling on MLX with mlx-lm's sampler and KV cache: N completions per prompt, or one greedy completion.

    sample(model, tokenizer, [prompt_ids], n=8, temperature=0.9, max_tokens=6, seed=0)  # -> [[ids] * 8]

The N samples of a prompt run as one batch of N rows over mlx-lm's prompt cache (the prompt is shared, so no
padding). A completion ends with the first end-of-sequence token (kept, as TRL keeps it) or at max_tokens.
A fixed seed gives the same samples (mlx's generator is seeded per call through a key).
"""

from __future__ import annotations


def _eos_ids(tokenizer) -> set[int]:
    found = set()
    for value in (getattr(tokenizer, "eos_token_ids", None), getattr(tokenizer, "eos_token_id", None)):
        if isinstance(value, int):
            found.add(value)
        elif value:
            found.update(int(v) for v in value)
    return found


def _cut(row: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(row):
        if t in eos:
            return row[:i + 1]
    return row


def sample(model, tokenizer, prompts: list[list[int]], *, n: int = 1, temperature: float = 1.0, top_p: float = 1.0,
           max_tokens: int = 256, seed: int | None = None) -> list[list[list[int]]]:
    """For each prompt (token ids), `n` completions (token ids, EOS included when produced). temperature 0: greedy."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache
    from mlx_lm.sample_utils import make_sampler

    sampler = make_sampler(temp=temperature, top_p=top_p if top_p < 1.0 else 0.0)
    eos = _eos_ids(tokenizer)
    if seed is not None:
        mx.random.seed(int(seed))
    out = []
    for prompt in prompts:
        cache = make_prompt_cache(model)
        logits = model(mx.array([prompt] * n), cache=cache)[:, -1, :]
        steps, done = [], mx.zeros((n,), dtype=mx.bool_)
        for _ in range(max_tokens):
            logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
            token = sampler(logprobs)
            steps.append(token)
            done = done | mx.array([int(t) in eos for t in token.tolist()])
            if bool(done.all()):
                break
            logits = model(token[:, None], cache=cache)[:, -1, :]
            mx.eval(logits)
        rows = mx.stack(steps, axis=1).tolist() if steps else [[] for _ in range(n)]
        out.append([_cut(r, eos) for r in rows])
    return out


def decode(tokenizer, ids: list[int]) -> str:
    """Completion text without special tokens (as TRL and halo_forge.evaluation decode)."""
    from halo_forge.mlx.weights import hf_tokenizer

    return hf_tokenizer(tokenizer).decode(ids, skip_special_tokens=True)


def greedy_texts(model, tokenizer, prompts: list[str], *, max_new_tokens: int) -> list[str]:
    """The greedy completion text of each prompt text (held-out evaluation)."""
    from halo_forge.mlx.weights import hf_tokenizer

    tok = hf_tokenizer(tokenizer)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    return [decode(tokenizer, c[0]) for c in sample(model, tokenizer, ids, n=1, temperature=0.0,
                                                    max_tokens=max_new_tokens)]
