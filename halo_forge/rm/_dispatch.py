"""`get_rm_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.errors import BackendError
from halo_forge.rm.config import RMConfig


def get_rm_trainer(config: RMConfig, data=None):
    if config.accelerator == "mlx":
        raise BackendError("reward-model training is not supported on MLX (TRL's RewardTrainer is PyTorch-only)",
                           hint="use DPO for preference training (`halo-forge dpo train`: it needs no reward model), "
                                "or drop --accelerator mlx to train the RM on PyTorch")
    backend = get_backend(config.accelerator)
    from halo_forge.rm.torch_trainer import TorchRMTrainer

    return TorchRMTrainer(config, backend=backend, data=data)
