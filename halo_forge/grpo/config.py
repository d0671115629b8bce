"""GRPO's config: the shared RL fields (prompts, verifiers, sampling) plus the GRPO knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from halo_forge.rl import RLFields

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]


class GRPOConfig(RLFields):
    """Group-relative policy optimisation: sample a group per prompt, reward it with verifiers (TRL GRPOTrainer)."""

    modality: ClassVar[str] = "grpo"

    output: Path = Field(Path("outputs/grpo"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate.")
    batch_size: int = Field(8, gt=0, description="Completions per device step (a multiple of --num-generations).")
    num_generations: int = Field(8, gt=0, description="Completions sampled per prompt (the group).")
    beta: float = Field(0.04, ge=0, description="KL penalty towards the reference; 0 disables it and loads no reference model.")
    epsilon: float = Field(0.2, gt=0, description="PPO-style clipping range of the importance ratio.")
    loss_type: LossType = Field("dapo", description="TRL loss: grpo, dr_grpo, dapo or bnpo.")
    no_scale_rewards: bool = Field(False, description="Do not divide advantages by the group's reward std (Dr. GRPO).")
    reference_free: bool = Field(False, description="Keep no reference model: no KL term (same as --beta 0).")
    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out prompt when measuring the pass rate.")

    @model_validator(mode="after")
    def _grpo_checks(self) -> "GRPOConfig":
        problems = []
        if self.num_generations < 2 and not self.no_scale_rewards:
            problems.append(f"--num-generations {self.num_generations} leaves one completion per group: its reward std "
                            "is 0 and scaled advantages are undefined; use --num-generations 2 or more (or "
                            "--no-scale-rewards)")
        if self.batch_size % self.num_generations:
            problems.append(f"--batch-size {self.batch_size} is not a multiple of --num-generations "
                            f"{self.num_generations}: each step must hold whole groups")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def effective_beta(self) -> float:
        return 0.0 if self.reference_free else self.beta
