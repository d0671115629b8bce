"""What the reasoning and agentic demos share: their common flags, the process setup, TRL SFT on CPU, and
writing the result. (The demos call TRL directly: they prove the recipes before the trainers wire them.)"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

CPU = dict(use_cpu=True, bf16=False, report_to=[], save_strategy="no", disable_tqdm=True, gradient_checkpointing=False,
           dataloader_num_workers=0)


def parser(doc: str, **defaults) -> argparse.ArgumentParser:
    """The flags both demos take (--out, --seed, --heldout, SFT steps/batch/lr, --generations,
    --max-completion, --threads), with per-demo defaults."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout", type=int, default=defaults["heldout"])
    p.add_argument("--sft-steps", type=int, default=defaults["sft_steps"])
    p.add_argument("--sft-batch", type=int, default=defaults["sft_batch"])
    p.add_argument("--sft-lr", type=float, default=defaults.get("sft_lr", 2e-3))
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--max-completion", type=int, default=defaults["max_completion"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sft-model", help="start from this SFT'd model folder instead of training SFT again")
    return p


def start(a) -> tuple[str, object]:
    """Threads, seed, quiet libraries, the output folder; returns (tiny model folder, its tokenizer)."""
    import os

    import torch
    from transformers import AutoTokenizer

    from halo_forge.models.tiny import ensure_tiny
    from halo_forge.training import quiet_libraries

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.environ["TQDM_DISABLE"] = "1"  # no bars from TRL's dataset passes either
    quiet_libraries()
    a.out.mkdir(parents=True, exist_ok=True)
    path = str(ensure_tiny("halo-forge/tiny"))
    return path, AutoTokenizer.from_pretrained(path)


def sft(model, tok, rows: list[dict], folder: Path, *, steps: int, batch: int, lr: float, seed: int,
        assistant_only: bool = False, callbacks: list | None = None):
    """TRL SFT on CPU (cosine schedule, short warm-up); chat rows: completion-only loss for prompt/completion
    rows, assistant turns only with ``assistant_only`` (tool traces); ``callbacks``: TRL/transformers
    ``TrainerCallback``s. Returns the trained model."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=str(folder), max_steps=steps, per_device_train_batch_size=batch, learning_rate=lr,
                     lr_scheduler_type="cosine", warmup_steps=min(50, steps // 10), assistant_only_loss=assistant_only,
                     max_length=512, logging_steps=50, seed=seed, **CPU)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         callbacks=callbacks)
    trainer.train()
    return trainer.model


def verdict(before, after, steps: int, moved: bool, tolerance: dict[str, float] | None = None) -> dict:
    """{verdict, reasons}: what the trainer's summary says for these held-out ``training.Figures``
    (``summary.judge`` over ``training.compare``; ``tolerance`` as the trainer passes it)."""
    from halo_forge.summary import judge
    from halo_forge.training import compare

    result = judge(compare(before, after, tolerance=tolerance), steps=steps, weights_updated=moved)
    return {"verdict": result.verdict, "reasons": result.reasons}


def snapshot(model) -> list:
    """A copy of the model's weights, for :func:`moved`."""
    return [p.detach().clone() for p in model.parameters()]


def moved(model, snap: list) -> bool:
    """Whether any weight differs from the :func:`snapshot`."""
    return any(not p.detach().equal(q) for p, q in zip(model.parameters(), snap))


def timed(fn, *args, **kwargs):
    """(fn's result, seconds it took)."""
    t0 = time.monotonic()
    return fn(*args, **kwargs), round(time.monotonic() - t0, 1)


def finish(a, result: dict) -> dict:
    """Record the settings with the figures in ``<out>/demo.json`` and print them."""
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}, **result}
    (a.out / "demo.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result
