"""DPO losses on MLX: our own code, the same formulas as the PyTorch path (halo_forge/dpo/losses.py: TRL 1.16's
inline losses, plus kto_pair as TRL 0.x defined it), checked against it on identical weights and batch.

    tokens, mask = halo_forge.mlx.tokenize.preference_batch(examples, pad_id)    # [chosen; rejected]
    ref_c, ref_r = reference_logps(ref_model, tokens, mask)       # or the step-0 policy (reference-free)
    loss_fn = functools.partial(dpo_loss, beta=0.1, loss_type="sigmoid")
    step = halo_forge.mlx.steps.make_train_step(model, optimizer, loss_fn)
    step([(tokens, mask, ref_c, ref_r)])

With Δ = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)), sums over completion tokens:
  sigmoid   −log σ(β·Δ)   (cDPO with label smoothing ε: −(1−ε)·log σ(β·Δ) − ε·log σ(−β·Δ))
  ipo       (Δ_w/|y_w| − Δ_l/|y_l| − 1/(2β))², TRL's per-token-normalised IPO
  hinge     relu(1 − β·Δ)
  kto_pair  mean of [1 − σ(β·(r_w − KL_l)), 1 − σ(β·(KL_w − r_l))], KL_· = mean(log-ratios of that half) ≥ 0
  rpo       sigmoid (cDPO too) + α · mean NLL of the chosen completion tokens (TRL's ["sigmoid", "sft"], [1, α])
Reference-model mode takes the reference log-probabilities from a frozen model (or the LoRA base with its
adapters disabled); reference-free mode from the step-0 policy, computed once — as the PyTorch path does.
"""

from __future__ import annotations

LOSS_TYPES = ("sigmoid", "ipo", "hinge", "kto_pair", "rpo")


def sequence_logps(model, tokens, mask):
    """Sum of log p(completion tokens) per row: (B,)."""
    from halo_forge.mlx.steps import token_logps

    return (token_logps(model, tokens) * mask[:, 1:]).sum(axis=-1)


def reference_logps(model, tokens, mask):
    """(ref chosen, ref rejected) log-probabilities, evaluated and outside any gradient."""
    import mlx.core as mx

    logps = mx.stop_gradient(sequence_logps(model, tokens, mask))
    mx.eval(logps)
    half = logps.shape[0] // 2
    return logps[:half], logps[half:]


def pair_losses(chosen_lr, rejected_lr, *, beta: float, loss_type: str, chosen_len=None, rejected_len=None,
                label_smoothing: float = 0.0):
    """Per-pair losses from the log-ratios log π − log π_ref of each half ((B,) each; kto_pair gives (2B,))."""
    import mlx.core as mx
    import mlx.nn as nn

    delta = chosen_lr - rejected_lr
    if loss_type in ("sigmoid", "rpo"):  # rpo's NLL term is added by dpo_loss
        return -(1 - label_smoothing) * nn.log_sigmoid(beta * delta) - label_smoothing * nn.log_sigmoid(-beta * delta)
    if loss_type == "hinge":
        return nn.relu(1 - beta * delta)
    if loss_type == "ipo":
        ipo_delta = chosen_lr / mx.maximum(chosen_len, 1.0) - rejected_lr / mx.maximum(rejected_len, 1.0)
        return (ipo_delta - 1 / (2 * beta)) ** 2
    if loss_type == "kto_pair":
        chosen_kl = mx.maximum(chosen_lr.mean(), 0.0)
        rejected_kl = mx.maximum(rejected_lr.mean(), 0.0)
        return mx.concatenate([1 - mx.sigmoid(beta * (chosen_lr - rejected_kl)),
                               1 - mx.sigmoid(beta * (chosen_kl - rejected_lr))])
    raise ValueError(f"unknown DPO loss type {loss_type!r} on MLX; expected one of {', '.join(LOSS_TYPES)}")


def dpo_loss(model, tokens, mask, ref_chosen, ref_rejected, *, beta: float, loss_type: str = "sigmoid",
             label_smoothing: float = 0.0, rpo_alpha: float = 1.0):
    """(mean loss, metrics) for a [chosen; rejected] batch; the policy forward runs here, inside whatever
    `nn.value_and_grad` calls this. Metrics: TRL's rewards/chosen, rewards/rejected, rewards/accuracies, margins."""
    import mlx.core as mx

    from halo_forge.mlx.steps import token_logps

    per_token = token_logps(model, tokens) * mask[:, 1:]
    logps = per_token.sum(axis=-1)
    half = logps.shape[0] // 2
    lengths = mask.sum(axis=-1)
    chosen_lr, rejected_lr = logps[:half] - ref_chosen, logps[half:] - ref_rejected
    losses = pair_losses(chosen_lr, rejected_lr, beta=beta, loss_type=loss_type, chosen_len=lengths[:half],
                         rejected_len=lengths[half:], label_smoothing=label_smoothing)
    chosen_r, rejected_r = beta * chosen_lr, beta * rejected_lr
    metrics = {"rewards/chosen": chosen_r.mean(), "rewards/rejected": rejected_r.mean(),
               "rewards/accuracies": (chosen_r > rejected_r).astype(chosen_r.dtype).mean(),
               "rewards/margins": (chosen_r - rejected_r).mean()}
    loss = losses.mean()
    if loss_type == "rpo":  # TRL's "sft" term: the mean NLL over every chosen completion token of the batch
        loss = loss - rpo_alpha * per_token[:half].sum() / mx.maximum(mask[:half, 1:].sum(), 1.0)
    return loss, metrics
