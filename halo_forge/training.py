"""Pieces every PyTorch trainer shares: TrainingArguments defaults per backend, the weight-change
check, version stamps and run ids. Trainers import this; it imports torch lazily."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from halo_forge.backend import Capabilities


def new_run_id(modality: str) -> str:
    """`<modality>-<epoch ms>`, or `$HALO_FORGE_RUN_ID` when set (the dashboard names a run it launches
    before the run starts, so the id it returns is the one the run is indexed under)."""
    import os

    return os.environ.get("HALO_FORGE_RUN_ID") or f"{modality}-{int(time.time() * 1000)}"


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


class no_tqdm:  # noqa: N801 - used as a context manager
    """TQDM_DISABLE=1 while inside (TRL's dataset passes show bars of their own)."""

    def __enter__(self):
        import os

        self.previous = os.environ.get("TQDM_DISABLE")
        os.environ["TQDM_DISABLE"] = "1"

    def __exit__(self, *exc):
        import os

        if self.previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = self.previous


def quiet_trainer(trainer) -> None:
    """Our progress callback replaces transformers' dict printer and tqdm bars."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


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


def drop_checkpoints(folder) -> None:
    """Remove Trainer's checkpoint folders and its pickled arguments (they name the staging folder)."""
    import shutil
    from pathlib import Path

    for p in Path(folder).glob("checkpoint-*"):
        shutil.rmtree(p, ignore_errors=True)
    (Path(folder) / "training_args.bin").unlink(missing_ok=True)


def peft_kind(config) -> str:
    return "full" if config.no_lora else ("dora" if config.use_dora else "lora")


def set_cpu_threads(backend: str) -> int | None:
    """Torch threads for CPU training: one core is left to the rest of the run (the Prefect server,
    tracking, data); on a 2-core machine two torch threads next to any busy process collapse from
    ~8 to ~1 step/s. `HALO_FORGE_CPU_THREADS` or `OMP_NUM_THREADS` choose explicitly."""
    if backend != "cpu":
        return None
    import os

    import torch

    if os.environ.get("HALO_FORGE_CPU_THREADS"):
        torch.set_num_threads(max(1, int(os.environ["HALO_FORGE_CPU_THREADS"])))
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return torch.get_num_threads()


@dataclass
class Measured:
    """What `TorchRun.train_measured` returns: held-out figures before/after and the shared extras."""

    before: Any
    after: Any
    train_seconds: float
    moved: bool
    extra: dict


class TorchRun:
    """What every PyTorch trainer shares around its TRL trainer: the backend check, run id, output
    folder, the saved model, the summary and the atomic publish. Subclasses set `modality` and write
    `train()` as a recipe: load, measure before, train, measure after, `self.finish(...)`.

    Attributes the flow uses: `run_id`, `callbacks` (extra TrainerCallbacks, e.g. MLflow's metric
    stream) and `inputs_extra` (lineage merged into `summary.inputs`).
    """

    modality = "base"

    def __init__(self, config, backend: str, data=None) -> None:
        from pathlib import Path

        from halo_forge.backend import capabilities, check_torch_config
        from halo_forge.outputs import OutputFolder

        self.config = config
        self.data = data  # pre-materialised rows (the flow and replays pass them); else loaded in train()
        self.caps = capabilities(backend)
        check_torch_config(config, self.caps)
        self.run_id = new_run_id(self.modality)
        self.output = OutputFolder(Path(config.output), self.run_id, overwrite=config.overwrite)
        self.quiet = False
        self.callbacks: list = []  # extra TrainerCallbacks (the flow adds MLflow's metric stream)
        self.inputs_extra: dict = {}  # lineage the flow resolved (cache key, digests)
        self.started, self.t0 = now_iso(), time.monotonic()
        self.cpu_threads = set_cpu_threads(self.caps.backend)

    def torch_dtype(self):
        import torch

        flags = precision_flags(self.config, self.caps)
        return torch.bfloat16 if flags["bf16"] else torch.float16 if flags["fp16"] else torch.float32

    def save(self, trainer, tokenizer, staging, *, initial=None) -> None:
        """Model (or adapter, made loadable on the original base) + tokenizer into `staging`."""
        from halo_forge.models.loading import finish_adapter

        trainer.save_model(str(staging))
        if not self.config.no_lora:
            finish_adapter(trainer.model, staging, model_name=self.config.model, initial=initial)
        tokenizer.save_pretrained(str(staging))
        drop_checkpoints(staging)

    def prepare(self, load_data, *, chat_template: bool = False):
        """Start the clock, quiet the libraries, load the rows (unless the flow passed them), resolve the
        model and its tokenizer; returns (data, model_ref, tokenizer, notes)."""
        from halo_forge.models.loading import ensure_chat_template, load_tokenizer, resolve_model

        self.started, self.t0 = now_iso(), time.monotonic()
        quiet_libraries()
        data = self.data if self.data is not None else load_data(self.config)
        model_ref = resolve_model(self.config.model)
        tokenizer = load_tokenizer(model_ref)
        notes = list(data.notes)
        note = ensure_chat_template(tokenizer) if chat_template else None
        if note:
            notes.append(note)
        return data, model_ref, tokenizer, notes

    def train_measured(self, trainer, tokenizer, staging, measure, *, data, progress, notes: list,
                       adapter_init: bool = True) -> "Measured":
        """The sequence every trainer runs: snapshot the trainable weights, measure held-out figures,
        train, measure again, check the weights moved, save the model; plus the shared `extra` fields."""
        from halo_forge.models.loading import save_initial_adapter

        snapshot = trainable_snapshot(trainer.model)
        initial = save_initial_adapter(trainer.model, self.config, staging) if adapter_init else None  # PiSSA/OLoRA
        before = measure()
        start = time.monotonic()
        result = trainer.train()
        train_seconds = time.monotonic() - start
        after = measure()
        moved, delta_norm = weights_changed(trainer.model, snapshot)
        steps = int(trainer.state.global_step)
        self.save(trainer, tokenizer, staging, initial=initial)
        extra = self.base_extra(trainer, data=data, train_seconds=train_seconds, steps=steps, delta_norm=delta_norm,
                                history=progress.history, notes=notes, result=result)
        return Measured(before=before, after=after, train_seconds=train_seconds, moved=moved, extra=extra)

    def base_extra(self, trainer, *, data, train_seconds: float, steps: int, delta_norm: float, history: list,
                   notes: list, result=None) -> dict:
        """The `extra` fields every trainer reports (its own knobs and histories are merged on top)."""
        cfg = self.config
        runtime = float(result.metrics.get("train_runtime", train_seconds)) if result is not None else train_seconds
        return {
            "peft": peft_kind(cfg), "use_rslora": cfg.use_rslora, "init_lora_weights": cfg.init_lora_weights,
            "optim": cfg.optim, "data_format": data.format,
            "train_runtime_seconds": round(runtime, 3),
            "steps_per_second": round(steps / train_seconds, 3) if train_seconds else None,
            "weight_delta_l2": delta_norm, "loss_history": history, "notes": notes,
            "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
            "cpu_threads": self.cpu_threads,
        }

    def finish(self, *, trainer, staging, data, model_ref: str, evaluations: list, train_seconds: float,
               moved: bool, extra: dict):
        """Judge, write training_summary.json into `staging` and publish the output folder atomically."""
        from halo_forge.lineage.digests import model_digest
        from halo_forge.models.loading import folder_digest
        from halo_forge.summary import Cycle, Inputs, Outputs, TrainingSummary, judge

        cfg = self.config
        steps = int(trainer.state.global_step)
        loss = final_loss(trainer.state.log_history)
        summary = TrainingSummary(
            modality=self.modality, model_name=cfg.model, run_id=self.run_id, seed=cfg.seed,
            backend=self.caps.backend, started_at=self.started, ended_at=now_iso(),
            duration_seconds=round(time.monotonic() - self.t0, 3),
            cycles=[Cycle(cycle=0, train_loss=loss, cycle_duration_seconds=round(train_seconds, 3), steps=steps)],
            total_train_steps_executed=steps,
            final_train_loss=loss,
            weights_updated=moved,
            effectiveness=judge(evaluations, steps=steps, weights_updated=moved),
            extra=extra,
            inputs=Inputs(**{"dataset": data.source, "dataset_digest": data.digest,
                             "train_rows": len(data.train), "eval_rows": len(data.heldout),
                             "model_digest": model_digest(model_ref), **self.inputs_extra}),
            outputs=Outputs(model_path=str(self.output.path), model_digest=folder_digest(staging),
                            adapter=not cfg.no_lora),
            versions=versions(),
            config=cfg.model_dump(mode="json"),
        )
        summary.write(staging)
        self.output.publish()
        return summary
