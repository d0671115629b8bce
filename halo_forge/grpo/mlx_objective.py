"""The GRPO objective on MLX: our own code, the same computation as TRL 1.16's GRPOTrainer (checked against it on
identical weights, completions and rewards).

    adv = group_advantages(rewards, group_size=8, scale=not cfg.no_scale_rewards)
    tokens, mask = halo_forge.mlx.tokenize.sequence_batch(prompt_ids, completion_ids, pad_id)
    ref = token_logps(ref_model, tokens, temperature) if beta else None          # frozen reference
    loss_fn = functools.partial(grpo_loss, beta=beta, epsilon=0.2, loss_type="dapo", temperature=0.9,
                                max_completion_length=cfg.max_completion_length)
    step([(tokens, mask, adv, None, ref)])     # old log-probs None: one update per sampling, ratio 1 with a gradient

Per completion token t of completion i, with r_t = π(t)/π_old(t) (π_old: the sampling policy) and A_i:
  loss_t = −min(r_t·A_i, clip(r_t, 1−ε, 1+ε)·A_i) + β·r_t·(exp(ref_t − logp_t) − (ref_t − logp_t) − 1)
(the k3 KL, weighted by the ratio as TRL 1.16's default use_bias_correction_kl does)
reduced as TRL's loss types: grpo (mean of per-sequence means), bnpo (token mean), dr_grpo (sum / (B · max
completion length)), dapo (sum / completion tokens in the batch). Log-probabilities are of logits / temperature.
When π_old is the current policy, r_t = exp(logp − stop_gradient(logp)) = 1 but its gradient is ∇logp: the policy
gradient is A_i·∇logp_t, never zero for a batch whose rewards differ.
"""

from __future__ import annotations

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
STD_EPS = 1e-4  # TRL's: advantages / (std + 1e-4)


def group_advantages(rewards, group_size: int, *, scale: bool = True):
    """(rewards − group mean) [/ (group std + 1e-4)] for consecutive groups of `group_size` (mx.array, float32).
    A group whose rewards are all equal gets advantage 0 (std 0, never NaN); NaN rewards (unscorable) are left
    out of their group's mean and std and get advantage 0; a group of one has std 0."""
    import mlx.core as mx
    import numpy as np

    r = np.asarray(rewards, dtype=np.float64).reshape(-1, group_size)
    if r.size == 0:
        return mx.zeros((0,), dtype=mx.float32)
    valid = ~np.isnan(r)
    count = valid.sum(axis=1, keepdims=True)
    mean = np.where(valid, r, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    sq = np.where(valid, (r - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
    std = np.sqrt(sq / np.maximum(count - 1, 1)) * (count > 1)   # Bessel-corrected, as TRL's nanstd
    adv = r - mean
    if scale:
        adv = adv / (std + STD_EPS)
    adv = np.where(valid, adv, 0.0)
    return mx.array(adv.reshape(-1).astype(np.float32))


def completion_logps(model, tokens, temperature: float = 1.0):
    """Per-token log-probabilities (B, L−1) of logits / temperature, evaluated and outside any gradient (the
    sampling policy's or the reference's)."""
    import mlx.core as mx

    from halo_forge.mlx.steps import token_logps

    out = mx.stop_gradient(token_logps(model, tokens, temperature))
    mx.eval(out)
    return out


def _reduce(per_token, mask, loss_type: str, max_completion_length: int | None, num_items):
    import mlx.core as mx

    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mx.maximum(mask.sum(-1), 1.0)).mean()
    if loss_type == "bnpo":
        return (per_token * mask).sum() / mx.maximum(mask.sum(), 1.0)
    if loss_type == "dr_grpo":
        if not max_completion_length:
            raise ValueError("loss_type dr_grpo needs max_completion_length")
        return (per_token * mask).sum() / (per_token.shape[0] * max_completion_length)
    if loss_type == "dapo":
        return (per_token * mask).sum() / mx.maximum(mask.sum() if num_items is None else num_items, 1.0)
    raise ValueError(f"unknown GRPO loss type {loss_type!r} on MLX; expected one of {', '.join(LOSS_TYPES)}")


def grpo_loss(model, tokens, mask, advantages, old_logps=None, ref_logps=None, *, beta: float = 0.0,
              epsilon: float = 0.2, loss_type: str = "dapo", temperature: float = 1.0,
              max_completion_length: int | None = None, num_items=None, kl_ratio_correction: bool = True):
    """(loss, metrics) for prompt+completion rows `tokens` (B, L) with completion `mask` (B, L) and one advantage
    per row. `old_logps` (B, L−1): the sampling policy's (None: this very policy, detached); `ref_logps`
    (B, L−1): the frozen reference's, needed when beta > 0. `kl_ratio_correction` weights the KL by the
    importance ratio (TRL 1.16's default `use_bias_correction_kl=True`). The policy forward runs here."""
    import mlx.core as mx

    from halo_forge.mlx.steps import token_logps

    logps = token_logps(model, tokens, temperature)
    m = mask[:, 1:]
    old = mx.stop_gradient(logps) if old_logps is None else old_logps
    adv = advantages[:, None]
    ratio = mx.exp(logps - old)
    clipped = mx.clip(ratio, 1 - epsilon, 1 + epsilon)
    per_token = -mx.minimum(ratio * adv, clipped * adv)
    metrics = {"clip_ratio": ((ratio != clipped).astype(mx.float32) * m).sum() / mx.maximum(m.sum(), 1.0)}
    if beta:
        if ref_logps is None:
            raise ValueError("beta > 0 needs the reference log-probabilities (ref_logps)")
        diff = ref_logps - logps
        kl = mx.exp(diff) - diff - 1
        per_token = per_token + beta * (kl * ratio if kl_ratio_correction else kl)
        metrics["kl"] = (kl * m).sum() / mx.maximum(m.sum(), 1.0)
    return _reduce(per_token, m, loss_type, max_completion_length, num_items), metrics
