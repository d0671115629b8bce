"""`get_grpo_trainer(config)`: GRPO's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("grpo", torch="halo_forge.grpo.torch_trainer:TorchGRPOTrainer",
                    mlx="halo_forge.grpo.mlx_trainer:MLXGRPOTrainer")


def get_grpo_trainer(config, data=None):
    return DISPATCH.get(config, data)
