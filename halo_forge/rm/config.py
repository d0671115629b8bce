"""RM's config: the field groups reward-model training honours plus reward centring."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from halo_forge.config import (CheckpointFields, HeldoutFields, LoraFields, QuantFields, ScheduleFields,
                               SequenceFields, TrainConfig)


class RMConfig(CheckpointFields, HeldoutFields, QuantFields, LoraFields, SequenceFields, ScheduleFields, TrainConfig):
    """Reward model: a sequence-classification head trained on preference pairs (Bradley-Terry, TRL RewardTrainer)."""

    modality: ClassVar[str] = "rm"
    summary: ClassVar[str] = "Reward models: a scalar head trained on preference pairs."
    train_help: ClassVar[str] = "Train a reward model on preference pairs (TRL RewardTrainer, Bradley-Terry, sequence-classification head)."
    example: ClassVar[str] = "halo-forge rm train --dataset hh_rlhf --model Qwen/Qwen2.5-0.5B --center-rewards-coefficient 0.01"
    datasets: ClassVar[str] = "halo_forge.data.registry:PREFERENCE_DATASETS"

    output: Path = Field(Path("outputs/rm"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
    center_rewards_coefficient: float | None = Field(None, ge=0, description="Weight of the penalty that keeps rewards centred on zero (e.g. 0.01); default off.")
    eval_batch_size: int = Field(32, gt=0, description="Batch size for held-out scoring.")
