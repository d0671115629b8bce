"""Sampling on MLX with mlx-lm's sampler and KV cache: N completions per prompt, or one greedy completion.

    sample(model, tokenizer, [prompt_ids], n=8, temperature=0.9, max_tokens=6, seed=0)  # -> [[ids] * 8]

The N samples of every prompt of one length run as one batch over mlx-lm's KV cache (prompts of one length
need no padding, so a row computes as it would alone). A completion ends with the first end-of-sequence token
(kept, as TRL keeps it) or at max_tokens. A fixed seed gives the same samples (mlx's generator is seeded per call).
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
    from mlx_lm.sample_utils import make_sampler

    sampler = make_sampler(temp=temperature, top_p=top_p if top_p < 1.0 else 0.0)
    if seed is not None:
        mx.random.seed(int(seed))
    out: list[list[list[int]]] = [[] for _ in prompts]
    for idx in _same_length(prompts):  # one batch per prompt length: no padding
        rows = _decode(model, [prompts[i] for i in idx for _ in range(n)], sampler, _eos_ids(tokenizer), max_tokens)
        for j, i in enumerate(idx):
            out[i] = rows[j * n:(j + 1) * n]
    return out


def _same_length(prompts: list[list[int]], batch: int | None = None) -> list[list[int]]:
    """Indices of the prompts grouped by length (first-seen order), in chunks of at most `batch`."""
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    size = batch or max(1, len(prompts))
    return [idx[j:j + size] for idx in groups.values() for j in range(0, len(idx), size)]


def _decode(model, rows: list[list[int]], sampler, eos: set[int], max_tokens: int) -> list[list[int]]:
    """One batch of equally long prompts decoded together over mlx-lm's KV cache, until every row has produced
    an end-of-sequence token or `max_tokens`."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(model)
    logits = model(mx.array(rows), cache=cache)[:, -1, :]
    steps, done = [], mx.zeros((len(rows),), dtype=mx.bool_)
    for _ in range(max_tokens):
        logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        token = sampler(logprobs)
        steps.append(token)
        done = done | mx.array([int(t) in eos for t in token.tolist()])
        if bool(done.all()):
            break
        logits = model(token[:, None], cache=cache)[:, -1, :]
        mx.eval(logits)
    out = mx.stack(steps, axis=1).tolist() if steps else [[] for _ in rows]
    return [_cut(r, eos) for r in out]


def greedy_ids(model, tokenizer, prompts: list[list[int]], *, max_tokens: int, batch_size: int = 64) -> list[list[int]]:
    """The greedy completion (token ids) of each prompt; prompts of the same length are decoded together, up to
    `batch_size` at a time (no padding, so a row computes as it would alone)."""
    from mlx_lm.sample_utils import make_sampler

    sampler, eos = make_sampler(temp=0.0), _eos_ids(tokenizer)
    out: list[list[int]] = [[] for _ in prompts]
    for chunk in _same_length(prompts, batch_size):
        for i, ids in zip(chunk, _decode(model, [prompts[i] for i in chunk], sampler, eos, max_tokens)):
            out[i] = ids
    return out


def decode(tokenizer, ids: list[int]) -> str:
    """Completion text without special tokens (as TRL and halo_forge.evaluation decode)."""
    from halo_forge.mlx.weights import hf_tokenizer

    return hf_tokenizer(tokenizer).decode(ids, skip_special_tokens=True)


def greedy_texts(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int = 64) -> list[str]:
    """The greedy completion text of each prompt text (held-out evaluation)."""
    from halo_forge.mlx.weights import hf_tokenizer

    tok = hf_tokenizer(tokenizer)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    return [decode(tokenizer, c) for c in greedy_ids(model, tokenizer, ids, max_tokens=max_new_tokens,
                                                     batch_size=batch_size)]
