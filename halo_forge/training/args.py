"""What a PyTorch trainer hands to transformers/TRL and `from_pretrained`, derived from its config and
the backend's capabilities (pure: nothing is loaded)."""

from __future__ import annotations

import os

from halo_forge.backend import Capabilities


def precision_flags(config, caps: Capabilities) -> dict[str, bool]:
    """bf16 on GPUs that have it (or when asked), fp16 when asked, fp32 on CPU."""
    want = config.precision
    if want == "auto":
        want = "bf16" if caps.bf16 else "fp32"
    return {"bf16": want == "bf16", "fp16": want == "fp16"}


def precision_name(config, caps: Capabilities) -> str:
    flags = precision_flags(config, caps)
    return "bf16" if flags["bf16"] else "fp16" if flags["fp16"] else "fp32"


def torch_dtype(config, caps: Capabilities):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision_name(config, caps)]


def common_args(config, caps: Capabilities) -> dict:
    """TrainingArguments fields every trainer sets the same way (CPU-correct defaults and the
    checkpoint cadence included); the caller adds `output_dir`."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    no_checkpointing = {"activation_checkpointing" if "activation_checkpointing" in fields
                        else "gradient_checkpointing": False}
    every = getattr(config, "checkpoint_every", 0)
    return dict(
        **no_checkpointing,
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
        # two kept: a kill while the newest is being written leaves the one before it whole
        save_strategy="steps" if every else "no", save_steps=every or 500, save_total_limit=2,
        eval_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **precision_flags(config, caps),
    )


def model_kwargs(config, caps: Capabilities) -> dict:
    """`from_pretrained` keyword arguments: the dtype, and the 4-bit quantisation of QLoRA."""
    import torch

    kwargs = {"dtype": torch_dtype(config, caps)}
    if getattr(config, "load_in_4bit", False):
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if caps.bf16 else torch.float16)
    return kwargs


def set_cpu_threads(backend: str) -> int | None:
    """Torch threads for CPU training: one core is left to the rest of the run (the Prefect server,
    tracking, data); on a 2-core machine two torch threads next to any busy process collapse from
    ~8 to ~1 step/s. `HALO_FORGE_CPU_THREADS` or `OMP_NUM_THREADS` choose explicitly."""
    if backend != "cpu":
        return None
    import torch

    if os.environ.get("HALO_FORGE_CPU_THREADS"):
        torch.set_num_threads(max(1, int(os.environ["HALO_FORGE_CPU_THREADS"])))
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - 1))
    return torch.get_num_threads()


def peft_kind(config) -> str:
    return "full" if config.no_lora else ("dora" if config.use_dora else "lora")
