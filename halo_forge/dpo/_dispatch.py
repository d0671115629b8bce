"""`get_dpo_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.dpo.config import DPOConfig
from halo_forge.errors import BackendError


def get_dpo_trainer(config: DPOConfig, data=None):
    if config.accelerator == "mlx":
        raise BackendError("DPO on MLX is not available in this release",
                           hint="drop --accelerator mlx: the PyTorch trainer runs on cpu, cuda, rocm and mps")
    backend = get_backend(config.accelerator)
    from halo_forge.dpo.torch_trainer import TorchDPOTrainer

    return TorchDPOTrainer(config, backend=backend, data=data)
