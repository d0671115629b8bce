"""Shared configuration for every trainer: pydantic models, YAML loading and precedence.

Every trainer's config subclasses `TrainConfig`. Each field carries its description beside it;
the CLI flags (``--field-name``) and docs/TRAINERS.md are generated from these models.
Precedence is CLI > YAML (``--config run.yaml``) > defaults. All bad fields are reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from halo_forge.errors import ConfigError

Accelerator = Literal["auto", "cuda", "rocm", "mps", "cpu", "mlx"]
InitLoraWeights = Literal["pissa", "loftq", "olora", "gaussian", "true", "false"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
]

BNB_OPTIMIZERS = ("adamw_bnb_8bit", "lion_8bit", "paged_adamw_8bit", "paged_adamw_32bit")


class TrainConfig(BaseModel):
    """Fields every trainer shares. Subclasses set `modality` and add their own knobs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    modality: ClassVar[str] = "base"

    # what to train and on what
    model: str = Field("halo-forge/tiny", description="Base model: a hub id, a local folder, or halo-forge/tiny.")
    dataset: str | None = Field(None, description="Dataset short name (see `halo-forge <trainer> datasets`) or a hub id.")
    data: Path | None = Field(None, description="Local data file (.jsonl, .json or .parquet) instead of --dataset.")
    max_samples: int | None = Field(None, gt=0, description="Use at most this many training rows.")
    output: Path = Field(Path("outputs/run"), description="Folder for the model and training_summary.json.")
    overwrite: bool = Field(False, description="Replace an output folder that already holds a different run.")
    seed: int = Field(42, description="Random seed for data order, initialisation and sampling.")

    # schedule
    epochs: float = Field(1.0, gt=0, description="Passes over the training data (ignored when --max-steps is set).")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many optimiser steps (-1: use --epochs).")
    batch_size: int = Field(2, gt=0, description="Per-device batch size.")
    gradient_accumulation: int = Field(1, gt=0, description="Micro-batches accumulated per optimiser step.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Scheduler = Field("cosine", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_length: int = Field(1024, gt=0, description="Maximum tokens per training sequence (longer rows are truncated).")
    optim: str = Field("adamw_torch", description="Optimiser, forwarded to transformers.TrainingArguments.optim.")
    logging_steps: int = Field(10, gt=0, description="Log the training loss every N steps.")

    # LoRA block
    no_lora: bool = Field(False, description="Full fine-tune: train every weight, no adapters.")
    lora_rank: int = Field(16, gt=0, description="LoRA rank r.")
    lora_alpha: float = Field(32, gt=0, description="LoRA scaling alpha.")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path.")
    lora_target_modules: str = Field("all-linear", description="Comma-separated module names to adapt, or all-linear.")
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA (magnitude + direction).")
    use_rslora: bool = Field(False, description="rsLoRA: rank-stabilised scaling alpha/sqrt(r).")
    init_lora_weights: InitLoraWeights = Field("true", description="LoRA initialisation: pissa, loftq, olora, gaussian, true, false.")
    load_in_4bit: bool = Field(False, description="QLoRA: load the base model in 4-bit (CUDA and bitsandbytes only).")

    # hardware and evaluation
    accelerator: Accelerator = Field("auto", description="Backend: auto-detect, or force cuda, rocm, mps, cpu or mlx.")
    precision: Precision = Field("auto", description="auto: bf16 on GPUs that support it, fp32 on CPU.")
    eval_split: float = Field(0.05, gt=0, lt=1, description="Fraction held out for evaluation when the dataset has no held-out split.")
    max_eval_samples: int = Field(200, gt=0, description="Evaluate on at most this many held-out rows.")

    @model_validator(mode="after")
    def _cross_checks(self) -> "TrainConfig":
        problems: list[str] = []
        if self.dataset is None and self.data is None:
            problems.append("give a dataset: --dataset NAME or --data FILE")
        if self.dataset is not None and self.data is not None:
            problems.append(f"--dataset {self.dataset!r} and --data {str(self.data)!r} both given: choose one")
        if self.no_lora:
            for flag, on in (("--use-dora", self.use_dora), ("--use-rslora", self.use_rslora),
                             ("--load-in-4bit", self.load_in_4bit)):
                if on:
                    problems.append(f"{flag} needs LoRA adapters but --no-lora asks for a full fine-tune: drop one of them")
            if self.init_lora_weights != "true":
                problems.append(f"--init-lora-weights {self.init_lora_weights} needs LoRA adapters but --no-lora was given")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def use_lora(self) -> bool:
        return not self.no_lora

    def result_fields(self) -> dict[str, Any]:
        """Fields that change the trained result (everything but where and whether to write)."""
        return self.model_dump(mode="json", exclude={"output", "overwrite"})


class PreferenceEvalFields(TrainConfig):
    """Held-out evaluation knobs every preference trainer shares (DPO, ORPO)."""

    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out row when measuring task accuracy (rows with an `answer`).")
    eval_batch_size: int = Field(64, gt=0, description="Batch size for held-out evaluation.")


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _format_validation_error(exc: ValidationError, source: str, model_fields=()) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        where = flag_name(loc) if loc else "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":  # only a YAML key can be unknown: name the key, not a flag
            import difflib

            where = loc
            close = difflib.get_close_matches(loc, list(model_fields), n=1)
            msg = "unknown field" + (f" (did you mean {close[0]}?)" if close else "")
        value = err.get("input")
        shown = f" (got {value!r})" if loc and not isinstance(value, dict) else ""
        lines.append(f"  {where}{shown}: {msg}")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; syntax errors name the file and line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", hint="check the path given to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {exc.problem}",
                          hint="fix the YAML syntax on that line") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of field: value, got {type(data).__name__}",
                          hint="write one `field: value` per line, e.g. `learning_rate: 2e-4`")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def build_config(cls: type[TrainConfig], cli: dict[str, Any] | None = None,
                 yaml_path: Path | None = None) -> TrainConfig:
    """Merge defaults < YAML < CLI values into a validated `cls`; every bad field reported at once."""
    values: dict[str, Any] = {}
    source = "defaults"
    if yaml_path is not None:
        values.update(read_yaml(yaml_path))
        source = str(yaml_path)
    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    if cli:
        if "data" in cli or "dataset" in cli:
            # the data source is one choice: --data/--dataset on the command line replaces the YAML's
            for key in ("data", "dataset"):
                if key not in cli:
                    values.pop(key, None)
        values.update(cli)
        source = f"{source} + command line" if yaml_path else "command line"
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source, cls.model_fields),
                          hint=f"run `halo-forge {cls.modality} train --help` for the allowed values") from None
