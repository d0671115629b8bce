"""The agentic trainer's config: the field groups SFT, GRPO and RAFT honour, one --method, and the tool knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, Problem, ScheduleFields,
                               SequenceFields, TrainConfig)
from halo_forge.rl import RAFTFields, RolloutFields

Method = Literal["sft", "grpo", "raft"]
LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]


class AgenticConfig(CheckpointFields, GenerationEvalFields, RAFTFields, RolloutFields, LoraFields, SequenceFields, ScheduleFields,
                    TrainConfig):
    """Tool use and function calling: SFT on tool traces, or GRPO / RAFT rewarded by the tool-call checks.

    Rows hold a prompt, the tools (JSON-Schema definitions) and the gold calls. Tools run when they have an
    implementation (the built-in tool world, --tool plugins, or Python source in a tool's `code` field, run in
    the sandbox): episodes then go on after each call with its result, up to --max-turns assistant turns."""

    modality: ClassVar[str] = "agentic"
    summary: ClassVar[str] = "Tool use: SFT on tool traces, GRPO or RAFT with the tool-call verifier and executed calls."
    train_help: ClassVar[str] = ("Train tool use and function calling (--method sft|grpo|raft) on rows of "
                                 "tools and gold calls.")
    example: ClassVar[str] = ("halo-forge agentic train \\\n  --method grpo --dataset xlam --model outputs/agentic-sft "
                              "\\\n  --num-generations 8 --max-turns 3 --call-weight 1 --answer-weight 1 "
                              "--learning-rate 1e-5")
    datasets: ClassVar[str] = "halo_forge.data.tool_sets:TOOL_DATASETS"

    output: Path = Field(Path("outputs/agentic"), description="Folder for the model and training_summary.json.")
    method: Method = Field("sft", description="sft (tool traces, loss on assistant turns), grpo or raft (rewarded by the tool-call checks).")
    verifiers: list[str] = Field(["tool_call"], description="The call verifier: tool_call (its options with --verifier-arg rel_tol=… abs_tol=…).")
    max_turns: int = Field(3, ge=1, description="Assistant turns per episode (a turn without calls is the final answer).")
    call_weight: float = Field(1.0, ge=0, description="Episode reward: weight of the tool-call checks' graded score.")
    answer_weight: float = Field(1.0, ge=0, description="Episode reward: weight of a right final answer (rows with an `answer`).")
    tool_plugins: list[str] = Field([], description="Tools run in this process, as package.module:function; on the command line --tool, repeatable.")
    single_turn: bool = Field(False, description="GRPO/RAFT: train the first assistant turn's calls only; no tool runs (automatic when no tool can run).")
    sft_calls: Literal["gold", "sloppy_teacher"] = Field("gold", description="SFT traces: the gold calls, or the sloppy teacher's (it swaps a conversion's units or a subtraction's operands on 60% of those calls: the demos' start on tool_world and tool_arith).")
    eval_max_new_tokens: int = Field(96, gt=0, description="Tokens generated per held-out assistant turn.")
    max_completion_length: int = Field(96, gt=0, description="Maximum new tokens per sampled assistant turn.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training data per fit (ignored when --max-steps is set).")
    batch_size: int = Field(8, gt=0, description="Per-device batch size (GRPO: completions per step, a multiple of --num-generations).")
    max_length: int = Field(512, gt=0, description="Maximum tokens per training trace (longer ones are truncated).")
    # GRPO
    num_generations: int = Field(4, gt=1, description="GRPO: episodes sampled per prompt (the group).")
    beta: float = Field(0.0, ge=0, description="GRPO: KL penalty towards the start model (0: no reference model).")
    epsilon: float = Field(0.2, gt=0, description="GRPO: clipping range of the importance ratio.")
    loss_type: LossType = Field("dapo", description="GRPO: TRL loss grpo, dr_grpo, dapo or bnpo.")
    no_scale_rewards: bool = Field(False, description="GRPO: do not divide advantages by the group's reward std.")
    cycles: int = Field(2, gt=0, description="RAFT: sample → verify → keep → fine-tune cycles.")

    def _check(self) -> list[Problem]:
        problems = []
        if self.verifiers != ["tool_call"]:
            problems.append(Problem("verifiers", self.verifiers, "agentic training scores calls with tool_call "
                                                                 "alone; drop --verifier (tune it with --verifier-arg)"))
        if self.verifier_weights is not None:
            problems.append(Problem("verifier_weights", self.verifier_weights,
                                    "not used: weigh calls and answers with --call-weight / --answer-weight"))
        if self.call_weight == 0 and self.answer_weight == 0:
            problems.append(Problem("answer_weight", 0.0, "--call-weight and --answer-weight are both 0: no reward; "
                                                          "give either a positive weight"))
        if self.method == "grpo" and self.batch_size % self.num_generations:
            problems.append(Problem("batch_size", self.batch_size, f"not a multiple of --num-generations "
                                                                   f"{self.num_generations}: each step must hold whole groups"))
        return problems
