"""Modality → config class, dispatch and data loader, imported lazily: the flow's one door to trainers.

Adding a trainer means adding one line here (and its folder); the flow, the run index, replay and
the CLI then treat it like every other.
"""

from __future__ import annotations

from typing import Any

from halo_forge.dispatch import Dispatch, load_ref
from halo_forge.errors import ConfigError

# modality: (config "module:Class", its _dispatch module, data loader "module:function")
TRAINERS: dict[str, tuple[str, str, str]] = {
    "sft": ("halo_forge.sft.config:SFTConfig", "halo_forge.sft._dispatch", "halo_forge.data:load_sft_data"),
    "dpo": ("halo_forge.dpo.config:DPOConfig", "halo_forge.dpo._dispatch",
            "halo_forge.data.preference:load_preference_data"),
    "orpo": ("halo_forge.orpo.config:ORPOConfig", "halo_forge.orpo._dispatch",
             "halo_forge.data.preference:load_preference_data"),
    "rm": ("halo_forge.rm.config:RMConfig", "halo_forge.rm._dispatch",
           "halo_forge.data.preference:load_preference_data"),
    "grpo": ("halo_forge.grpo.config:GRPOConfig", "halo_forge.grpo._dispatch",
             "halo_forge.data.prompts:load_prompt_data"),
    "raft": ("halo_forge.raft.config:RAFTConfig", "halo_forge.raft._dispatch",
             "halo_forge.data.prompts:load_prompt_data"),
    "vlm": ("halo_forge.vlm.config:VLMConfig", "halo_forge.vlm._dispatch", "halo_forge.data.vision:load_vlm_data"),
    "audio": ("halo_forge.audio.config:AudioConfig", "halo_forge.audio._dispatch", "halo_forge.data.audio:load_audio_data"),
    "reasoning": ("halo_forge.reasoning.config:ReasoningConfig", "halo_forge.reasoning._dispatch",
                  "halo_forge.data.reasoning_sets:load_reasoning_data"),
    "agentic": ("halo_forge.agentic.config:AgenticConfig", "halo_forge.agentic._dispatch",
                "halo_forge.data.tool_sets:load_tool_data"),
}


def modalities() -> list[str]:
    return list(TRAINERS)


def _entry(modality: str) -> tuple[str, str, str]:
    if modality not in TRAINERS:
        raise ConfigError(f"unknown trainer {modality!r}", hint=f"available: {', '.join(TRAINERS)}")
    return TRAINERS[modality]


def config_class(modality: str):
    return load_ref(_entry(modality)[0])


def dispatch(modality: str) -> Dispatch:
    return load_ref(_entry(modality)[1] + ":DISPATCH")


def mlx_modalities() -> list[str]:
    return [m for m in TRAINERS if "mlx" in dispatch(m).classes]


def load_data(config):
    """The run's rows as a `SplitData` (train + held-out), materialised once per run."""
    return load_ref(_entry(config.modality)[2])(config)


def check(config) -> list:
    """Every problem that stops `config` from running here (backend limits, output folder); pure."""
    return dispatch(config.modality).check(config)


def get_trainer(config, data=None) -> Any:
    """The trainer for `config`, built once for the run (its modality picks the dispatch)."""
    return dispatch(config.modality).get(config, data=data)
