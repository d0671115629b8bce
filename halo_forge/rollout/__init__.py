"""Rollout engines: sample completions from the *current* policy behind one protocol.

    engine = get_engine("auto", model, tokenizer)
    engine.generate(prompts, n, Sampling(temperature=0.9, max_new_tokens=64))  # -> list[list[str]]
    engine.update_weights(model)                                               # after each update

`torch` (batched HF generate) runs everywhere; `vllm` (optional extra, GPU only) and `mlx` (optional
extra: Apple silicon, or Linux CPU with mlx[cpu]) fail with a clear HaloForgeError when their package or
hardware is missing. PyTorch GRPO hands sampling to TRL: `trl_generation_args(engine)` is what halo-forge passes
for each engine (MLX GRPO samples with mlx-lm itself).
"""

from __future__ import annotations

from halo_forge.rollout.base import ENGINES, RolloutEngine, Sampling, get_engine, resolve_engine, trl_generation_args

__all__ = ["ENGINES", "RolloutEngine", "Sampling", "get_engine", "resolve_engine", "trl_generation_args"]
