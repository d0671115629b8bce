"""GRPO's config: the shared RL fields (prompts, verifiers, sampling) plus the GRPO knobs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from halo_forge.config import (CheckpointFields, GenerationEvalFields, LoraFields, Problem, QuantFields,
                               ScheduleFields, TrainConfig)
from halo_forge.rl import RolloutFields

LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo"]
# TRL GRPOConfig fields that reach a vLLM server (`trl vllm-serve`), same names here
SERVER_FIELDS = ("vllm_server_base_url", "vllm_server_host", "vllm_server_port", "vllm_server_timeout")


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
    vllm_server_base_url: str | None = Field(None, description="With --vllm-mode server: the server's URL, e.g. http://gpu-node:8000 (instead of --vllm-server-host and --vllm-server-port).")
    vllm_server_host: str = Field("0.0.0.0", description="With --vllm-mode server: the host `trl vllm-serve` runs on.")
    vllm_server_port: int = Field(8000, gt=0, lt=65536, description="With --vllm-mode server: the port `trl vllm-serve` listens on.")
    vllm_server_timeout: float = Field(240.0, gt=0, description="With --vllm-mode server: seconds to wait for the server to answer before the run fails.")
    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out prompt when measuring the pass rate.")

    def _check(self) -> list[Problem]:
        problems = []
        if self.num_generations < 2 and not self.no_scale_rewards:
            problems.append(Problem("num_generations", self.num_generations,
                                    "leaves one completion per group: its reward std is 0 and scaled advantages are "
                                    "undefined; use --num-generations 2 or more (or --no-scale-rewards)"))
        problems += self._server_problems()
        if self.batch_size % self.num_generations:
            problems.append(Problem("batch_size", self.batch_size,
                                    f"not a multiple of --num-generations {self.num_generations}: each step must "
                                    "hold whole groups"))
        return problems

    def _server_problems(self) -> list[Problem]:
        """The vLLM server fields apply to --vllm-mode server only; a base URL replaces host and port."""
        given = [n for n in SERVER_FIELDS if getattr(self, n) != type(self).model_fields[n].default]
        if given and self.vllm_mode != "server":
            return [Problem(n, getattr(self, n), "addresses a vLLM server, but --vllm-mode is colocate: add "
                                                 "--rollout-engine vllm --vllm-mode server, or drop it") for n in given]
        if self.vllm_server_base_url is not None:
            return [Problem(n, getattr(self, n), "ignored when --vllm-server-base-url is given: drop one of them")
                    for n in ("vllm_server_host", "vllm_server_port") if n in given]
        return []

    def vllm_server(self) -> dict:
        """What TRL's GRPOConfig takes to reach a running `trl vllm-serve` (server mode)."""
        return {name: getattr(self, name) for name in SERVER_FIELDS}

    @property
    def effective_beta(self) -> float:
        return 0.0 if self.reference_free else self.beta
