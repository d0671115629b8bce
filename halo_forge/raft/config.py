"""RAFT's config: the field groups RAFT honours plus the cycle knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from halo_forge.config import GenerationEvalFields, LoraFields, Problem, ScheduleFields, SequenceFields, TrainConfig
from halo_forge.rl import RAFTFields, RolloutFields


class RAFTConfig(GenerationEvalFields, RAFTFields, RolloutFields, LoraFields, SequenceFields, ScheduleFields,
                 TrainConfig):
    """Reward-ranked fine-tuning: per cycle, sample from the current policy, verify, keep the best, SFT on them.

    Resumable per cycle (--resume). No --load-in-4bit: each cycle's adapter is merged into the policy."""

    modality: ClassVar[str] = "raft"
    summary: ClassVar[str] = "RAFT: sample, verify, keep the best, fine-tune on them; repeat for several cycles."
    train_help: ClassVar[str] = "RAFT: each cycle samples from the current policy, verifies, keeps the best and fine-tunes on them."
    example: ClassVar[str] = "halo-forge raft train \\\n  --dataset code_prompts --model outputs/sft \\\n  --verifier execution --cycles 3 --samples-per-prompt 8 --keep-percent 0.25 --reward-threshold 1.0"
    datasets: ClassVar[str] = "halo_forge.data.prompts:PROMPT_DATASETS"

    output: Path = Field(Path("outputs/raft"), description="Folder for the model and training_summary.json.")
    resume: bool = Field(False, description="Continue from the last finished cycle of an interrupted run (rollouts are cached per cycle).")
    learning_rate: float = Field(1e-4, gt=0, description="Peak learning rate of each cycle's fine-tuning.")
    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out prompt when measuring the pass rate.")
    rollout_only: bool = Field(False, description="With --accelerator mlx: sample with MLX, fine-tune with PyTorch (TRL's SFTTrainer); the MLX engine loads the current policy each cycle.")

    def _check(self) -> list[Problem]:  # keep_percent is checked by RAFTFields
        if self.rollout_only and self.accelerator != "mlx":
            return [Problem("rollout_only", True, "only MLX runs split rollouts from the update: add --accelerator mlx "
                                                  "(MLX samples, PyTorch fine-tunes), or use --rollout-engine to choose "
                                                  "the sampler of a PyTorch run")]
        return []
