"""`get_grpo_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.errors import BackendError
from halo_forge.grpo.config import GRPOConfig


def get_grpo_trainer(config: GRPOConfig, data=None):
    if config.accelerator == "mlx":
        raise BackendError("GRPO on MLX is not available in this release",
                           hint="drop --accelerator mlx: the PyTorch trainer runs on cpu, cuda, rocm and mps")
    backend = get_backend(config.accelerator)
    from halo_forge.grpo.torch_trainer import TorchGRPOTrainer

    return TorchGRPOTrainer(config, backend=backend, data=data)
