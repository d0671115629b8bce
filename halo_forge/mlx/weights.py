"""Model weights between Hugging Face / PyTorch and MLX.

    model, tokenizer = load("halo-forge/tiny")            # any HF Llama/Qwen2 folder, hub id or tiny model
    mlx_model = from_torch(torch_model)                    # in memory, no folder (the hybrid rollout engine)
    save_hf(mlx_model, "out/model", source=folder, tokenizer=tokenizer)   # loads with transformers again

Names are the same on both sides (mlx-lm keeps the HF parameter names); mlx-lm's `sanitize` drops what MLX
does not keep (a tied lm_head, rotary caches). fp32 weights cross both ways bit-exact; bf16 goes through
fp32, which is lossless.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from halo_forge.mlx.runtime import require_mlx

HF_SIDE_FILES = ("config.json", "generation_config.json")


def load(model_ref: str):
    """(MLX model, mlx-lm TokenizerWrapper) for a hub id, HF folder, tiny model or PEFT adapter folder
    (an adapter is applied to its base and fused, as the PyTorch path merges it; its base may itself be one)."""
    require_mlx()
    import mlx_lm

    from halo_forge.models.loading import adapter_base, resolve_model

    ref = resolve_model(model_ref)
    base = adapter_base(ref)
    if base is None:
        return mlx_lm.load(ref, model_config=config_overrides(_read_config(ref)))
    from halo_forge.mlx.lora import fuse
    from halo_forge.mlx.peft_convert import apply_peft_adapter

    model, tokenizer = load(base)
    apply_peft_adapter(model, ref)
    return fuse(model), tokenizer


def _read_config(folder) -> dict:
    path = Path(folder) / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def config_overrides(hf_config: dict) -> dict:
    """What mlx-lm must be told that it would misread in a transformers-5 config.json: transformers 5 writes
    the RoPE base inside `rope_parameters`, mlx-lm 0.32 reads a top-level `rope_theta` and otherwise falls back
    to its own per-architecture default (Qwen2: 1e6 instead of the model's 1e4; logits off by ~1e-2)."""
    rope = hf_config.get("rope_parameters")
    if not isinstance(rope, dict) or "rope_theta" in hf_config:
        return {}
    out = {"rope_theta": rope["rope_theta"]} if "rope_theta" in rope else {}
    if rope.get("rope_type", "default") != "default":
        out["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    return out


def hf_tokenizer(tokenizer):
    """The transformers tokenizer inside an mlx-lm TokenizerWrapper (or the tokenizer itself)."""
    return tokenizer._tokenizer if type(tokenizer).__name__ == "TokenizerWrapper" else tokenizer


def skeleton(hf_config: dict):
    """An MLX model of the architecture `hf_config` (a config.json dict) with placeholder weights."""
    require_mlx()
    from mlx_lm.utils import load_model

    with tempfile.TemporaryDirectory(prefix="halo-forge-mlx-config-") as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps({**hf_config, **config_overrides(hf_config)}))
        model, _ = load_model(Path(tmp), lazy=True, strict=False)
    return model


def torch_state_to_mlx(state_dict) -> dict:
    """{name: mx.array} from a torch state dict (same dtype; bf16/fp16 pass through fp32, losslessly)."""
    import mlx.core as mx
    import torch

    out = {}
    for name, tensor in state_dict.items():
        t = tensor.detach().to("cpu")
        if t.dtype in (torch.bfloat16, torch.float16):
            out[name] = mx.array(t.float().numpy()).astype(mx.bfloat16 if t.dtype == torch.bfloat16 else mx.float16)
        else:
            out[name] = mx.array(t.numpy())
    return out


def mlx_to_torch_state(weights: dict) -> dict:
    """{name: torch.Tensor} from {name: mx.array} (inverse of `torch_state_to_mlx`)."""
    import mlx.core as mx
    import numpy as np
    import torch

    out = {}
    for name, arr in weights.items():
        if arr.dtype in (mx.bfloat16, mx.float16):
            wanted = torch.bfloat16 if arr.dtype == mx.bfloat16 else torch.float16
            out[name] = torch.from_numpy(np.array(arr.astype(mx.float32))).to(wanted)
        else:
            out[name] = torch.from_numpy(np.array(arr))
    return out


def load_torch_weights(mlx_model, torch_model) -> None:
    """Copy a (non-PEFT) torch causal LM's weights into `mlx_model` in place (same architecture)."""
    import mlx.core as mx

    weights = torch_state_to_mlx(torch_model.state_dict())
    if hasattr(mlx_model, "sanitize"):
        weights = mlx_model.sanitize(weights)
    mlx_model.load_weights(list(weights.items()), strict=True)
    mx.eval(mlx_model.parameters())


def from_torch(torch_model):
    """A new MLX model holding `torch_model`'s current weights (a PEFT model is merged into a copy first)."""
    torch_model = merged_view(torch_model)
    model = skeleton(torch_model.config.to_dict())
    load_torch_weights(model, torch_model)
    model.eval()
    return model


def merged_view(torch_model):
    """The plain model whose weights a PEFT-wrapped `torch_model` stands for (a merged deep copy); the model
    itself otherwise. The live PEFT model is left untouched."""
    if not hasattr(torch_model, "merge_and_unload"):
        return torch_model
    import copy

    return copy.deepcopy(torch_model).merge_and_unload()


def weights_of(model) -> dict:
    """{name: mx.array} of every parameter (HF names)."""
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.parameters()))


def save_hf(model, folder, *, source=None, config: dict | None = None, tokenizer=None) -> Path:
    """Write `model` as a Hugging Face folder transformers loads: model.safetensors (HF names), config.json
    (copied from `source`'s folder, or `config`), generation_config.json when `source` has one, the tokenizer.
    A LoRA model must be fused first (`halo_forge.mlx.lora.fuse`)."""
    import mlx.core as mx

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = weights_of(model)
    if any(k.rsplit(".", 1)[-1] in ("lora_a", "lora_b") for k in weights):
        raise ValueError("save_hf got a model with LoRA layers: fuse it first (halo_forge.mlx.lora.fuse)")
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "pt"})
    if source is not None:
        for name in HF_SIDE_FILES:
            if (Path(source) / name).is_file():
                shutil.copyfile(Path(source) / name, folder / name)
    elif config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    else:
        raise ValueError("save_hf needs source= (the folder the model came from) or config= (its config.json dict)")
    if tokenizer is not None:
        hf_tokenizer(tokenizer).save_pretrained(str(folder))
    return folder
