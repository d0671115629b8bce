"""MLX vs PyTorch training steps/s through the real trainers, on the built-in tiny model, on this machine's CPU,
in one run.

    python bench/mlx_vs_torch.py [--steps 20] [--batch 8] [--threads 1] [--model halo-forge/tiny]

For SFT (LoRA r16, completion-only loss), DPO (sigmoid, full fine-tune, frozen reference) and GRPO (dapo, full
fine-tune, 4 generations of at most 6 tokens, beta 0.04 with a frozen reference, `math` verifier) it trains the same
config with `--accelerator cpu` (halo-forge's TRL trainers) and `--accelerator mlx` (halo-forge's MLX trainers) and
reads each summary's `steps_per_second`: the training loop only (GRPO's includes sampling and scoring, on both
sides), not loading or the held-out evaluation. The first MLX run of each graph on a fresh machine also pays for
mx.compile's kernel builds (cached under $TMPDIR/mlx afterwards): run the bench twice and keep the second.
Prints steps/s per backend and the ratio MLX / PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

CONFIGS = {
    "sft": {"dataset": "arithmetic", "lora_rank": 16, "lora_alpha": 32, "max_length": 64},
    "dpo": {"dataset": "arithmetic_pref", "no_lora": True, "loss_type": "sigmoid", "max_length": 64},
    "grpo": {"dataset": "arithmetic_prompts", "no_lora": True, "num_generations": 4, "beta": 0.04,
             "max_completion_length": 6, "temperature": 1.0, "verifiers": ["math"]},
}


def steps_per_second(modality: str, accelerator: str, args, out: Path) -> float:
    """Train `modality` for --steps on `accelerator` (no flow, no cache: the trainer itself) and read its rate."""
    from halo_forge import registry
    from halo_forge.config import build_config

    values = {**CONFIGS[modality], "model": args.model, "accelerator": accelerator, "max_steps": args.steps,
              "batch_size": args.batch, "learning_rate": 1e-4, "lr_scheduler": "constant", "logging_steps": 5,
              "max_eval_samples": 8, "eval_max_new_tokens": 4, "checkpoint_every": 0, "seed": 0,
              "output": str(out / f"{modality}-{accelerator}"), "overwrite": True}
    trainer = registry.get_trainer(build_config(registry.config_class(modality), values))
    trainer.quiet = True
    return float(trainer.train().extra["steps_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--model", default="halo-forge/tiny")
    args = parser.parse_args()
    os.environ["HALO_FORGE_CPU_THREADS"] = str(args.threads)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="halo-forge-bench-mlx-") as tmp:
        for modality in CONFIGS:
            results[modality] = {acc: round(steps_per_second(modality, acc, args, Path(tmp)), 3) for acc in ("cpu", "mlx")}
            r = results[modality]
            print(f"{modality:5s} PyTorch {r['cpu']:7.3f} steps/s  MLX {r['mlx']:7.3f} steps/s  "
                  f"ratio MLX/PyTorch {r['mlx'] / r['cpu']:.2f}", flush=True)
    print(json.dumps({"model": args.model, "batch": args.batch, "steps": args.steps, "torch_threads": args.threads,
                      **results}))


if __name__ == "__main__":
    main()
