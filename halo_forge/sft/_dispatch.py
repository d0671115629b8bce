"""`get_sft_trainer(config)`: SFT's trainer for the config's backend, built once per run."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("sft", torch="halo_forge.sft.torch_trainer:TorchSFTTrainer",
                    mlx="halo_forge.sft.mlx_trainer:MLXSFTTrainer")


def get_sft_trainer(config, data=None):
    return DISPATCH.get(config, data)
