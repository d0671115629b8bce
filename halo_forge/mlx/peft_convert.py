"""mlx-lm adapter folders <-> PEFT adapter folders (vanilla LoRA).

    mlx_to_peft("out/adapter", "out/peft", base_model="halo-forge/tiny")  # PeftModel.from_pretrained(base, "out/peft")
    peft_to_mlx("out/peft", "out/adapter")                                # mlx_lm.load(base, adapter_path="out/adapter")

The two formats hold the same matrices, transposed: mlx-lm computes x·A·B with A (in, r) and B (r, out), PEFT
computes B(A(x)) with lora_A.weight (r, in) and lora_B.weight (out, r); mlx-lm's `scale` is PEFT's
lora_alpha / r (alpha / sqrt(r) with rsLoRA). Names: mlx `model.layers.0.self_attn.q_proj.lora_a` is PEFT
`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

from halo_forge.errors import ModelError
from halo_forge.mlx.lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS

PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
_MLX_KEY = re.compile(r"^(?P<module>.+\.layers\.(?P<layer>\d+)\.(?P<key>.+))\.lora_(?P<ab>[ab])$")


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ModelError(f"{path.parent} is not {what}: no {path.name}", hint=f"point at a folder holding {what}")
    return json.loads(path.read_text())


def mlx_to_peft(mlx_folder, peft_folder, *, base_model: str) -> Path:
    """Write the PEFT form of an mlx-lm LoRA adapter folder; `base_model` goes in its config."""
    import numpy as np
    from safetensors.numpy import save_file

    import mlx.core as mx

    mlx_folder, peft_folder = Path(mlx_folder), Path(peft_folder)
    cfg = _read_json(mlx_folder / ADAPTER_CONFIG, "an mlx-lm adapter folder")
    if cfg.get("fine_tune_type", "lora") != "lora":
        raise ModelError(f"{mlx_folder}: fine_tune_type {cfg.get('fine_tune_type')!r} has no PEFT LoRA form",
                         hint="only vanilla LoRA adapters convert; a full fine-tune is saved as a model folder")
    params = cfg["lora_parameters"]
    rank = int(params["rank"])
    tensors, modules = {}, set()
    for name, arr in mx.load(str(mlx_folder / ADAPTER_WEIGHTS)).items():
        m = _MLX_KEY.match(name)
        if m is None:
            raise ModelError(f"{mlx_folder / ADAPTER_WEIGHTS}: {name!r} is not a LoRA matrix")
        modules.add(m["key"].rsplit(".", 1)[-1])
        peft_name = f"{PEFT_PREFIX}{m['module']}.lora_{m['ab'].upper()}.weight"
        tensors[peft_name] = np.ascontiguousarray(np.array(arr.astype(mx.float32) if arr.dtype == mx.bfloat16 else arr).T)
    peft_folder.mkdir(parents=True, exist_ok=True)
    save_file(dict(sorted(tensors.items())), str(peft_folder / PEFT_WEIGHTS), metadata={"format": "pt"})
    config = _peft_config(rank, float(params["scale"]) * rank, float(params.get("dropout", 0.0)), sorted(modules),
                          base_model)
    (peft_folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return peft_folder


def _peft_config(rank: int, alpha: float, dropout: float, modules: list[str], base_model: str) -> dict:
    from peft import LoraConfig

    data = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=modules,
                      task_type="CAUSAL_LM", base_model_name_or_path=str(base_model)).to_dict()
    data["target_modules"] = sorted(modules)  # a set in PEFT: sorted, so the same adapter gives the same bytes
    return {k: (v.value if hasattr(v, "value") else v) for k, v in data.items()}


def peft_to_mlx(peft_folder, mlx_folder) -> Path:
    """Write the mlx-lm form of a PEFT LoRA adapter folder (refuses DoRA and per-module rank/alpha patterns)."""
    import mlx.core as mx
    from safetensors.numpy import load_file

    peft_folder, mlx_folder = Path(peft_folder), Path(mlx_folder)
    cfg = _read_json(peft_folder / ADAPTER_CONFIG, "a PEFT adapter folder")
    bad = [k for k in ("use_dora", "rank_pattern", "alpha_pattern", "layers_to_transform") if cfg.get(k)]
    if cfg.get("peft_type", "LORA") != "LORA" or bad:
        raise ModelError(f"{peft_folder}: {', '.join(bad) or cfg.get('peft_type')} has no mlx-lm LoRA form",
                         hint="only vanilla LoRA (one rank and alpha for every module) converts to MLX")
    rank, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    scale = alpha / math.sqrt(rank) if cfg.get("use_rslora") else alpha / rank
    weights, keys, layers = {}, set(), set()
    for name, arr in load_file(str(peft_folder / PEFT_WEIGHTS)).items():
        module, _, leaf = name.removeprefix(PEFT_PREFIX).rpartition(".lora_")
        m = _MLX_KEY.match(f"{module}.lora_{leaf[:1].lower()}")
        if m is None or leaf[:1] not in ("A", "B"):
            raise ModelError(f"{peft_folder / PEFT_WEIGHTS}: {name!r} is not a LoRA matrix of a transformer block")
        keys.add(m["key"])
        layers.add(int(m["layer"]))
        weights[f"{module}.lora_{leaf[:1].lower()}"] = mx.array(arr.T.copy())
    if layers != set(range(max(layers) + 1)):
        raise ModelError(f"{peft_folder}: the adapter skips some layers ({sorted(layers)}); mlx-lm adapts the last N")
    mlx_folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(mlx_folder / ADAPTER_WEIGHTS), dict(sorted(weights.items())))
    config = {"fine_tune_type": "lora", "num_layers": max(layers) + 1, "lora_alpha": alpha,
              "lora_parameters": {"rank": rank, "scale": scale, "dropout": float(cfg.get("lora_dropout", 0.0)),
                                  "keys": sorted(keys)},
              "base_model": cfg.get("base_model_name_or_path")}
    (mlx_folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return mlx_folder


def apply_peft_adapter(model, peft_folder):
    """Apply a PEFT LoRA adapter folder to an MLX model (as LoRA layers; `lora.fuse` merges them)."""
    from halo_forge.mlx.lora import load_adapter

    with tempfile.TemporaryDirectory(prefix="halo-forge-mlx-adapter-") as tmp:
        peft_to_mlx(peft_folder, tmp)
        return load_adapter(model, tmp)
