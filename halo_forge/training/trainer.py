"""The `Trainer` protocol the flow depends on, the state every trainer holds (`RunState`) and its PyTorch form.

A trainer is checked before anything starts (`check`: pure, nothing loaded), built once per run,
and `train()`ed once. `plan` is everything it will hand to the libraries, derived from the config
without loading anything: `train()` builds its TRL config, model loading, PEFT config and held-out
evaluation from it, and a test proves every config field reaches it (or is named in `used_elsewhere`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from halo_forge.backend import Capabilities
from halo_forge.config import Problem
from halo_forge.summary import TrainingSummary

# Fields every trainer consumes outside `plan`, and where.
USED_BY_THE_RUN = {
    "model": "resolve_model + from_pretrained in train()",
    "dataset": "the data loader (registry.load_data)", "data": "the data loader (registry.load_data)",
    "max_samples": "the data loader (registry.load_data)", "eval_split": "the data loader (registry.load_data)",
    "max_eval_samples": "the data loader (registry.load_data)",
    "output": "OutputFolder (staging and publish)", "overwrite": "OutputFolder (staging and publish)",
    "accelerator": "dispatch (halo_forge.backend.get_backend)",
    "resume": "CheckpointState.open (which checkpoint train() resumes from)",
    "num_processes": "training/launch.py: `accelerate launch --num_processes N` around train()",
    "distributed": "training/launch.py: the accelerate config file (configs/accelerate/<name>.yaml)",
}


class Trainer(Protocol):
    """What the flow needs of a trainer, whatever its algorithm or backend."""

    modality: ClassVar[str]
    run_id: str
    callbacks: list  # extra TrainerCallbacks (the flow adds MLflow's metric stream)
    inputs_extra: dict  # lineage the flow resolved (cache key, digests), merged into summary.inputs
    quiet: bool

    @classmethod
    def check(cls, config, caps: Capabilities) -> list[Problem]: ...

    def train(self) -> TrainingSummary: ...


class RunState:
    """What every trainer holds for its one run, whatever the backend (`TorchTrainer`, `mlx.trainer.MLXTrainer`):
    the config, the backend's capabilities, the run id, the output folder it stages into and its `plan`."""

    modality: ClassVar[str] = "base"
    used_elsewhere: ClassVar[dict[str, str]] = USED_BY_THE_RUN
    # whether train() is safe under `accelerate launch` (rank 0 alone writes); else --num-processes is refused
    multi_process: ClassVar[bool] = False

    def __init__(self, config, backend: str, data=None) -> None:
        from halo_forge.backend import capabilities
        from halo_forge.outputs import OutputFolder
        from halo_forge.training.summarise import new_run_id

        self.config = config
        self.warnings: list[str] = []  # what the run warns of before it begins: the first notes of its summary
        self.data = data  # pre-materialised rows (the flow and replays pass them); else loaded in train()
        self.caps = capabilities(backend)
        self.run_id = new_run_id(self.modality)
        self.output = OutputFolder(Path(config.output), self.run_id, overwrite=config.overwrite)
        self.quiet = False
        self.callbacks: list = []  # transformers TrainerCallbacks (an MLX loop calls them as Trainer would)
        self.inputs_extra: dict = {}
        self.cpu_threads = self.claim_cpu_threads()
        self.plan = self.plan_for(config, self.caps)

    def claim_cpu_threads(self) -> int | None:
        """The CPU threads this run uses, set before anything loads (None: the backend manages its own)."""
        return None

    @classmethod
    def plan_for(cls, config, caps: Capabilities) -> dict[str, Any]:
        """What `train()` hands to the libraries, by section (PyTorch: trl, model, peft, eval, …)."""
        raise NotImplementedError


class TorchTrainer(RunState):
    """The state a PyTorch trainer holds for its one run; its `train()` is the recipe."""

    # train() is safe under `accelerate launch` (rank 0 alone writes: the shared helpers see to it)
    multi_process: ClassVar[bool] = True

    def claim_cpu_threads(self) -> int | None:
        from halo_forge.training.args import set_cpu_threads

        return set_cpu_threads(self.caps.backend)

    @classmethod
    def check(cls, config, caps: Capabilities) -> list[Problem]:
        """What stops this config from running on this backend (its output folder is checked when the run
        starts, after the cache: an identical run recorded there is a cache hit, not a clash)."""
        from halo_forge.backend import torch_problems

        return torch_problems(config, caps)

    @staticmethod
    def library_plan(config, caps: Capabilities, *, peft_task: str = "CAUSAL_LM", **trl: Any) -> dict[str, Any]:
        """The sections every PyTorch plan has: the TRL config's fields (the shared TrainingArguments plus
        `trl`), the `from_pretrained` arguments and the PEFT config."""
        from halo_forge.models.loading import peft_config
        from halo_forge.training.args import common_args, model_kwargs

        return {"trl": {**common_args(config, caps), **trl}, "model": model_kwargs(config, caps),
                "peft": peft_config(config, peft_task)}


def output_problems(config) -> list[Problem]:
    """An --output folder that holds another run (and no --overwrite), or is a file."""
    from halo_forge.errors import OutputError
    from halo_forge.outputs import OutputFolder

    try:
        OutputFolder(Path(config.output), "check", overwrite=config.overwrite)
    except OutputError as exc:
        return [Problem("output", str(config.output), exc.message + (f": {exc.hint}" if exc.hint else ""))]
    return []
