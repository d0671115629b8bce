"""Living with the libraries: their progress bars and printers silenced (ours replace them), and the
metrics TRL logs turned into summary histories."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def quiet_libraries() -> None:
    """Silence the per-step tqdm bars of transformers, datasets and the hub (our progress replaces them)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:
        pass


@contextmanager
def no_tqdm() -> Iterator[None]:
    """TQDM_DISABLE=1 while inside (TRL's dataset passes show bars of their own)."""
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous


def quiet_trainer(trainer):
    """Our progress callback replaces transformers' dict printer and tqdm bars; returns the trainer."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def strip_answers(rows: list[dict]) -> list[dict]:
    """Rows without the `answer` column (ground truth for evaluation, not a training input)."""
    return [{k: v for k, v in r.items() if k != "answer"} for r in rows]


def metric_histories(log_history: list[dict], names: dict[str, str]) -> dict[str, list[dict]]:
    """{summary key: [{step, value}]} for each TRL metric in `names` that was logged while training."""
    out: dict[str, list[dict]] = {key: [] for key in names.values()}
    for entry in log_history:
        for metric, key in names.items():
            if metric in entry and "step" in entry:
                out[key].append({"step": entry["step"], "value": float(entry[metric])})
    return out


def wrap_for_training(trainer) -> None:
    """Let a multi-process DDP run wrap the model after a held-out evaluation ran before training.

    accelerate (1.14+) marks every model it prepares, evaluation-mode preparation included (no DDP
    wrapper), and then returns a marked model unwrapped when training prepares it: each rank would train
    alone on its share of every batch, its gradients never averaged. The mark is dropped here for a model
    that is still unwrapped (DDP); FSDP and DeepSpeed prepare the model for real when evaluating."""
    from halo_forge.training.ranks import world_size

    model = trainer.model
    if world_size() <= 1 or trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        return
    if getattr(model, "_is_accelerate_prepared", False) and trainer.accelerator.unwrap_model(model) is model:
        model._is_accelerate_prepared = False
        trainer.accelerator._models = [m for m in trainer.accelerator._models if m is not model]
