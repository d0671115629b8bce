"""`get_vlm_trainer(config)`: the VLM trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("vlm", torch="halo_forge.vlm.torch_trainer:TorchVLMTrainer")


def get_vlm_trainer(config, data=None):
    return DISPATCH.get(config, data)
