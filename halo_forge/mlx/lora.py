"""Vanilla LoRA and full fine-tuning on MLX, through mlx-lm's own tuner pieces.

    config = apply_lora(model, rank=16, alpha=32, dropout=0.0, targets="all-linear")   # freezes the base
    ... train ...
    save_adapter(model, "out/adapter", config)   # adapters.safetensors + adapter_config.json (mlx-lm's format)
    mlx_lm.load(base, adapter_path="out/adapter")  # or load_adapter(model, folder)

Scaling follows PEFT's vanilla LoRA (the model's output moves by alpha/r · B·A·x): mlx-lm's `scale` is that
ratio. DoRA, rsLoRA, other inits and 4-bit loading are not implemented here (the trainer warns).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def target_keys(model, targets: str = "all-linear") -> list[str]:
    """The per-layer module paths (e.g. 'self_attn.q_proj') LoRA adapts: every nn.Linear inside a transformer
    block for 'all-linear' (PEFT's meaning: the lm_head is not in a block), else those whose last name is in
    the comma-separated `targets`."""
    import mlx.nn as nn

    wanted = None if targets == "all-linear" else {t.strip() for t in targets.split(",") if t.strip()}
    keys = {name for layer in model.layers for name, mod in layer.named_modules()
            if isinstance(mod, nn.Linear) and (wanted is None or name.rsplit(".", 1)[-1] in wanted)}
    if not keys:
        raise ValueError(f"--lora-target-modules {targets!r} matches no linear layer of this model "
                         f"(its layers have: {', '.join(sorted(_linear_names(model)))})")
    return sorted(keys)


def _linear_names(model) -> set[str]:
    import mlx.nn as nn

    return {n.rsplit(".", 1)[-1] for n, m in model.layers[0].named_modules() if isinstance(m, nn.Linear)}


def apply_lora(model, *, rank: int, alpha: float, dropout: float = 0.0, targets: str = "all-linear") -> dict:
    """Freeze `model` and wrap its target linears in mlx-lm LoRA layers (all blocks); returns the adapter
    config (mlx-lm's adapter_config.json fields) that `save_adapter` writes and `mlx_lm.load` reads."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    params = {"rank": int(rank), "scale": float(alpha) / float(rank), "dropout": float(dropout),
              "keys": target_keys(model, targets)}
    model.freeze()
    num_layers = len(model.layers)
    linear_to_lora_layers(model, num_layers, params)
    return {"fine_tune_type": "lora", "num_layers": num_layers, "lora_parameters": params,
            "lora_alpha": float(alpha)}


def prepare_full(model) -> dict:
    """Make every weight trainable (as PyTorch's --no-lora does: embeddings and norms included)."""
    model.unfreeze()
    return {"fine_tune_type": "full", "num_layers": len(model.layers)}


def trainable_weights(model) -> dict:
    """{name: mx.array} of the trainable parameters (the LoRA matrices, or everything for a full fine-tune)."""
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.trainable_parameters()))


def lora_weights(model) -> dict:
    """{name: mx.array} of every lora_a / lora_b matrix."""
    return {k: v for k, v in trainable_weights(model).items() if k.rsplit(".", 1)[-1] in ("lora_a", "lora_b")}


def save_adapter(model, folder, adapter_config: dict, *, base_model: str | None = None) -> Path:
    """Write mlx-lm's adapter format: adapters.safetensors (the trainable weights) and adapter_config.json
    (the config `apply_lora` returned, plus the base model's name). Keys are sorted: same weights, same bytes."""
    import mlx.core as mx

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = dict(sorted(trainable_weights(model).items()))
    mx.save_safetensors(str(folder / ADAPTER_WEIGHTS), weights)
    config = dict(adapter_config)
    if base_model is not None:
        config["base_model"] = str(base_model)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def load_adapter(model, folder):
    """Apply a saved mlx-lm adapter folder to `model` (mlx-lm's own loader)."""
    from mlx_lm.tuner.utils import load_adapters

    return load_adapters(model, str(folder))


def fuse(model):
    """Fold every LoRA layer into its base linear (mlx-lm's `fuse`), in place; returns the model."""
    from mlx.utils import tree_unflatten

    fused = [(name, mod.fuse()) for name, mod in model.named_modules() if hasattr(mod, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    return model


@contextmanager
def adapters_disabled(model):
    """Within the block, LoRA layers add nothing (scale 0): the model computes as its frozen base does, which
    is the DPO/GRPO reference for a LoRA run. Not for use inside a compiled function."""
    from mlx_lm.tuner.lora import LoRALinear

    layers = [m for _, m in model.named_modules() if isinstance(m, LoRALinear)]
    scales = [m.scale for m in layers]
    try:
        for m in layers:
            m.scale = 0.0
        yield model
    finally:
        for m, s in zip(layers, scales):
            m.scale = s
