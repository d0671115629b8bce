"""DPO loss types: how each halo-forge `--loss-type` maps onto TRL 1.16, and the two TRL no longer has.

TRL 1.16 computes its losses inline from `loss_type` / `loss_weights` lists:
  - sigmoid → ["sigmoid"]            -log σ(β·Δ)
  - ipo     → ["ipo"]                (Δ/|y| − 1/(2β))², TRL's per-token-normalised IPO
  - hinge   → ["hinge"]              relu(1 − β·Δ)
  - rpo     → ["sigmoid", "sft"] with weights [1, α]: DPO + α·(mean NLL of the chosen tokens)
where Δ = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)).

Written here, because TRL 1.x dropped them (the only code of our own in the loss):
  - kto_pair, exactly as TRL 0.x defined it (HALOs paper, eq. 7), with the KL reference point of each
    half estimated from the other half of the batch:
        KL_w = mean(log π(y_w) − log π_ref(y_w)).clamp(min=0),  KL_l likewise over y_l
        loss = mean over the 2B terms of [1 − σ(β·(r_w − KL_l)),  1 − σ(β·(KL_w − r_l))]
  - cDPO label smoothing ε on sigmoid (and rpo): −(1−ε)·log σ(β·Δ) − ε·log σ(−β·Δ).
For those, TRL still runs its forward passes and logs its reward metrics; its own term is kept with
weight 0 and ours is added, computed from the same policy and reference log-probabilities.
"""

from __future__ import annotations

LOSS_TYPES = ("sigmoid", "ipo", "hinge", "kto_pair", "rpo")


def trl_loss_spec(loss_type: str, label_smoothing: float = 0.0,
                  rpo_alpha: float = 1.0) -> tuple[list[str], list[float], str | None]:
    """(TRL loss_type list, loss_weights, our own extra loss or None) for a halo-forge loss type."""
    if loss_type == "sigmoid":
        return (["sigmoid"], [0.0], "cdpo") if label_smoothing > 0 else (["sigmoid"], [1.0], None)
    if loss_type == "rpo":
        w = 0.0 if label_smoothing > 0 else 1.0
        return ["sigmoid", "sft"], [w, float(rpo_alpha)], ("cdpo" if label_smoothing > 0 else None)
    if loss_type in ("ipo", "hinge"):
        return [loss_type], [1.0], None
    if loss_type == "kto_pair":
        return ["sigmoid"], [0.0], "kto_pair"
    raise ValueError(f"unknown DPO loss type {loss_type!r}; expected one of {', '.join(LOSS_TYPES)}")


def kto_pair_loss(chosen_logratios, rejected_logratios, beta: float):
    """TRL 0.x `kto_pair` (mean over the 2B per-example terms)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    chosen_kl = chosen_logratios.mean().clamp(min=0)
    rejected_kl = rejected_logratios.mean().clamp(min=0)
    losses = torch.cat((1 - F.sigmoid(beta * (chosen_logratios - rejected_kl)),
                        1 - F.sigmoid(beta * (chosen_kl - rejected_logratios))), 0)
    return losses.mean()


def cdpo_loss(chosen_logratios, rejected_logratios, beta: float, label_smoothing: float):
    """Conservative DPO: the sigmoid loss with labels flipped with probability ε."""
    import torch.nn.functional as F  # noqa: N812

    delta = beta * (chosen_logratios - rejected_logratios)
    return (-(1 - label_smoothing) * F.logsigmoid(delta) - label_smoothing * F.logsigmoid(-delta)).mean()


def trainer_class():
    """TRL's DPOTrainer, subclassed to add the losses TRL dropped (imported lazily: torch, trl)."""
    from trl import DPOTrainer

    class HaloDPOTrainer(DPOTrainer):
        extra_loss: str | None = None  # "kto_pair" | "cdpo" | None (set by the halo-forge trainer)

        def _compute_loss(self, model, inputs, return_outputs):
            if self.extra_loss is None:
                return super()._compute_loss(model, inputs, return_outputs)
            policy_out, ref_out, hooks = [], [], []

            def policy(*args, **kwargs):  # TRL calls the policy through the `model` argument
                out = model(*args, **kwargs)
                policy_out.append(out)
                return out

            if not self.precompute_ref_logps:  # the reference forward goes through ref_model, or the PEFT model
                target = self.ref_model if self.ref_model is not None else self.accelerator.unwrap_model(self.model)
                hooks.append(target.register_forward_hook(lambda _m, _a, out: ref_out.append(out)))
            try:
                result = super()._compute_loss(policy, inputs, return_outputs)
            finally:
                for h in hooks:
                    h.remove()
            seq_len = inputs["completion_mask"].size(1) - 1
            chosen, rejected = policy_out[0].log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:  # the last hooked call is the reference one (with PEFT the policy call is hooked too)
                ref_chosen, ref_rejected = ref_out[-1].log_probs[:, -seq_len:].sum(dim=1).chunk(2, dim=0)
            chosen_lr, rejected_lr = chosen - ref_chosen, rejected - ref_rejected
            if self.extra_loss == "kto_pair":
                extra = kto_pair_loss(chosen_lr, rejected_lr, self.beta)
            else:
                extra = cdpo_loss(chosen_lr, rejected_lr, self.beta, self.label_smoothing)
            if isinstance(result, tuple):
                return (result[0] + extra, *result[1:])
            return result + extra

    return HaloDPOTrainer
