"""The reasoning trainer's config: one run of SFT, GRPO or RAFT (`--method`) on think/answer rows, rewarded by
the reasoning rewards (answer through math-verify, the think/answer format, optional length shaping).

The rewards are fields (`--answer-weight`, `--format-weight`, `--overlong-buffer`, `--cosine-weight`); the
config presents them as the verifier list the RL machinery reads (`verifiers`, `verifier_weights`,
`verifier_options()`, `verifier`), so GRPO's reward bridge, RAFT's cycles and the cache key use them unchanged.
A field of another method (e.g. `--num-generations` with `--method sft`) is refused, naming the methods it
belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, Problem, QuantFields,
                               ScheduleFields, SequenceFields, TrainConfig)
from halo_forge.rl import RAFTFields

Method = Literal["sft", "grpo", "raft"]
LossType = Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo"]  # = grpo_options.LOSS_TYPES
REWARDS = ("answer_weight", "format_weight", "overlong_buffer", "overlong_weight", "cosine_weight")
SAMPLING = ("rollout_engine", "temperature", "max_completion_length")
GRPO_ONLY = ("num_generations", "beta", "epsilon", "epsilon_high", "loss_type", "scale_rewards",
             "mask_truncated_completions", "importance_sampling_level", "dynamic_sampling_rounds")
RAFT_ONLY = ("cycles", "samples_per_prompt", "prompts_per_cycle", "keep_percent", "reward_threshold", "min_samples")
# field -> the methods that use it (every other field is used by all three)
METHODS_OF: dict[str, tuple[str, ...]] = {
    "max_length": ("sft", "raft"), "checkpoint_every": ("sft", "grpo"), "load_in_4bit": ("sft", "grpo"),
    **{f: ("grpo", "raft") for f in REWARDS + SAMPLING}, **{f: ("grpo",) for f in GRPO_ONLY},
    **{f: ("raft",) for f in RAFT_ONLY}}


class ReasoningConfig(CheckpointFields, GenerationEvalFields, RAFTFields, QuantFields, LoraFields, SequenceFields, ScheduleFields,
                      TrainConfig):
    """Reasoning in the think/answer format: `<think>…</think>` then the answer. --method sft learns worked
    solutions; grpo and raft sample from the policy and reward the answer (math-verify against the row's
    `answer`), the format and, optionally, the length. GRPO adds DAPO's dynamic sampling (--dynamic-sampling-rounds)."""

    modality: ClassVar[str] = "reasoning"
    summary: ClassVar[str] = "Reasoning: think/answer SFT, GRPO (loss variants, dynamic sampling) or RAFT with math rewards."
    train_help: ClassVar[str] = "Train think/answer reasoning with SFT, GRPO or RAFT (--method), rewarded by math-verify and the format."
    example: ClassVar[str] = "halo-forge reasoning train --method grpo \\\n  --dataset gsm8k --model outputs/reasoning-sft \\\n  --loss-type dapo --epsilon-high 0.28 --mask-truncated-completions --dynamic-sampling-rounds 3 \\\n  --overlong-buffer 64 --max-completion-length 512 --num-generations 8 --learning-rate 1e-6"
    datasets: ClassVar[str] = "halo_forge.data.reasoning_sets:REASONING_DATASETS"

    method: Method = Field("grpo", description="sft (learn the worked solutions), grpo (group-relative policy optimisation) or raft (sample, keep the rewarded, fine-tune).")
    output: Path = Field(Path("outputs/reasoning"), description="Folder for the model and training_summary.json.")
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate (SFT and RAFT usually want more, e.g. 2e-4 with LoRA).")
    eval_max_new_tokens: int = Field(128, gt=0, description="Tokens generated per held-out question when measuring answer accuracy and format rate.")
    answer_weight: float = Field(1.0, ge=0, description="Weight of the answer reward (math-verify on the text after </think>; 0 drops it).")
    format_weight: float = Field(0.5, ge=0, description="Weight of the format reward (exactly one <think>…</think>, then the answer; 0 drops it).")
    overlong_buffer: int | None = Field(None, gt=0, description="Soft overlong punishment (DAPO): the reward falls linearly over the last N tokens of --max-completion-length (default: off).")
    overlong_weight: float = Field(1.0, ge=0, description="Weight of the soft overlong reward (with --overlong-buffer).")
    cosine_weight: float = Field(0.0, ge=0, description="Weight of the cosine-scaled length reward (short right answers best, short wrong ones worst; 0: off).")
    rollout_engine: Literal["auto", "torch", "vllm"] = Field("auto", description="Sampling engine: auto (vllm on a GPU when installed, else torch), torch or vllm.")
    temperature: float = Field(0.9, gt=0, description="Sampling temperature of the rollouts.")
    max_completion_length: int = Field(256, gt=0, description="Maximum new tokens per sampled completion.")
    num_generations: int = Field(8, gt=1, description="GRPO: completions sampled per prompt (the group).")
    batch_size: int = Field(8, gt=0, description="Per-device batch size (GRPO: completions per step, a multiple of --num-generations).")
    beta: float = Field(0.0, ge=0, description="GRPO: KL penalty towards the reference (0: no reference model, as DAPO and Dr. GRPO).")
    epsilon: float = Field(0.2, gt=0, description="GRPO: lower clipping range of the importance ratio (and the upper one without --epsilon-high).")
    epsilon_high: float | None = Field(None, gt=0, description="GRPO: upper clipping range (DAPO's clip-higher, 0.28); at least --epsilon.")
    loss_type: LossType = Field("dapo", description="GRPO: TRL's loss: grpo, dapo, dr_grpo, bnpo, cispo, sapo, luspo or vespo.")
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description="GRPO: divide advantages by the group's reward std, the batch's, or not at all (Dr. GRPO).")
    mask_truncated_completions: bool = Field(False, description="GRPO: no loss on completions cut at --max-completion-length (DAPO).")
    importance_sampling_level: Literal["token", "sequence"] = Field("token", description="GRPO: importance ratios per token, or per sequence (GSPO; with --loss-type grpo or luspo).")
    dynamic_sampling_rounds: int = Field(0, ge=0, description="GRPO: drop groups whose rewards are all equal and resample up to N rounds per batch (DAPO's dynamic sampling; 0: off).")

    def _check(self) -> list[Problem]:
        from halo_forge.reasoning.grpo_options import loss_problems

        problems = [Problem(name, getattr(self, name), f"applies to --method {' or '.join(methods)}, not "
                                                       f"{self.method}: drop it, or use --method {methods[0]}")
                    for name, methods in METHODS_OF.items()
                    if self.method not in methods and getattr(self, name) != type(self).model_fields[name].default]
        if self.method != "sft" and not (self.answer_weight or self.format_weight):
            problems.append(Problem("answer_weight", 0.0, "and --format-weight are both 0: give the answer or the "
                                                          "format reward a weight"))
        if self.overlong_buffer is not None and self.overlong_buffer >= self.max_completion_length:
            problems.append(Problem("overlong_buffer", self.overlong_buffer, "must be below --max-completion-length "
                                                                             f"({self.max_completion_length})"))
        if self.overlong_buffer is None and self.overlong_weight != 1.0:
            problems.append(Problem("overlong_weight", self.overlong_weight, "weighs the soft overlong reward, which is "
                                                                             "off: add --overlong-buffer N, or drop it"))
        if self.method == "grpo":
            problems += loss_problems(loss_type=self.loss_type, scale_rewards=self.scale_rewards,
                                      epsilon=self.epsilon, epsilon_high=self.epsilon_high,
                                      importance_sampling_level=self.importance_sampling_level)
            if self.batch_size % self.num_generations:
                problems.append(Problem("batch_size", self.batch_size, f"not a multiple of --num-generations "
                                                                       f"{self.num_generations}: each step must hold whole groups"))
        return problems

    # ---- the rewards, as the verifier list halo_forge.rl reads (GRPO's reward bridge, RAFT's cycles, the cache key)

    def reward_specs(self) -> list[tuple[str, dict[str, Any], float]]:
        from halo_forge.reasoning.rewards import reasoning_reward_specs

        overlong = (self.max_completion_length, self.overlong_buffer) if self.overlong_buffer else None
        return reasoning_reward_specs(answer_weight=self.answer_weight, format_weight=self.format_weight,
                                      overlong=overlong, overlong_weight=self.overlong_weight,
                                      cosine_max_length=self.max_completion_length if self.cosine_weight else None,
                                      cosine_weight=self.cosine_weight, model=self.model)

    @property
    def verifiers(self) -> list[str]:
        return [] if self.method == "sft" else [name for name, _, _ in self.reward_specs()]

    @property
    def verifier_weights(self) -> list[float]:
        return [] if self.method == "sft" else [w for _, _, w in self.reward_specs()]

    def verifier_options(self) -> dict[str, dict[str, Any]]:
        return {} if self.method == "sft" else {name: opts for name, opts, _ in self.reward_specs()}

    @property
    def verifier(self) -> str | None:
        """Identity of the rewards (names, options, weights, code digests): the cache key's verifier; None for SFT."""
        from halo_forge.rl import RolloutFields

        return RolloutFields.verifier.fget(self) if self.verifiers else None
