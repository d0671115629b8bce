"""`Dispatch`: a trainer's backends (PyTorch, MLX) and the one way to check and build its trainer.

Each trainer folder's `_dispatch.py` declares one (`Dispatch("dpo", torch="…:TorchDPOTrainer")`);
`check` is pure (nothing loads), `get` builds the trainer once for the run.
"""

from __future__ import annotations

import importlib
from typing import Any

from halo_forge.errors import BackendError


def load_ref(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


class Dispatch:
    def __init__(self, modality: str, *, no_mlx_hint: str = "", **classes: str) -> None:
        self.modality = modality
        self.classes = classes  # "torch" / "mlx" → "module:Class"
        self.no_mlx_hint = no_mlx_hint  # what to use instead on MLX, when this trainer has no MLX class

    def trainer_class(self, backend: str) -> type:
        key = "mlx" if backend == "mlx" else "torch"
        if key not in self.classes:
            from halo_forge.registry import mlx_modalities

            name = self.modality.upper()
            raise BackendError(f"{name} is not available on MLX (MLX trains {', '.join(mlx_modalities()) or 'nothing yet'})",
                               hint=f"{self.no_mlx_hint + ', or ' if self.no_mlx_hint else ''}drop --accelerator mlx "
                                    f"to train {name} on PyTorch (cpu, cuda, rocm, mps)")
        return load_ref(self.classes[key])

    def check(self, config) -> list:
        """Every problem that stops `config` from running on its backend (empty: it can start). With
        --accelerator auto the hardware is detected only if a check needs it (auto is never MLX)."""
        from halo_forge.backend import DeferredCapabilities, capabilities, get_backend
        from halo_forge.config import Problem

        from halo_forge.training.launch import launch_problems

        try:
            if config.accelerator == "auto":
                cls, caps = self.trainer_class("auto"), DeferredCapabilities("auto")
            else:
                backend = get_backend(config.accelerator)
                cls, caps = self.trainer_class(backend), capabilities(backend)
        except BackendError as exc:
            return [Problem("accelerator", config.accelerator, exc.message + (f": {exc.hint}" if exc.hint else ""))]
        return cls.check(config, caps) + launch_problems(config, cls, caps)  # --num-processes: read caps only then

    def get(self, config, data=None):
        """The trainer for `config`'s backend, built (once per run) after `check` found nothing wrong."""
        from halo_forge.backend import get_backend
        from halo_forge.config import config_error

        problems = self.check(config)
        if problems:
            raise config_error(type(config), problems, "this machine")
        backend = get_backend(config.accelerator)
        return self.trainer_class(backend)(config, backend=backend, data=data)
