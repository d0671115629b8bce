"""A micro Llama for the MLX tests (MLX's CPU matmuls are slow): the built-in tiny tokenizer and chat template,
hidden 32, 2 layers; built with halo_forge.models.tiny's own builder, once per test session."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest

mx = pytest.importorskip("mlx.core", reason="the MLX tests need the mlx extra (pip install 'halo-forge[mlx]')")


@functools.cache
def micro_model_folder(architecture: str = "llama") -> Path:
    from transformers import AutoTokenizer

    from halo_forge.models.tiny import TinySpec, build_model, ensure_tiny

    source = ensure_tiny("halo-forge/tiny")
    tokenizer = AutoTokenizer.from_pretrained(source)
    spec = TinySpec(architecture=architecture, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=3)
    folder = Path(tempfile.mkdtemp(prefix=f"halo-forge-micro-{architecture}-"))
    build_model(spec, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def perturb_torch(model, seed: int, scale: float = 0.02) -> None:
    """Move every weight of a torch model a little (so a policy differs from its reference), deterministically."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def max_grad_diff(torch_model, mlx_grads: dict) -> float:
    """Largest |torch grad − MLX grad| over the torch model's parameters (HF names on both sides)."""
    import numpy as np

    worst = 0.0
    for name, p in torch_model.named_parameters():
        g = mlx_grads[name]
        worst = max(worst, float(np.abs(p.grad.numpy() - np.array(g)).max()))
    return worst


ARITHMETIC_PROMPTS = [f"What is {a}+{b}?" for a, b in ((12, 34), (56, 21), (40, 17), (23, 45))]
