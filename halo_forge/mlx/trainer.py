"""The state an MLX trainer holds for its one run (the MLX counterpart of `training.TorchTrainer`), what every
MLX trainer checks and warns about, and the policy it loads and saves.

    class MLXSFTTrainer(MLXTrainer):
        modality = "sft"
        ignored = {"packing": (False, "--packing")}       # warned once at init, beside the LoRA/optimiser knobs

A trainer's `plan` (pure, like the PyTorch plans) has the sections `common_plan` builds — model (dtype), adapter
(LoRA or full), optimizer, loop (steps, batches, logging, checkpoints, seed) — plus its own (data, loss, eval …).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from halo_forge.backend import Capabilities
from halo_forge.config import Problem
from halo_forge.training.trainer import USED_BY_THE_RUN, RunState

MLX_ADAPTER_DIR = "mlx_adapter"  # mlx-lm's adapter format, beside the PEFT adapter at the output's root
# the --optim MLX runs (AdamW with PyTorch's adamw_torch semantics); any other value is warned and ignored
MLX_OPTIM = {"optim": ("adamw_torch", "--optim other than adamw_torch (MLX runs AdamW as adamw_torch)")}


class MLXTrainer(RunState):
    """The state an MLX trainer holds for its one run; its `train()` is the recipe."""

    used_elsewhere: ClassVar[dict[str, str]] = {**USED_BY_THE_RUN, "model": "weights.load (mlx-lm) in train()"}
    # fields this trainer ignores on MLX beyond backend._MLX_UNSUPPORTED: {field: (default, what)}, warned at init
    ignored: ClassVar[dict[str, tuple[Any, str]]] = MLX_OPTIM

    def __init__(self, config, backend: str = "mlx", data=None) -> None:
        super().__init__(config, backend, data)
        self.warnings = self.warn_ignored(config)

    @classmethod
    def warn_ignored(cls, config) -> list[str]:
        """Warn once, naming the flag, for every knob this run sets that MLX ignores; the messages (for the notes)."""
        from halo_forge.backend import warn_unsupported_for_mlx

        return warn_unsupported_for_mlx(config, extra=cls.ignored)

    @classmethod
    def check(cls, config, caps: Capabilities) -> list[Problem]:
        """What MLX cannot run at all (pure): a missing mlx-lm, a schedule MLX does not implement."""
        from halo_forge.errors import BackendError
        from halo_forge.mlx.runtime import require_mlx
        from halo_forge.mlx.steps import SCHEDULES

        problems = []
        try:
            require_mlx()
        except BackendError as exc:
            problems.append(Problem("accelerator", "mlx", f"{exc.message}: {exc.hint}"))
        schedule = getattr(config, "lr_scheduler", "constant")
        if schedule not in SCHEDULES:
            problems.append(Problem("lr_scheduler", schedule, f"not available on MLX: use {', '.join(SCHEDULES)}, or "
                                                              "drop --accelerator mlx to train on PyTorch"))
        return problems

    @classmethod
    def plan_for(cls, config, caps: Capabilities) -> dict[str, Any]:
        raise NotImplementedError

    def mlx_extra(self) -> dict[str, Any]:
        """What the summary's `extra` says of an MLX run beside the common fields: the device, and the LoRA kind
        and optimiser that really ran (the ignored knobs are in the notes)."""
        from halo_forge.mlx.runtime import device_description

        cfg = self.config
        extra: dict[str, Any] = {"mlx_device": device_description()["device"], "mlx_compile": self.plan["loop"]["compile"]}
        if hasattr(cfg, "no_lora"):
            extra.update(peft=self.plan["adapter"]["kind"], use_rslora=False, init_lora_weights="true")
        if hasattr(cfg, "optim"):
            extra["optim"] = "adamw_torch"
        return extra


def common_plan(config, caps: Capabilities) -> dict[str, Any]:
    """The sections every MLX plan has: model dtype, adapter, optimiser and the loop's schedule."""
    from halo_forge.training.args import precision_name

    adapter = {"kind": "full"} if config.no_lora else {
        "kind": "lora", "rank": config.lora_rank, "alpha": config.lora_alpha, "dropout": config.lora_dropout,
        "targets": config.lora_target_modules}
    return {
        "model": {"dtype": precision_name(config, caps)},
        "adapter": adapter,
        "optimizer": {"lr": config.learning_rate, "schedule": config.lr_scheduler, "warmup_steps": config.warmup_steps,
                      "weight_decay": config.weight_decay},
        "loop": {"max_steps": config.max_steps, "epochs": config.epochs, "batch_size": config.batch_size,
                 "gradient_accumulation": config.gradient_accumulation, "logging_steps": config.logging_steps,
                 "checkpoint_every": getattr(config, "checkpoint_every", 0), "seed": config.seed, "compile": True},
    }


def load_policy(model_ref: str, plan: dict, seed: int):
    """(MLX model, adapter config) for `model_ref`: loaded, cast to the plan's dtype, LoRA applied (seeded first:
    LoRA's A matrices come from MLX's global generator) or every weight made trainable."""
    import mlx.core as mx

    from halo_forge.mlx import lora, runtime, weights

    runtime.seed(seed)
    model, _ = weights.load(model_ref)
    model.set_dtype({"fp32": mx.float32, "bf16": mx.bfloat16, "fp16": mx.float16}[plan["model"]["dtype"]])
    spec = plan["adapter"]
    if spec["kind"] == "full":
        return model, lora.prepare_full(model)
    return model, lora.apply_lora(model, rank=spec["rank"], alpha=spec["alpha"], dropout=spec["dropout"],
                                  targets=spec["targets"])


@contextmanager
def evaluating(model):
    """The model in eval mode inside the block (no LoRA dropout), back in its previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def source_folder(model_ref: str) -> Path:
    """The local folder holding the config of the model `model_ref` names (an adapter's base, a hub snapshot)."""
    from halo_forge.models.loading import adapter_base, resolve_model

    base = adapter_base(model_ref)
    ref = resolve_model(base) if base else model_ref
    if Path(ref).is_dir():
        return Path(ref)
    from mlx_lm.utils import hf_repo_to_path

    return hf_repo_to_path(ref)


def save_policy(model, adapter_cfg: dict, folder: Path, *, tokenizer, model_name: str, model_ref: str) -> None:
    """The trained policy into `folder`, loadable by every halo-forge trainer and by transformers/PEFT:
    LoRA → a PEFT adapter at the root (+ mlx-lm's own format in `mlx_adapter/`); full → an HF model folder.
    The built-in tiny models are named by name (rebuilt identically anywhere), others by their folder."""
    from halo_forge.mlx import lora, peft_convert, weights
    from halo_forge.models import tiny

    folder = Path(folder)
    if adapter_cfg["fine_tune_type"] == "full":
        weights.save_hf(lora.fuse(model), folder, source=source_folder(model_ref), tokenizer=tokenizer)
        return
    base = model_name if tiny.is_tiny(model_name) else model_ref
    lora.save_adapter(model, folder / MLX_ADAPTER_DIR, adapter_cfg, base_model=base)
    peft_convert.mlx_to_peft(folder / MLX_ADAPTER_DIR, folder, base_model=base)
    weights.hf_tokenizer(tokenizer).save_pretrained(str(folder))
