"""The trained weights: did they move, and saving them (adapter or full model) with the tokenizer."""

from __future__ import annotations

from pathlib import Path

from halo_forge.training.ranks import is_main


def trainable_snapshot(model, *, every_weight: bool = False) -> dict:
    """A copy of the trainable weights (of every weight with `every_weight`: for trainers that replace
    the model, such as RAFT merging each cycle's adapter)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if every_weight or p.requires_grad}


def weights_changed(model, snapshot: dict) -> tuple[bool, float]:
    """(any trainable weight moved, L2 norm of the change)."""
    import torch

    total = 0.0
    for name, p in model.named_parameters():
        if name in snapshot:
            total += float(torch.sum((p.detach().cpu().float() - snapshot[name].float()) ** 2))
    return total > 0.0, total ** 0.5


def drop_trainer_files(folder: Path) -> None:
    """Remove Trainer's checkpoint folders and its pickled arguments (they name the staging folder)."""
    import shutil

    for p in Path(folder).glob("checkpoint-*"):
        shutil.rmtree(p, ignore_errors=True)
    (Path(folder) / "training_args.bin").unlink(missing_ok=True)


def save_model(trainer, tokenizer, run) -> None:
    """The trained model (or its adapter, made loadable on the original base) and the tokenizer,
    into the run's staging folder."""
    from halo_forge.models.loading import finish_adapter

    staging = run.staging
    trainer.save_model(str(staging))  # every rank: FSDP and ZeRO-3 gather the sharded weights; rank 0 writes
    if not is_main():
        return
    if not getattr(run.config, "no_lora", True):
        finish_adapter(trainer.model, staging, model_name=run.config.model, initial=run.initial_adapter)
    tokenizer.save_pretrained(str(staging))
    drop_trainer_files(staging)
