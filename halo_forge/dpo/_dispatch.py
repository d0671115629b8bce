"""`get_dpo_trainer(config)`: DPO's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("dpo", torch="halo_forge.dpo.torch_trainer:TorchDPOTrainer",
                    mlx="halo_forge.dpo.mlx_trainer:MLXDPOTrainer")


def get_dpo_trainer(config, data=None):
    return DISPATCH.get(config, data)
