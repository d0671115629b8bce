"""Every config field does something: for every trainer and backend, a non-default value of each field changes
what the trainer hands to the libraries (its `plan`: the TRL config, model loading, PEFT config, held-out
evaluation, sampling …), or the field is one the trainer declares as used elsewhere, or (MLX) one it warns about
by name when set — and the data fields among those are proven to change the rows the run trains and is judged on."""

from __future__ import annotations

import dataclasses
import importlib.util
import types
import typing
from pathlib import Path
from typing import Literal

import pytest

from halo_forge import registry
from halo_forge.backend import capabilities
from halo_forge.config import build_config

BASE = {"sft": {"dataset": "arithmetic"}, "dpo": {"dataset": "arithmetic_pref"}, "orpo": {"dataset": "arithmetic_pref"},
        "rm": {"dataset": "arithmetic_pref"}, "grpo": {"dataset": "arithmetic_prompts"},
        "raft": {"dataset": "arithmetic_prompts"}, "reasoning": {"dataset": "arithmetic_chains"},
        "agentic": {"dataset": "tool_world"},
        # one base per method (and task): a field counts as wired when it changes the plan of one of them
        "vlm": [{"dataset": "shapes", "method": m} for m in ("sft", "grpo", "raft")],
        "audio": [{"dataset": "spoken_digits", "task": "asr", "method": m} for m in ("sft", "grpo", "raft")]
        + [{"dataset": "spoken_digits", "task": "classification"}]}
# values that are not simply "the default, changed"
SPECIAL = {"optim": "adafactor", "lora_target_modules": "q_proj,v_proj", "verifiers": ["regex_format"],
           "verifier_weights": [2.0], "verifier_args": ["tolerance=0.5"], "max_samples": 5,
           "max_completion_length": 17, "center_rewards_coefficient": 0.01, "prompts_per_cycle": 4,
           "precision": "bf16",  # on a CPU, auto means fp32
           "ref_model": "halo-forge/tiny", "tool_plugins": ["json:dumps"],
           "rollout_engine": "torch",  # auto means vllm below, where vllm and a GPU are made to look present
           "vllm_server_base_url": "http://gpu-node:8000", "vllm_server_host": "10.0.0.5"}
# fields that act only beside another value: compared with that value set on both sides
CONTEXT = {"rpo_alpha": {"loss_type": "rpo"}, "label_smoothing": {"loss_type": "sigmoid"},
           "vllm_mode": {"rollout_engine": "vllm"},
           **{f"vllm_server_{n}": {"rollout_engine": "vllm", "vllm_mode": "server"}
              for n in ("base_url", "host", "port", "timeout")}}
# per trainer: fields that act only under one --method (the base config's method is the trainer's default)
METHOD_CONTEXT = {"reasoning": {"max_length": {"method": "sft"}, "overlong_weight": {"overlong_buffer": 16},
                                **{f: {"method": "raft"} for f in ("cycles", "samples_per_prompt", "prompts_per_cycle",
                                                                   "keep_percent", "reward_threshold", "min_samples")}}}


def _other_value(name: str, field):
    if name in SPECIAL:
        return SPECIAL[name]
    ann, default = field.annotation, field.default
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        ann = next(a for a in typing.get_args(ann) if a is not type(None))
    if ann is bool:
        return not default
    if typing.get_origin(ann) is Literal:
        return next(c for c in typing.get_args(ann) if c != default)
    if ann is int:
        return (default or 0) + 3
    if ann is float:
        return 0.1 if not default else default * 0.5
    raise AssertionError(f"no other value known for {name} ({ann})")


def _plain(obj):
    """A comparable form of a plan: dataclasses, library configs and dtypes as plain values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj))
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(map(str, obj))
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else str(obj)


TRAINERS = [(m, "cpu") for m in BASE] + [pytest.param(m, "mlx", marks=pytest.mark.skipif(
    importlib.util.find_spec("mlx") is None, reason="the mlx extra is not installed")) for m in ("sft", "dpo", "grpo", "raft")]


def _warned_fields(trainer_cls) -> dict:
    """{field: (default, what)} an MLX trainer warns about when set (none for a PyTorch trainer)."""
    from halo_forge.backend import _MLX_UNSUPPORTED

    return {**_MLX_UNSUPPORTED, **trainer_cls.ignored} if hasattr(trainer_cls, "ignored") else {}


@pytest.mark.parametrize("modality, backend", TRAINERS)
def test_every_field_reaches_the_backend_or_is_declared(modality, backend, tmp_path, monkeypatch):
    from halo_forge.rollout import base as rollout

    monkeypatch.setattr(rollout, "_has", lambda module: True)  # the plan is built, nothing is loaded
    monkeypatch.setattr(rollout, "_cuda", lambda: True)
    cls = registry.config_class(modality)
    bases = [build_config(cls, {**values, "output": str(tmp_path / "out")}) for values in _bases(modality)]
    trainer_cls = registry.dispatch(modality).trainer_class(backend)
    caps = capabilities(backend)
    declared, warned = trainer_cls.used_elsewhere, _warned_fields(trainer_cls)
    unwired = []
    for name, field in cls.model_fields.items():
        if name in declared:
            continue
        if name in warned:  # ignored on this backend: it must say so, naming the flag
            context = {**dict(bases[0]), **_context(modality, name)}
            changed = cls.model_construct(**{**context, name: _other_value(name, field)})
            with pytest.warns(UserWarning, match=f"\\(--{name.replace('_', '-')}"):
                trainer_cls.warn_ignored(changed)
        elif not any(_changes_the_plan(trainer_cls, cls, base, modality, name, field, caps) for base in bases):
            unwired.append(name)
    assert not unwired, f"{modality}: these fields change nothing the trainer hands to the libraries: {unwired}"
    # what is declared as used elsewhere is named with where, and is a field of this config
    assert all(isinstance(where, str) and where for where in declared.values())
    stale = [name for name in declared if name not in cls.model_fields]
    assert not stale or set(stale) <= {"ref_model", "unsafe_verifier_execution", "resume"}, stale


def _bases(modality: str) -> list[dict]:
    return BASE[modality] if isinstance(BASE[modality], list) else [BASE[modality]]


def _context(modality: str, name: str) -> dict:
    return {**CONTEXT.get(name, {}), **METHOD_CONTEXT.get(modality, {}).get(name, {})}


def _changes_the_plan(trainer_cls, cls, base, modality: str, name: str, field, caps) -> bool:
    context = {**dict(base), **_context(modality, name)}
    before = trainer_cls.plan_for(cls.model_construct(**context), caps)
    changed = cls.model_construct(**{**context, name: _other_value(name, field)})
    return _plain(trainer_cls.plan_for(changed, caps)) != _plain(before)


ROWS = {"sft": lambda i: {"prompt": f"{i}+1=", "completion": str(i + 1)},
        "pref": lambda i: {"prompt": f"{i}+1=", "chosen": str(i + 1), "rejected": str(i)},
        "prompts": lambda i: {"prompt": f"{i}+1=", "answer": str(i + 1)},
        "images": lambda i: {"question": f"{i}+1=", "answer": str(i + 1), "image": "one.png"},
        "clips": lambda i: {"audio": "one.wav", "text": f"clip {i}"},
        "tools": lambda i: {"prompt": f"{i}+1=", "gold_calls": [{"name": "add", "arguments": {"a": i, "b": 1}}],
                            "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]}}
KIND = {"sft": "sft", "dpo": "pref", "orpo": "pref", "rm": "pref", "grpo": "prompts", "raft": "prompts",
        "reasoning": "prompts", "agentic": "tools", "vlm": "images", "audio": "clips"}


def _media(folder: Path) -> None:
    """The one image and the one clip the media rows point at."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    Image.new("RGB", (8, 8)).save(folder / "one.png")
    sf.write(folder / "one.wav", np.zeros(1600, dtype="float32"), 16000)


@pytest.mark.parametrize("modality", list(BASE))
def test_data_fields_change_the_rows(modality, tmp_path):
    import json

    _media(tmp_path)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(ROWS[KIND[modality]](i)) + "\n" for i in range(100)))
    cls = registry.config_class(modality)
    base = build_config(cls, {"data": str(data), "output": str(tmp_path / "out")})
    digest0 = registry.load_data(base).digest
    for name, value in (("max_samples", 5), ("eval_split", 0.2), ("max_eval_samples", 2), ("seed", 7)):
        changed = cls.model_construct(**{**dict(base), name: value})
        assert registry.load_data(changed).digest != digest0, f"{modality}: --{name} does not change the rows"


def test_output_and_overwrite_reach_the_output_folder(tmp_path):
    from halo_forge.outputs import OutputFolder

    folder = OutputFolder(Path(tmp_path / "a"), "r1", overwrite=True)
    assert folder.path == (tmp_path / "a").resolve() and folder.overwrite is True
