"""`get_raft_trainer(config)`: RAFT's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("raft", torch="halo_forge.raft.torch_trainer:TorchRAFTTrainer",
                    mlx="halo_forge.raft.mlx_trainer:MLXRAFTTrainer")


def get_raft_trainer(config, data=None):
    return DISPATCH.get(config, data)
