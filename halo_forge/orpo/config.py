"""ORPO's config: the field groups ORPO honours plus λ and the completion length."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, QuantFields, ScheduleFields,
                               SequenceFields, TrainConfig)


class ORPOConfig(CheckpointFields, GenerationEvalFields, QuantFields, LoraFields, SequenceFields, ScheduleFields,
                 TrainConfig):
    """Odds-ratio preference optimisation: SFT on chosen + an odds-ratio penalty on rejected, no reference model."""

    modality: ClassVar[str] = "orpo"
    summary: ClassVar[str] = "Odds-ratio preference optimisation (no reference model)."
    train_help: ClassVar[str] = "Align a model on preference pairs with ORPO (TRL's experimental ORPOTrainer + PEFT)."
    example: ClassVar[str] = "halo-forge orpo train --dataset ultrafeedback --model Qwen/Qwen2.5-0.5B-Instruct --beta 0.1"
    datasets: ClassVar[str] = "halo_forge.data.registry:PREFERENCE_DATASETS"

    output: Path = Field(Path("outputs/orpo"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(8e-6, gt=0, description="Peak learning rate.")
    beta: float = Field(0.1, gt=0, description="lambda: weight of the odds-ratio term against the chosen NLL.")
    max_completion_length: int | None = Field(None, gt=0, description="Maximum tokens per completion (default: no limit beyond --max-length).")
