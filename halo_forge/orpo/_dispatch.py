"""`get_orpo_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.errors import BackendError
from halo_forge.orpo.config import ORPOConfig


def get_orpo_trainer(config: ORPOConfig, data=None):
    if config.accelerator == "mlx":
        raise BackendError("ORPO is not supported on MLX (TRL's ORPOTrainer is PyTorch-only)",
                           hint="use DPO for preference training (`halo-forge dpo train`), or drop --accelerator mlx "
                                "to run ORPO on PyTorch")
    backend = get_backend(config.accelerator)
    from halo_forge.orpo.torch_trainer import TorchORPOTrainer

    return TorchORPOTrainer(config, backend=backend, data=data)
