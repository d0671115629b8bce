"""Vision-language models: loading (model + processor), freezing the vision tower / projector, and
batched generation on image prompts (held-out evaluation, RAFT sampling).

No torchvision: transformers picks the PIL/numpy image processor (`…ImageProcessorPil`) when
torchvision is absent; the fallback warning it prints is silenced here.
"""

from __future__ import annotations

import logging
from typing import Callable

from halo_forge.errors import ModelError

# Parameter-name prefixes of the parts users freeze, per architecture family (LLaVA, Qwen2-VL, Idefics …).
VISION_PREFIXES = ("vision_tower.", "visual.", "vision_model.", "model.vision_tower.", "model.visual.",
                   "model.vision_model.")
PROJECTOR_PREFIXES = ("multi_modal_projector.", "model.multi_modal_projector.", "visual.merger.",
                      "model.visual.merger.", "connector.", "model.connector.")


class _NoTorchvisionNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision" not in record.getMessage()


def _processor_source(path: str) -> str:
    """Where a processor is read from: the folder itself, or a LoRA adapter folder's base when it holds none."""
    from pathlib import Path

    from halo_forge.models.loading import adapter_base, resolve_model

    base = adapter_base(path)
    return path if base is None or (Path(path) / "preprocessor_config.json").is_file() else resolve_model(base)


def _model_error(ref: str, exc: Exception) -> ModelError:
    return ModelError(f"cannot load vision-language model {ref!r}: {str(exc).splitlines()[0]}",
                      hint="pass an image-text-to-text model (LLaVA, Qwen2-VL, Idefics, …) hub id or folder, "
                           "or halo-forge/tiny-llava")


def load_processor(ref: str):
    """The processor (image processor + tokenizer + chat template) of a VLM hub id, folder or tiny VLM."""
    from transformers import AutoProcessor
    from transformers.utils import logging as hf_logging

    from halo_forge.models.loading import resolve_model

    hf_logging.get_logger("transformers").addFilter(_NoTorchvisionNotice())
    try:
        processor = AutoProcessor.from_pretrained(_processor_source(resolve_model(ref)))
    except (OSError, ValueError) as exc:
        raise _model_error(ref, exc) from None
    if not hasattr(processor, "image_processor"):
        raise ModelError(f"{ref!r} has no image processor: it is not a vision-language model",
                         hint="use an image-text-to-text model, or `halo-forge sft` for text-only models")
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    processor.tokenizer.init_kwargs.pop("local_files_only", None)  # saved files must not depend on HF_HUB_OFFLINE
    return processor


def load_model(ref: str, *, dtype=None):
    """The VLM itself (a LoRA adapter folder: its base with the adapter merged, so stages chain)."""
    from transformers import AutoModelForImageTextToText

    from halo_forge.models.loading import _load, resolve_model

    try:
        return _load(AutoModelForImageTextToText, resolve_model(ref), dtype=dtype)
    except ValueError as exc:
        raise _model_error(ref, exc) from None


def load_vlm(ref: str, *, dtype=None):
    """(model, processor) for a hub id, a local folder or a built-in tiny VLM (`halo-forge/tiny-llava`)."""
    processor = load_processor(ref)
    return load_model(ref, dtype=dtype), processor


def freeze(model, *, vision_tower: bool = False, projector: bool = False) -> dict[str, int]:
    """Turn off gradients for the vision tower and/or the projector; returns trainable/frozen counts.
    A request that matches no parameter is a ModelError (the architecture names them differently)."""
    wanted = (VISION_PREFIXES if vision_tower else ()) + (PROJECTOR_PREFIXES if projector else ())
    frozen = 0
    for name, param in model.named_parameters():
        if wanted and name.startswith(wanted):
            param.requires_grad_(False)
            frozen += param.numel()
    if wanted and not frozen:
        raise ModelError(f"{type(model).__name__}: found no vision-tower/projector parameters to freeze",
                         hint=f"this architecture names them differently from {VISION_PREFIXES + PROJECTOR_PREFIXES}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_parameters": trainable, "frozen_parameters": frozen}


def lora_exclusions(*, vision_tower: bool = False, projector: bool = False) -> str | None:
    """A PEFT `exclude_modules` pattern that keeps LoRA adapters off the frozen parts (None: adapt everything)."""
    import re

    prefixes = (VISION_PREFIXES if vision_tower else ()) + (PROJECTOR_PREFIXES if projector else ())
    if not prefixes:
        return None
    return "^(" + "|".join(re.escape(p) for p in sorted(set(prefixes))) + ").*"


def prompt_messages(row: dict) -> list[dict]:
    """The turns a VLM is prompted with for `row` (the prompt, or a chat up to its last assistant turn)."""
    if "prompt" in row:
        return row["prompt"]
    msgs = row["messages"]
    return msgs[: max(i for i, m in enumerate(msgs) if m["role"] == "assistant")]


def generate(model, processor, rows: list[dict], *, where: Callable[[int], str] = lambda i: f"row {i}",
             max_new_tokens: int = 16, batch_size: int = 32, n: int = 1, do_sample: bool = False,
             temperature: float = 1.0, max_side: int | None = None) -> list[list[str]]:
    """`n` completions per row (greedy when `do_sample` is off), images opened from each row's refs."""
    import torch

    from halo_forge.data.vision import open_image

    tok = processor.tokenizer
    side, was_training = tok.padding_side, model.training
    tok.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    out: list[list[str]] = []
    try:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            texts = [processor.apply_chat_template(prompt_messages(r), add_generation_prompt=True, tokenize=False)
                     for r in chunk]
            images = [[open_image(ref, f"{where(start + k)} (images[{j}])", max_side=max_side)
                       for j, ref in enumerate(r.get("images", []))] for k, r in enumerate(chunk)]
            enc = processor(images=images if any(images) else None, text=texts, return_tensors="pt",
                            padding=True).to(device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                     num_return_sequences=n, temperature=temperature if do_sample else None,
                                     top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
            text = processor.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            out += [[t.strip() for t in text[k * n:(k + 1) * n]] for k in range(len(chunk))]
    finally:
        tok.padding_side = side
        if was_training:
            model.train()
    return out


def heldout_figures(model, processor, rows: list[dict], verifier, **gen) -> dict:
    """Greedy answers to held-out rows scored by `verifier`: mean reward, pass rate, the reasons' counts."""
    from collections import Counter

    completions = [c[0] for c in generate(model, processor, rows, **gen)]
    results = verifier.verify_batch(completions, rows)
    return {"mean_reward": sum(r.reward for r in results) / max(1, len(results)),
            "pass_rate": sum(r.passed for r in results) / max(1, len(results)), "samples": len(results),
            "reasons": dict(Counter(r.reason for r in results).most_common(5))}


def resume_renamed_weights(trainer):
    """Make a transformers Trainer resume a VLM's full-weight checkpoint under the names its model uses.

    transformers' `Trainer._load_from_checkpoint` loads the checkpoint's state dict as saved — in the original
    format `save_pretrained` writes (LLaVA: `language_model.model.*`) — with `strict=False`, so the weights the
    model renames when loading (`model.language_model.*`) silently keep their start values on resume
    (huggingface/transformers#43701). A checkpoint holding a full model is loaded the way `from_pretrained`
    loads it instead; adapter checkpoints (PEFT's own names) go through the Trainer as before."""
    from pathlib import Path

    library_load = trainer._load_from_checkpoint

    def load(resume_from_checkpoint: str, model=None) -> None:
        model = model if model is not None else trainer.model
        if not (Path(resume_from_checkpoint) / "config.json").is_file() or hasattr(model, "peft_config"):
            return library_load(resume_from_checkpoint, model)
        saved = type(model).from_pretrained(resume_from_checkpoint, dtype=next(model.parameters()).dtype)
        model.load_state_dict(saved.state_dict())

    trainer._load_from_checkpoint = load
    return trainer
