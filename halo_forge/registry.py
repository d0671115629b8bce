"""Modality → config class and dispatch function, imported lazily: the flow's one door to trainers.

Adding a trainer means adding one line here (and its folder); the flow, the run index, replay and
the CLI then treat it like every other.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from halo_forge.errors import ConfigError

# modality: (config "module:Class", dispatch "module:function", data loader "module:function")
TRAINERS: dict[str, tuple[str, str, str]] = {
    "sft": ("halo_forge.sft.config:SFTConfig", "halo_forge.sft._dispatch:get_sft_trainer",
            "halo_forge.data:load_sft_data"),
    "dpo": ("halo_forge.dpo.config:DPOConfig", "halo_forge.dpo._dispatch:get_dpo_trainer",
            "halo_forge.data.preference:load_preference_data"),
    "orpo": ("halo_forge.orpo.config:ORPOConfig", "halo_forge.orpo._dispatch:get_orpo_trainer",
             "halo_forge.data.preference:load_preference_data"),
    "rm": ("halo_forge.rm.config:RMConfig", "halo_forge.rm._dispatch:get_rm_trainer",
           "halo_forge.data.preference:load_preference_data"),
    "grpo": ("halo_forge.grpo.config:GRPOConfig", "halo_forge.grpo._dispatch:get_grpo_trainer",
             "halo_forge.data.prompts:load_prompt_data"),
    "raft": ("halo_forge.raft.config:RAFTConfig", "halo_forge.raft._dispatch:get_raft_trainer",
             "halo_forge.data.prompts:load_prompt_data"),
}


def _load(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def modalities() -> list[str]:
    return list(TRAINERS)


def _entry(modality: str) -> tuple[str, str, str]:
    if modality not in TRAINERS:
        raise ConfigError(f"unknown trainer {modality!r}", hint=f"available: {', '.join(TRAINERS)}")
    return TRAINERS[modality]


def config_class(modality: str):
    return _load(_entry(modality)[0])


def dispatcher(modality: str) -> Callable[..., Any]:
    """`get_<modality>_trainer(config, data=None)`."""
    return _load(_entry(modality)[1])


def load_data(config):
    """The run's rows as a `SplitData` (train + held-out), materialised once per run."""
    return _load(_entry(config.modality)[2])(config)


def get_trainer(config, data=None):
    """The constructed trainer for `config` (its modality picks the dispatch function)."""
    return dispatcher(config.modality)(config, data=data)
