"""SFT's config: the field groups SFT honours plus its own knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, QuantFields, ScheduleFields,
                               SequenceFields, TrainConfig)


class SFTConfig(CheckpointFields, GenerationEvalFields, QuantFields, LoraFields, SequenceFields, ScheduleFields,
                TrainConfig):
    """Supervised fine-tuning on instruction/response pairs, chats or plain text."""

    modality: ClassVar[str] = "sft"

    output: Path = Field(Path("outputs/sft"), description="Folder for the model and training_summary.json.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training data (ignored when --max-steps is set).")
    packing: bool = Field(False, description="Pack several short rows into each max-length sequence.")
    train_on_prompt: bool = Field(False, description="Also learn the prompt tokens (default: loss on completions / assistant turns only).")
