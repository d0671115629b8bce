"""DPO's config: the field groups DPO honours plus the preference knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, Problem, QuantFields,
                               ScheduleFields, SequenceFields, TrainConfig)

LossType = Literal["sigmoid", "ipo", "hinge", "kto_pair", "rpo"]


class DPOConfig(CheckpointFields, GenerationEvalFields, QuantFields, LoraFields, SequenceFields, ScheduleFields,
                TrainConfig):
    """Direct preference optimisation on prompt/chosen/rejected pairs (TRL DPOTrainer + PEFT)."""

    modality: ClassVar[str] = "dpo"
    summary: ClassVar[str] = "Direct preference optimisation on prompt/chosen/rejected pairs."
    train_help: ClassVar[str] = "Align a model on preference pairs (TRL DPOTrainer + PEFT)."
    example: ClassVar[str] = "halo-forge dpo train \\\n  --dataset ultrafeedback \\\n  --model outputs/sft \\\n  --beta 0.1 --loss-type sigmoid --learning-rate 5e-6 --epochs 1"
    datasets: ClassVar[str] = "halo_forge.data.registry:PREFERENCE_DATASETS"

    output: Path = Field(Path("outputs/dpo"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(5e-6, gt=0, description="Peak learning rate.")
    beta: float = Field(0.1, gt=0, description="Strength of the pull towards the reference (IPO: the regulariser tau).")
    loss_type: LossType = Field("sigmoid", description="sigmoid (DPO), ipo, hinge (SLiC), kto_pair (paired KTO as TRL 0.x defined it) or rpo (DPO + rpo_alpha x NLL of chosen).")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="cDPO: assumed probability that a pair's labels are flipped (sigmoid and rpo only).")
    reference_free: bool = Field(False, description="Keep no reference model: the policy's own step-0 log-probabilities are precomputed once and stand in for it.")
    rpo_alpha: float = Field(1.0, gt=0, description="Weight of the chosen-answer NLL term when --loss-type rpo.")
    ref_model: str | None = Field(None, description="Reference model (hub id or folder); default: the starting model itself (with LoRA: the base with adapters disabled).")

    def _check(self) -> list[Problem]:
        problems = []
        if self.reference_free and self.ref_model is not None:
            problems.append(Problem("ref_model", self.ref_model, "--reference-free keeps no reference model: drop "
                                                                 "--ref-model or --reference-free"))
        if self.label_smoothing > 0 and self.loss_type not in ("sigmoid", "rpo"):
            problems.append(Problem("label_smoothing", self.label_smoothing,
                                    f"cDPO applies to --loss-type sigmoid or rpo, not {self.loss_type}: drop "
                                    "--label-smoothing or change the loss type"))
        return problems
