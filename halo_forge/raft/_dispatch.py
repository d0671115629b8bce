"""`get_raft_trainer(config)`: the trainer class for this backend, constructed (and so validated)."""

from __future__ import annotations

from halo_forge.backend import get_backend
from halo_forge.errors import BackendError
from halo_forge.raft.config import RAFTConfig


def get_raft_trainer(config: RAFTConfig, data=None):
    if config.accelerator == "mlx":
        raise BackendError("RAFT training on MLX is not available in this release",
                           hint="drop --accelerator mlx (sampling can still use --rollout-engine mlx)")
    backend = get_backend(config.accelerator)
    from halo_forge.raft.torch_trainer import TorchRAFTTrainer

    return TorchRAFTTrainer(config, backend=backend, data=data)
