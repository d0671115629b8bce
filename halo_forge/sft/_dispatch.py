"""`get_sft_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.errors import BackendError
from halo_forge.sft.config import SFTConfig


def get_sft_trainer(config: SFTConfig, data=None):
    backend = get_backend(config.accelerator)
    if backend == "mlx":
        raise BackendError("SFT on MLX is not available in this release",
                           hint="drop --accelerator mlx: the PyTorch trainer runs on cpu, cuda, rocm and mps")
    from halo_forge.sft.torch_trainer import TorchSFTTrainer

    return TorchSFTTrainer(config, backend=backend, data=data)
