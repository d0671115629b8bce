"""The agentic trainer's backends: PyTorch (TRL's SFT and GRPO trainers, RAFT's cycle)."""

from __future__ import annotations

from halo_forge.dispatch import Dispatch

DISPATCH = Dispatch("agentic", torch="halo_forge.agentic.torch_trainer:TorchAgenticTrainer",
                    no_mlx_hint="train tool use with --accelerator cpu, cuda, rocm or mps")
