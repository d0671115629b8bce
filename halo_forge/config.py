"""Trainer configs: field groups, YAML loading, precedence, and one validation pass.

A trainer's config is composed of the field groups it honours (run, schedule, sequence length, LoRA,
quantisation, held-out evaluation, checkpoints, rollouts …) plus its own knobs: a field a trainer
ignores is not on its config. Every field carries its description beside it; the CLI flags
(``--field-name``) and docs/TRAINERS.md are generated from these models.

Precedence is CLI > YAML (``--config run.yaml``) > defaults. `build_config` validates once and
reports every problem together — field values, cross-field combinations (each group's `_check`)
and what the backend cannot honour (the trainer's pure `check`) — as one `ConfigError` listing
``--flag (got value): fix`` lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from halo_forge.errors import ConfigError

Accelerator = Literal["auto", "cuda", "rocm", "mps", "cpu", "mlx"]
InitLoraWeights = Literal["pissa", "loftq", "olora", "gaussian", "true", "false"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Distributed = Literal["ddp", "fsdp", "zero2", "zero3"]
Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"
]

BNB_OPTIMIZERS = ("adamw_bnb_8bit", "lion_8bit", "paged_adamw_8bit", "paged_adamw_32bit")


# list fields given on the command line one value per repeated flag
REPEATED_FLAGS = {"verifiers": "--verifier", "verifier_weights": "--verifier-weight", "verifier_args": "--verifier-arg",
                 "tool_plugins": "--tool"}


def flag_name(field: str) -> str:
    return REPEATED_FLAGS.get(field) or "--" + field.replace("_", "-")


class Problem(NamedTuple):
    """One thing wrong with a config: the field, the value found and how to fix it."""

    field: str
    value: Any
    fix: str
    yaml_key: bool = False  # `field` is a key of the YAML file, not a flag

    def line(self) -> str:
        where = self.field if self.yaml_key else flag_name(self.field) if self.field else "config"
        return f"  {where}{_shown(self.value)}: {self.fix}"


def _shown(value: Any) -> str:
    """How a problem shows the value it found: as typed for numbers, quoted for text, nothing for a flag."""
    if value is None or value is True or isinstance(value, dict):
        return ""
    if isinstance(value, str):
        try:
            float(value)
            return f" (got {value})"
        except ValueError:
            return f" (got {value!r})"
    return f" (got {value!r})"


class FieldGroup(BaseModel):
    """A group of fields a trainer may honour; `_check` returns its cross-field problems."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def _check(self) -> list[Problem]:
        return []


class RunFields(FieldGroup):
    """What to train, on what, where the result goes, and on which hardware."""

    model: str = Field("halo-forge/tiny", description="Base model: a hub id, a local folder, or halo-forge/tiny.")
    dataset: str | None = Field(None, description="Dataset short name (see `halo-forge <trainer> datasets`) or a hub id.")
    data: Path | None = Field(None, description="Local data file (.jsonl, .json or .parquet) instead of --dataset.")
    max_samples: int | None = Field(None, gt=0, description="Use at most this many training rows.")
    output: Path = Field(Path("outputs/run"), description="Folder for the model and training_summary.json.")
    overwrite: bool = Field(False, description="Replace an output folder that already holds a different run.")
    seed: int = Field(42, description="Random seed for data order, initialisation and sampling.")
    accelerator: Accelerator = Field("auto", description="Backend: auto-detect, or force cuda, rocm, mps, cpu or mlx.")
    precision: Precision = Field("auto", description="auto: bf16 on GPUs that support it, fp32 on CPU.")

    def _check(self) -> list[Problem]:
        if self.dataset is None and self.data is None:
            return [Problem("dataset", None, "give a dataset: --dataset NAME or --data FILE")]
        if self.dataset is not None and self.data is not None:
            return [Problem("data", str(self.data),
                            f"--dataset {self.dataset!r} and --data {str(self.data)!r} both given: choose one")]
        return []


class LaunchFields(FieldGroup):
    """How many training processes a run uses on this machine (halo_forge/training/launch.py)."""

    num_processes: int = Field(1, ge=1, description="Training processes, started with `accelerate launch` (one per GPU; on CPU they share the cores over gloo). The global batch is --batch-size x --gradient-accumulation x this. Rank 0 alone writes the output, the summary and the records.")
    distributed: Distributed = Field("ddp", description="With --num-processes 2 or more: ddp (a replica per process), fsdp (PyTorch FSDP shards the weights), zero2 or zero3 (DeepSpeed ZeRO; needs deepspeed and GPUs); the accelerate config files are in configs/accelerate/.")

    def _check(self) -> list[Problem]:
        if self.distributed != "ddp" and self.num_processes == 1:
            return [Problem("distributed", self.distributed, "shares a run between processes but --num-processes is 1: "
                                                             "add --num-processes 2 (or more), or drop --distributed")]
        return []


class ScheduleFields(FieldGroup):
    """The optimiser and its schedule."""

    epochs: float = Field(1.0, gt=0, description="Passes over the training data (ignored when --max-steps is set).")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many optimiser steps (-1: use --epochs).")
    batch_size: int = Field(2, gt=0, description="Per-device batch size.")
    gradient_accumulation: int = Field(1, gt=0, description="Micro-batches accumulated per optimiser step.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Scheduler = Field("cosine", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    optim: str = Field("adamw_torch", description="Optimiser, forwarded to transformers.TrainingArguments.optim.")
    logging_steps: int = Field(10, gt=0, description="Log the training loss every N steps.")


class SequenceFields(FieldGroup):
    """How long a training sequence may be."""

    max_length: int = Field(1024, gt=0, description="Maximum tokens per training sequence (longer rows are truncated).")


class LoraFields(FieldGroup):
    """PEFT adapters: LoRA and its variants, or a full fine-tune."""

    no_lora: bool = Field(False, description="Full fine-tune: train every weight, no adapters.")
    lora_rank: int = Field(16, gt=0, description="LoRA rank r.")
    lora_alpha: float = Field(32, gt=0, description="LoRA scaling alpha.")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path.")
    lora_target_modules: str = Field("all-linear", description="Comma-separated module names to adapt, or all-linear.")
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA (magnitude + direction).")
    use_rslora: bool = Field(False, description="rsLoRA: rank-stabilised scaling alpha/sqrt(r).")
    init_lora_weights: InitLoraWeights = Field("true", description="LoRA initialisation: pissa, loftq, olora, gaussian, true, false.")

    def _check(self) -> list[Problem]:
        if not self.no_lora:
            return []
        problems = [Problem(name, True, "needs LoRA adapters but --no-lora asks for a full fine-tune: drop one of them")
                    for name in ("use_dora", "use_rslora") if getattr(self, name)]
        if self.init_lora_weights != "true":
            problems.append(Problem("init_lora_weights", self.init_lora_weights,
                                    "needs LoRA adapters but --no-lora was given: drop one of them"))
        return problems

    @property
    def use_lora(self) -> bool:
        return not self.no_lora


class QuantFields(FieldGroup):
    """Loading the base model quantised (QLoRA)."""

    load_in_4bit: bool = Field(False, description="QLoRA: load the base model in 4-bit (CUDA and bitsandbytes only).")

    def _check(self) -> list[Problem]:
        if self.load_in_4bit and getattr(self, "no_lora", False):
            return [Problem("load_in_4bit", True, "4-bit weights cannot be trained directly but --no-lora asks for "
                                                  "a full fine-tune: drop one of them")]
        return []


class HeldoutFields(FieldGroup):
    """The held-out rows the verdict is measured on."""

    eval_split: float = Field(0.05, gt=0, lt=1, description="Fraction held out for evaluation when the dataset has no held-out split.")
    max_eval_samples: int = Field(200, gt=0, description="Evaluate on at most this many held-out rows.")
    eval_batch_size: int = Field(64, gt=0, description="Batch size for held-out evaluation.")


class GenerationEvalFields(HeldoutFields):
    """Held-out evaluation that generates answers (task accuracy, verifier pass rate)."""

    eval_max_new_tokens: int = Field(32, gt=0, description="Tokens generated per held-out row when measuring task accuracy (rows with an `answer`).")


class CheckpointFields(FieldGroup):
    """Resumable checkpoints: weights, optimiser, scheduler, RNG states and data position."""

    checkpoint_every: int = Field(100, ge=0, description="Save a resumable checkpoint every N optimiser steps beside --output (0: never).")
    resume: bool = Field(False, description="Continue an interrupted run with the same config from its last checkpoint.")


def set_but_unused(config, unused: dict[str, str]) -> list[Problem]:
    """A problem for each field of `unused` (field → why this run does not use it) that was set away from its
    default: a knob that would silently do nothing is a mistake to report, not to ignore."""
    fields = type(config).model_fields
    return [Problem(name, getattr(config, name), why) for name, why in unused.items()
            if getattr(config, name) != fields[name].get_default(call_default_factory=True)]


# Fields that say where and how a run writes or restarts, never what it trains: not part of the cache key.
NOT_RESULT_FIELDS = frozenset({"output", "overwrite", "resume", "checkpoint_every", "vllm_server_base_url",
                               "vllm_server_host", "vllm_server_port", "vllm_server_timeout"})


class TrainConfig(LaunchFields, RunFields):
    """The base of every trainer's config: `RunFields` and `LaunchFields` plus the groups a subclass lists before it
    (in reverse order of display: pydantic orders fields from the last base to the first).

    A subclass sets `modality`, inherits the field groups it honours and adds its own knobs; its own
    cross-field problems go in `_check` (every group's `_check` runs, whatever the others found).
    """

    modality: ClassVar[str] = "base"
    # what its commands show (halo_forge/cli/trainers.py) and docs/TRAINERS.md
    summary: ClassVar[str] = ""  # the `halo-forge <trainer>` group's one-line help
    train_help: ClassVar[str] = ""  # the first line of `<trainer> train --help`
    example: ClassVar[str] = ""  # a full command, shown in --help and the docs
    datasets: ClassVar[str] = ""  # "module:REGISTRY" of the short names `<trainer> datasets` lists

    @model_validator(mode="after")
    def _all_cross_checks(self) -> "TrainConfig":
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(p.line() for p in problems))
        return self

    def problems(self) -> list[Problem]:
        """The cross-field problems of every field group in this config (fields must already be valid)."""
        found: list[Problem] = []
        for klass in type(self).__mro__:
            check = klass.__dict__.get("_check")
            if check is not None:
                found += check(self)
        return found

    def result_fields(self) -> dict[str, Any]:
        """Fields that change the trained result (everything but where and whether to write or resume)."""
        return self.model_dump(mode="json", exclude=set(NOT_RESULT_FIELDS))


def _field_problems(exc: ValidationError, model_fields) -> tuple[list[Problem], set[str]]:
    """Field-level errors of a pydantic validation as problems, and the names of the bad fields."""
    import difflib

    problems, bad = [], set()
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if not loc:  # the cross-field validator: recomputed by the caller on the valid fields
            continue
        name = str(err["loc"][0])
        bad.add(name)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":  # only a YAML key can be unknown: name the key, not a flag
            close = difflib.get_close_matches(name, list(model_fields), n=1)
            problems.append(Problem(loc, err.get("input"), "unknown field" + (f" (did you mean {close[0]}?)" if close
                                                                            else ""), yaml_key=True))
            continue
        problems.append(Problem(loc, err.get("input"), msg))
    return problems, bad


def collect_problems(cls: type[TrainConfig], values: dict[str, Any]) -> tuple[TrainConfig | None, list[Problem]]:
    """Validate `values` as `cls`: the config (None when anything is wrong) and every problem found —
    field values, every group's cross-field checks, and what the backend cannot honour."""
    from halo_forge import registry

    try:
        config = cls(**values)
        field_problems: list[Problem] = []
    except ValidationError as exc:
        field_problems, bad = _field_problems(exc, cls.model_fields)
        config = None
        # the cross-field and backend checks still run, on the valid fields (defaults stand in for the bad)
        partial = cls.model_construct(**{**_defaults(cls), **_coerced(cls, values, bad)})
        problems = field_problems + partial.problems() + (registry.check(partial) if "accelerator" not in bad else [])
        return None, _unique(problems)
    problems = registry.check(config)
    return (None if problems else config), problems


def _coerced(cls: type[TrainConfig], values: dict[str, Any], bad: set[str]) -> dict[str, Any]:
    """The values of the fields that validated, converted as pydantic converts them (e.g. "0.2" → 0.2)."""
    from typing import Annotated

    from pydantic import TypeAdapter

    out = {}
    for name, value in values.items():
        field = cls.model_fields.get(name)
        if field is not None and name not in bad:
            out[name] = TypeAdapter(Annotated[field.annotation, field]).validate_python(value)
    return out


def _defaults(cls: type[TrainConfig]) -> dict[str, Any]:
    return {name: f.get_default(call_default_factory=True) for name, f in cls.model_fields.items()}


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        key = (p.field, p.fix)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def config_error(cls: type[TrainConfig], problems: list[Problem], source: str) -> ConfigError:
    """One error listing every problem, in the order the fields appear in `--help`."""
    order = {name: i for i, name in enumerate(cls.model_fields)}
    problems = sorted(problems, key=lambda p: order.get(p.field, len(order)))
    lines = "\n".join(p.line() for p in problems)
    return ConfigError(f"invalid configuration ({source}):\n{lines}",
                       hint=f"run `halo-forge {cls.modality} train --help` for the allowed values")


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


def merge_values(cli: dict[str, Any] | None, yaml_path: Path | None) -> tuple[dict[str, Any], str]:
    """defaults < YAML < CLI: the values given and where they came from."""
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
    return values, source


def build_config(cls: type[TrainConfig], cli: dict[str, Any] | None = None,
                 yaml_path: Path | None = None) -> TrainConfig:
    """Merge defaults < YAML < CLI values into a validated `cls`; every problem reported at once."""
    values, source = merge_values(cli, yaml_path)
    config, problems = collect_problems(cls, values)
    if problems or config is None:
        raise config_error(cls, problems, source)
    return config
