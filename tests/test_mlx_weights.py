"""Weights between PyTorch and MLX: the built-in tiny models (Llama, Qwen2) go torch -> MLX -> torch byte-identical
(fp32), and MLX's logits match torch's; an in-memory torch model converts the same way."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mlx.core", reason="the MLX tests need the mlx extra")


@pytest.mark.parametrize("name", ["halo-forge/tiny", "halo-forge/tiny-qwen2"])
def test_tiny_model_round_trip_is_bit_exact(name, tmp_path):
    import mlx.core as mx
    import torch
    from transformers import AutoModelForCausalLM

    from halo_forge.mlx import weights
    from halo_forge.models.tiny import ensure_tiny

    source = ensure_tiny(name)
    original = AutoModelForCausalLM.from_pretrained(source)
    model, tok = weights.load(name)
    weights.save_hf(model, tmp_path / "back", source=source, tokenizer=tok)
    back = AutoModelForCausalLM.from_pretrained(tmp_path / "back")
    a, b = original.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype == torch.float32
        assert a[key].numpy().tobytes() == b[key].numpy().tobytes(), key

    ids = tok.apply_chat_template([{"role": "user", "content": "What is 12+34?"}], add_generation_prompt=True)
    with torch.no_grad():
        torch_logits = original(torch.tensor([ids])).logits.numpy()
    mlx_logits = np.array(model(mx.array([ids])))
    assert np.abs(torch_logits - mlx_logits).max() < 1e-5  # Qwen2 needs its RoPE base passed (config_overrides)
    in_memory = np.array(weights.from_torch(original)(mx.array([ids])))
    assert np.array_equal(in_memory, mlx_logits)


def test_rope_base_from_transformers5_config_reaches_mlx():
    from halo_forge.mlx.weights import config_overrides

    assert config_overrides({"rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}) == {"rope_theta": 10000.0}
    assert config_overrides({"rope_theta": 5e5}) == {}
    scaled = config_overrides({"rope_parameters": {"rope_theta": 5e5, "rope_type": "llama3", "factor": 8.0}})
    assert scaled == {"rope_theta": 5e5, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}


def test_save_hf_refuses_an_unfused_lora_model(tmp_path):
    from halo_forge.mlx import lora, weights

    model, _ = weights.load("halo-forge/tiny")
    lora.apply_lora(model, rank=2, alpha=4)
    with pytest.raises(ValueError, match="fuse it first"):
        weights.save_hf(model, tmp_path / "x", config={})
