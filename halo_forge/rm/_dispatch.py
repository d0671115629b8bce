"""`get_rm_trainer(config)`: RM's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("rm", no_mlx_hint="use DPO on MLX (`halo-forge dpo train`: it needs no reward model)",
                    torch="halo_forge.rm.torch_trainer:TorchRMTrainer")


def get_rm_trainer(config, data=None):
    return DISPATCH.get(config, data)
