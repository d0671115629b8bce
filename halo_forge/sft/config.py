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
    summary: ClassVar[str] = "Supervised fine-tuning on instruction/response pairs, chats or text."
    train_help: ClassVar[str] = "Fine-tune a model on a dataset (TRL SFTTrainer + PEFT)."
    example: ClassVar[str] = "halo-forge sft train \\\n  --dataset codealpaca \\\n  --model Qwen/Qwen2.5-Coder-3B \\\n  --epochs 3 --batch-size 2 --gradient-accumulation 16 \\\n  --lora-rank 16 --lora-alpha 32 --use-dora \\\n  --learning-rate 2e-4 --optim adamw_torch"
    datasets: ClassVar[str] = "halo_forge.data.registry:SFT_DATASETS"

    output: Path = Field(Path("outputs/sft"), description="Folder for the model and training_summary.json.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training data (ignored when --max-steps is set).")
    packing: bool = Field(False, description="Pack several short rows into each max-length sequence.")
    train_on_prompt: bool = Field(False, description="Also learn the prompt tokens (default: loss on completions / assistant turns only).")
