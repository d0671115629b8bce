"""GRPO's config: the shared RL fields (prompts, verifiers, sampling) plus the GRPO knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, Problem, QuantFields,
                               ScheduleFields, TrainConfig)
from halo_forge.rl import RolloutFields

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]


class GRPOConfig(CheckpointFields, GenerationEvalFields, RolloutFields, QuantFields, LoraFields, ScheduleFields,
                 TrainConfig):
    """Group-relative policy optimisation: sample a group per prompt, reward it with verifiers (TRL GRPOTrainer).

    No --max-length: TRL's GRPO bounds only the completion (--max-completion-length)."""

    modality: ClassVar[str] = "grpo"
    summary: ClassVar[str] = "GRPO: group-relative policy optimisation with verifier rewards (TRL GRPOTrainer)."
    train_help: ClassVar[str] = "Optimise a policy against verifier rewards with GRPO (TRL GRPOTrainer)."
    example: ClassVar[str] = "halo-forge grpo train \\\n  --dataset gsm8k --model outputs/sft \\\n  --verifier math --num-generations 8 --beta 0.04 --epsilon 0.2 --temperature 0.9 \\\n  --loss-type dapo --max-completion-length 256 --learning-rate 1e-6"
    datasets: ClassVar[str] = "halo_forge.data.prompts:PROMPT_DATASETS"

    output: Path = Field(Path("outputs/grpo"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate.")
    batch_size: int = Field(8, gt=0, description="Completions per device step (a multiple of --num-generations).")
    num_generations: int = Field(8, gt=0, description="Completions sampled per prompt (the group).")
    beta: float = Field(0.04, ge=0, description="KL penalty towards the reference; 0 disables it and loads no reference model.")
    epsilon: float = Field(0.2, gt=0, description="PPO-style clipping range of the importance ratio.")
    loss_type: LossType = Field("dapo", description="TRL loss: grpo, dr_grpo, dapo or bnpo.")
    no_scale_rewards: bool = Field(False, description="Do not divide advantages by the group's reward std (Dr. GRPO).")
    reference_free: bool = Field(False, description="Keep no reference model: no KL term (same as --beta 0).")
    vllm_mode: Literal["colocate", "server"] = Field("colocate", description="With --rollout-engine vllm: colocate (in this process) or server (a running `trl vllm-serve`).")
    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out prompt when measuring the pass rate.")

    def _check(self) -> list[Problem]:
        problems = []
        if self.num_generations < 2 and not self.no_scale_rewards:
            problems.append(Problem("num_generations", self.num_generations,
                                    "leaves one completion per group: its reward std is 0 and scaled advantages are "
                                    "undefined; use --num-generations 2 or more (or --no-scale-rewards)"))
        if self.batch_size % self.num_generations:
            problems.append(Problem("batch_size", self.batch_size,
                                    f"not a multiple of --num-generations {self.num_generations}: each step must "
                                    "hold whole groups"))
        return problems

    @property
    def effective_beta(self) -> float:
        return 0.0 if self.reference_free else self.beta
