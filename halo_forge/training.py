"""Pieces every PyTorch trainer shares: TrainingArguments defaults per backend, the weight-change
check, version stamps and run ids. Trainers import this; it imports torch lazily."""

from __future__ import annotations

import platform
import time
from datetime import datetime, timezone
from importlib import metadata

from halo_forge.backend import Capabilities


def new_run_id(modality: str) -> str:
    return f"{modality}-{int(time.time() * 1000)}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("halo-forge", "torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[pkg.replace("-", "_")] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def precision_flags(config, caps: Capabilities) -> dict[str, bool]:
    """bf16 on GPUs that have it (or when asked), fp16 when asked, fp32 on CPU."""
    want = config.precision
    if want == "auto":
        want = "bf16" if caps.bf16 else "fp32"
    return {"bf16": want == "bf16", "fp16": want == "fp16"}


def common_args(config, caps: Capabilities, output_dir: str) -> dict:
    """TrainingArguments fields every trainer sets the same way (CPU-correct defaults included)."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    no_checkpointing = {"activation_checkpointing" if "activation_checkpointing" in fields
                        else "gradient_checkpointing": False}
    return dict(
        **no_checkpointing,
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        optim=config.optim,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        use_cpu=caps.backend == "cpu",
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **precision_flags(config, caps),
    )


def trainable_snapshot(model) -> dict:
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def weights_changed(model, snapshot: dict) -> tuple[bool, float]:
    """(any trainable weight moved, L2 norm of the change)."""
    import torch

    total = 0.0
    for name, p in model.named_parameters():
        if name in snapshot:
            total += float(torch.sum((p.detach().cpu().float() - snapshot[name].float()) ** 2))
    return total > 0.0, total ** 0.5


def final_loss(log_history: list[dict]) -> float | None:
    losses = [e["loss"] for e in log_history if "loss" in e]
    if losses:
        return float(losses[-1])
    train = [e["train_loss"] for e in log_history if "train_loss" in e]
    return float(train[-1]) if train else None


def quiet_libraries() -> None:
    """Silence the per-step tqdm bars of transformers, datasets and the hub (our progress replaces them)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:
        pass


def quiet_trainer(trainer) -> None:
    """Our progress callback replaces transformers' dict printer and tqdm bars."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
