"""The rollout protocol, engine selection and what each engine means for TRL's GRPOTrainer."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol

from halo_forge.errors import BackendError

ENGINES = ("torch", "vllm", "mlx")


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0
    max_new_tokens: int = 256
    top_p: float = 1.0
    batch_size: int = 64


class RolloutEngine(Protocol):
    name: str

    def generate(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[str]]:
        """`n` sampled completions (new text only) for each prompt (already rendered as text)."""

    def update_weights(self, model) -> None:
        """Make the next `generate` sample from `model`'s current weights."""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover
        return False


def check_vllm() -> None:
    """Raise a clear error unless vLLM can run here (installed, and a CUDA GPU present)."""
    if not _has("vllm"):
        raise BackendError("--rollout-engine vllm: the vllm package is not installed",
                           hint="pip install 'halo-forge[vllm]' on a CUDA machine, or use --rollout-engine torch")
    if not _cuda():
        raise BackendError("--rollout-engine vllm needs a CUDA GPU and none is visible",
                           hint="run on a GPU machine, or use --rollout-engine torch")


def check_mlx() -> None:
    if not _has("mlx") or not _has("mlx_lm"):
        raise BackendError("--rollout-engine mlx: the mlx and mlx-lm packages are not installed",
                           hint="pip install 'halo-forge[mlx]' (Apple silicon), or use --rollout-engine torch")


def resolve_engine(requested: str) -> str:
    """The engine `requested` really means here: auto → vllm when it can run, else torch; an explicit
    engine that cannot run is an error (never a silent fallback)."""
    if requested == "auto":
        return "vllm" if _has("vllm") and _cuda() else "torch"
    if requested == "vllm":
        check_vllm()
    elif requested == "mlx":
        check_mlx()
    elif requested != "torch":
        raise BackendError(f"unknown rollout engine {requested!r}", hint=f"choose one of auto, {', '.join(ENGINES)}")
    return requested


def get_engine(requested: str, model, tokenizer, **kwargs) -> RolloutEngine:
    name = resolve_engine(requested)
    if name == "torch":
        from halo_forge.rollout.torch_engine import TorchEngine

        return TorchEngine(model, tokenizer)
    if name == "vllm":
        from halo_forge.rollout.vllm_engine import VLLMEngine

        return VLLMEngine(model, tokenizer, **kwargs)
    from halo_forge.rollout.mlx_engine import MLXEngine

    return MLXEngine(model, tokenizer, **kwargs)


def trl_generation_args(engine: str, *, vllm_mode: str = "colocate", server: dict | None = None) -> dict:
    """GRPOConfig fields for the resolved engine: torch → TRL's own HF generate; vllm → TRL's vLLM
    integration, colocate or server (then with `server`: where the running `trl vllm-serve` answers and how
    long to wait for it); mlx has no TRL path (GRPO samples with mlx-lm under --accelerator mlx)."""
    if engine == "torch":
        return {"use_vllm": False}
    if engine == "vllm":
        reach = dict(server or {}) if vllm_mode == "server" else {}
        return {"use_vllm": True, "vllm_mode": vllm_mode, **reach}
    raise BackendError("PyTorch GRPO cannot sample with --rollout-engine mlx (TRL samples on torch or vLLM)",
                       hint="add --accelerator mlx (the MLX GRPO trainer samples with mlx-lm), or use --rollout-engine "
                            "torch or vllm")
