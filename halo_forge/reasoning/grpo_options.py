"""The GRPO loss options TRL 1.16's GRPOConfig accepts, checked before anything loads.

Read from trl/trainer/grpo_config.py and grpo_trainer.py (1.16) and each one proved by a real optimiser step
on the tiny model (tests/test_reasoning_dynamic_sampling.py):

- ``loss_type``: grpo, dapo (TRL's default), dr_grpo, bnpo, cispo, sapo, luspo, vespo. TRL checks the name
  only when it computes the loss (an unknown one fails at the first step), so we check it here. luspo needs
  ``importance_sampling_level="sequence"``; vespo needs "token"; with "sequence", TRL refuses bnpo, dr_grpo,
  dapo and cispo.
- ``epsilon`` / ``epsilon_high``: the lower and upper clipping bounds (DAPO's clip-higher: 0.2 / 0.28);
  with cispo ``epsilon_high`` is the ε_max of the clipped importance weights (ScaleRL: 5.0).
- ``mask_truncated_completions``: completions cut at ``max_completion_length`` get no loss (DAPO).
- ``scale_rewards``: group (divide advantages by the group's std), batch (by the batch's std), none
  (Dr. GRPO); TRL also maps True → group and False → none.
"""

from __future__ import annotations

LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")
IMPORTANCE_LEVELS = ("token", "sequence")
SEQUENCE_REFUSED = ("bnpo", "dr_grpo", "dapo", "cispo")


def loss_problems(*, loss_type: str, scale_rewards: str = "group", epsilon: float = 0.2,
                  epsilon_high: float | None = None, importance_sampling_level: str = "token") -> list:
    """Every problem with these options as ``halo_forge.config.Problem`` (field, value, fix), for a trainer's
    ``check(config, caps)``; empty: TRL accepts them."""
    from halo_forge.config import Problem

    out = []
    if loss_type not in LOSS_TYPES:
        out.append(Problem("loss_type", loss_type, f"use one of {', '.join(LOSS_TYPES)}"))
    if scale_rewards not in SCALE_REWARDS:
        out.append(Problem("scale_rewards", scale_rewards, f"use one of {', '.join(SCALE_REWARDS)}"))
    if importance_sampling_level not in IMPORTANCE_LEVELS:
        out.append(Problem("importance_sampling_level", importance_sampling_level, "use token or sequence"))
    if not epsilon > 0:
        out.append(Problem("epsilon", epsilon, "give a clipping range above 0"))
    if epsilon_high is not None and epsilon_high < epsilon:
        out.append(Problem("epsilon_high", epsilon_high, f"give at least --epsilon ({epsilon}); DAPO uses 0.28"))
    if loss_type == "luspo" and importance_sampling_level != "sequence":
        out.append(Problem("loss_type", loss_type, "luspo needs --importance-sampling-level sequence"))
    if loss_type == "vespo" and importance_sampling_level != "token":
        out.append(Problem("loss_type", loss_type, "vespo needs --importance-sampling-level token"))
    if importance_sampling_level == "sequence" and loss_type in SEQUENCE_REFUSED:
        out.append(Problem("importance_sampling_level", importance_sampling_level,
                           f"TRL refuses it with --loss-type {loss_type}; use grpo (GSPO's setup) or luspo"))
    return out


def loss_args(*, loss_type: str, scale_rewards: str = "group", epsilon: float = 0.2,
              epsilon_high: float | None = None, mask_truncated_completions: bool = False,
              importance_sampling_level: str = "token") -> dict:
    """The ``trl.GRPOConfig`` keyword arguments for these options (check :func:`loss_problems` first)."""
    return {"loss_type": loss_type, "scale_rewards": scale_rewards, "epsilon": epsilon,
            "epsilon_high": epsilon_high, "mask_truncated_completions": bool(mask_truncated_completions),
            "importance_sampling_level": importance_sampling_level}
