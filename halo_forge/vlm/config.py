"""The VLM trainer's config: the field groups it honours (schedule, LoRA, held-out evaluation, checkpoints, the
RL rollout, GRPO's group, RAFT's cycles) plus its own knobs: the method, what to freeze, image size limits."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import CheckpointFields, GenerationEvalFields, LoraFields, Problem, ScheduleFields, TrainConfig
from halo_forge.rl import GroupFields, Method, RAFTFields, RolloutFields, method_problems

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]

# methods → the fields only they use (set for another method, each is a ConfigError naming the method)
METHOD_FIELDS = {
    ("grpo",): ("num_generations", "no_scale_rewards", "beta", "epsilon", "loss_type"),
    ("raft",): ("cycles", "samples_per_prompt", "prompts_per_cycle", "keep_percent", "reward_threshold",
                "min_samples"),
    ("grpo", "raft"): ("temperature", "max_completion_length", "rollout_engine"),
    ("sft", "grpo"): ("checkpoint_every",),
}


class VLMConfig(CheckpointFields, GenerationEvalFields, RAFTFields, GroupFields, RolloutFields, LoraFields,
                ScheduleFields, TrainConfig):
    """Vision-language models on image + text rows: SFT (TRL's vision collator), GRPO (TRL GRPOTrainer with image
    prompts) or RAFT, judged on held-out answers scored by the verifiers (vqa, json_extract, chart)."""

    modality: ClassVar[str] = "vlm"
    summary: ClassVar[str] = "Vision-language models: SFT, GRPO or RAFT on image + text rows, judged by VLM verifiers."
    train_help: ClassVar[str] = "Train a vision-language model on image + text rows (--method sft, grpo or raft)."
    example: ClassVar[str] = ("halo-forge vlm train \\\n  --dataset shapes --model halo-forge/tiny-llava --method sft "
                              "--no-lora \\\n  --max-steps 100 --batch-size 32 --learning-rate 2e-3 --verifier vqa")
    datasets: ClassVar[str] = "halo_forge.data.vision:VLM_DATASETS"

    model: str = Field("halo-forge/tiny-llava", description="Base model: an image-text-to-text hub id (LLaVA, Idefics …), a local folder, or halo-forge/tiny-llava.")
    output: Path = Field(Path("outputs/vlm"), description="Folder for the model and training_summary.json.")
    method: Method = Field("sft", description="sft: learn the rows' answers; grpo: sample a group per image prompt and learn from the verifiers' rewards; raft: sample, keep what the verifiers pass, fine-tune on it, in cycles.")
    batch_size: int = Field(8, gt=0, description="Per-device batch size: rows per step (grpo: completions per step, a multiple of --num-generations).")
    freeze_vision_tower: bool = Field(False, description="Keep the vision encoder's weights fixed (with LoRA: no adapters on it).")
    freeze_projector: bool = Field(False, description="Keep the image-to-text projector's weights fixed (with LoRA: no adapters on it).")
    max_image_side: int | None = Field(None, gt=0, description="Shrink images whose longer side exceeds this many pixels (aspect kept) before the processor sees them.")
    verifiers: list[str] = Field(["vqa"], description="Verifier(s) scoring answers: vqa, json_extract, chart … (`halo-forge verifiers list`); the held-out accuracy is their pass rate; on the command line --verifier NAME, repeatable.")
    rollout_engine: Literal["auto", "torch"] = Field("auto", description="Sampling engine: transformers' generate (auto and torch alike: the VLM trainer has no vLLM or MLX path).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the rollouts (grpo, raft).")
    max_completion_length: int = Field(16, gt=0, description="Maximum new tokens per sampled answer (grpo, raft).")
    beta: float = Field(0.0, ge=0, description="GRPO: KL penalty towards the start model; 0 loads no reference model.")
    epsilon: float = Field(0.2, gt=0, description="GRPO: PPO-style clipping range of the importance ratio.")
    loss_type: LossType = Field("dapo", description="GRPO: TRL loss, grpo, dr_grpo, dapo or bnpo.")
    eval_max_new_tokens: int = Field(16, gt=0, description="Tokens generated per held-out image prompt when measuring the verifiers' pass rate.")
    resume: bool = Field(False, description="Continue an interrupted run with the same config: from its last checkpoint (sft, grpo) or after its last finished cycle (raft).")

    def _check(self) -> list[Problem]:
        return method_problems(self, METHOD_FIELDS)
