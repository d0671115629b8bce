"""`get_orpo_trainer(config)`: ORPO's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("orpo", no_mlx_hint="use DPO for preference training on MLX (`halo-forge dpo train`)",
                    torch="halo_forge.orpo.torch_trainer:TorchORPOTrainer")


def get_orpo_trainer(config, data=None):
    return DISPATCH.get(config, data)
