"""`build_summary`: the one place a run's `TrainingSummary` is assembled and written into its staging
folder, whatever trainer produced it."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata

from halo_forge.summary import Cycle, Evaluation, Inputs, Outputs, TrainingSummary, judge
from halo_forge.training.args import peft_kind, precision_name
from halo_forge.training.ranks import is_main, world_size
from halo_forge.training.run import Fit, Run, now_iso

PACKAGES = ("halo-forge", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "mlx", "mlx-lm")


def new_run_id(modality: str) -> str:
    """`<modality>-<epoch ms>`, or `$HALO_FORGE_RUN_ID` when set (the dashboard names a run it launches
    before the run starts, so the id it returns is the one the run is indexed under)."""
    return os.environ.get("HALO_FORGE_RUN_ID") or f"{modality}-{int(time.time() * 1000)}"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg.replace("-", "_")] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def common_extra(run: Run, fit: Fit, data) -> dict:
    """The `extra` fields every trainer reports (its own knobs and histories go beside them)."""
    cfg = run.config
    extra = {"data_format": data.format, "notes": run.notes, "loss_history": run.progress.history,
             "train_seconds": round(fit.seconds, 3),
             "steps_per_second": round(fit.steps / fit.seconds, 3) if fit.seconds else None,
             "weight_delta_l2": fit.delta_l2, "cpu_threads": run.owner.cpu_threads,
             "backend": run.owner.caps.backend, "precision": precision_name(cfg, run.owner.caps)}
    if hasattr(cfg, "no_lora"):
        extra.update({"peft": peft_kind(cfg), "use_rslora": cfg.use_rslora, "init_lora_weights": cfg.init_lora_weights})
    if hasattr(cfg, "optim"):
        extra["optim"] = cfg.optim
    extra.update(launch_extra(cfg))
    return extra


def launch_extra(cfg) -> dict:
    """How many processes trained the run, how they shared it, and the global batch that makes."""
    world = world_size()
    extra = {"world_size": world, "distributed": getattr(cfg, "distributed", "ddp") if world > 1 else None}
    if hasattr(cfg, "batch_size") and hasattr(cfg, "gradient_accumulation"):
        extra["global_batch_size"] = cfg.batch_size * cfg.gradient_accumulation * world
    return extra


def build_summary(run: Run, *, data, model_ref: str, evaluations: list[Evaluation], fit: Fit, extra: dict,
                  cycles: list[Cycle] | None = None, yield_diagnostics: dict | None = None,
                  explanations: list[str] | None = None, adapter: bool | None = None,
                  recovery: dict | None = None) -> TrainingSummary:
    """Judge the run on its held-out evaluations, assemble its summary and write it into the staging
    folder (published with the model when the run's `staged_run` block ends; by rank 0 alone)."""
    from halo_forge.lineage.digests import model_digest
    from halo_forge.models.loading import folder_digest

    cfg, owner = run.config, run.owner
    effectiveness = judge(evaluations, steps=fit.steps, weights_updated=fit.moved)
    effectiveness.reasons += explanations or []
    summary = TrainingSummary(
        modality=owner.modality, model_name=cfg.model, run_id=owner.run_id, seed=cfg.seed,
        backend=owner.caps.backend, started_at=run.started, ended_at=now_iso(),
        duration_seconds=round(time.monotonic() - run.t0, 3),
        cycles=cycles or [Cycle(cycle=0, train_loss=fit.final_loss, cycle_duration_seconds=round(fit.seconds, 3),
                                steps=fit.steps)],
        total_train_steps_executed=fit.steps, final_train_loss=fit.final_loss, weights_updated=fit.moved,
        effectiveness=effectiveness, yield_diagnostics=yield_diagnostics or {},
        recovery=run.recovery if recovery is None else recovery,
        extra={**common_extra(run, fit, data), **extra},
        inputs=Inputs(**{"dataset": data.source, "dataset_digest": data.digest, "train_rows": len(data.train),
                         "eval_rows": len(data.heldout), "model_digest": model_digest(model_ref),
                         **owner.inputs_extra}),
        outputs=Outputs(model_path=str(owner.output.path),
                        model_digest=folder_digest(run.staging) if is_main() else None,
                        adapter=not getattr(cfg, "no_lora", True) if adapter is None else adapter),
        versions=versions(), config=cfg.model_dump(mode="json"),
    )
    if is_main():  # the other ranks of a multi-process run hold the same summary and write nothing
        summary.write(run.staging)
    return summary
