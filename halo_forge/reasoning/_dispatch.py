"""`get_reasoning_trainer(config)`: the reasoning trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("reasoning", torch="halo_forge.reasoning.torch_trainer:TorchReasoningTrainer")


def get_reasoning_trainer(config, data=None):
    return DISPATCH.get(config, data)
