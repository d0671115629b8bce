"""DPO's reference model, three ways, and a plain TRL DPO script, in one run: peak RSS and steps/s.

    python bench/dpo_memory.py [--max-steps 60] [--batch-size 32] [--model halo-forge/tiny]
    python bench/dpo_memory.py --wide 512x8 --max-steps 20   # a random-init ~34M-param Llama, same tokenizer

Each configuration runs in its own fresh process (peak RSS is a per-process high-water mark):
  - ref-model       halo-forge, full fine-tune, a frozen copy of the start model as reference
  - reference-free  halo-forge, full fine-tune, --reference-free (step-0 log-probs precomputed once)
  - lora-disabled   halo-forge, LoRA, the reference is the base with adapters disabled
  - plain-trl       a plain TRL DPOTrainer script on the same data and settings as ref-model
The halo-forge runs include their held-out evaluation before and after training (inside peak RSS,
outside steps/s, which is TRL's optimiser steps over its train_runtime). Prints a table and JSON;
the ratios compare halo-forge's ref-model run against the plain TRL script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("ref-model", "reference-free", "lora-disabled", "plain-trl")


def _rows(work: Path, n: int) -> Path:
    from halo_forge.data.builtin import preference_split

    train, heldout = preference_split()
    path = work / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (train[:n] + heldout[:64])), encoding="utf-8")
    return path


def _wide_model(work: Path, spec: str) -> str:
    """A random-init Llama of hidden x layers with the tiny model's tokenizer (memory differences show)."""
    import shutil

    from transformers import LlamaConfig, LlamaForCausalLM

    from halo_forge.models.tiny import ensure_tiny

    hidden, layers = (int(x) for x in spec.split("x"))
    tiny = Path(ensure_tiny("halo-forge/tiny"))
    base = LlamaConfig.from_pretrained(tiny)
    cfg = LlamaConfig(**{**base.to_dict(), "hidden_size": hidden, "num_hidden_layers": layers,
                         "intermediate_size": 4 * hidden, "num_attention_heads": max(4, hidden // 64),
                         "num_key_value_heads": max(4, hidden // 64)})
    out = work / f"wide-{spec}"
    LlamaForCausalLM(cfg).save_pretrained(out)
    for f in tiny.iterdir():
        if "token" in f.name or f.name.endswith(".jinja"):
            shutil.copy(f, out / f.name)
    return str(out)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(mode: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    common = dict(max_steps=args.max_steps, batch_size=args.batch_size, learning_rate=3e-5, beta=0.1,
                  max_length=64, seed=0)
    if mode == "plain-trl":
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import DPOConfig, DPOTrainer

        from halo_forge.models.loading import resolve_model

        ref = resolve_model(args.model)
        tok = AutoTokenizer.from_pretrained(ref)
        rows = [json.loads(line) for line in data.read_text().splitlines()]
        ds = Dataset.from_list([{k: v for k, v in r.items() if k != "answer"} for r in rows])
        model = AutoModelForCausalLM.from_pretrained(ref)
        ref_model = AutoModelForCausalLM.from_pretrained(ref)
        t0 = time.monotonic()
        trainer = DPOTrainer(model=model, ref_model=ref_model, processing_class=tok, train_dataset=ds, args=DPOConfig(
            output_dir=tempfile.mkdtemp(), max_steps=common["max_steps"],
            per_device_train_batch_size=common["batch_size"], learning_rate=common["learning_rate"],
            beta=common["beta"], max_length=common["max_length"], seed=0, use_cpu=True, bf16=False,
            gradient_checkpointing=False, report_to=[], save_strategy="no", logging_steps=10, disable_tqdm=True))
        setup = time.monotonic() - t0
        result = trainer.train()
        steps, runtime = trainer.state.global_step, result.metrics["train_runtime"]
        ref_params = sum(p.numel() for p in ref_model.parameters())
    else:
        from halo_forge.config import build_config
        from halo_forge.dpo._dispatch import get_dpo_trainer
        from halo_forge.dpo.config import DPOConfig

        extra = {"ref-model": {"no_lora": True}, "reference-free": {"no_lora": True, "reference_free": True},
                 "lora-disabled": {}}[mode]
        cfg = build_config(DPOConfig, {"data": str(data), "model": args.model, "output": tempfile.mkdtemp() + "/o",
                                       "eval_max_new_tokens": 6, "max_eval_samples": 64, "eval_split": 0.05,
                                       "logging_steps": 10, **common, **extra})
        run = get_dpo_trainer(cfg)
        run.quiet = True
        built = []
        build = run.build
        run.build = lambda *a, **kw: built.append(build(*a, **kw)) or built[-1]  # keep TRL's trainer to inspect
        t0 = time.monotonic()
        summary = run.train()
        setup = None
        steps, runtime = summary.total_train_steps_executed, summary.extra["train_seconds"]
        trainer = built[0]
        ref_params = sum(p.numel() for p in trainer.ref_model.parameters()) if trainer.ref_model is not None else 0
    return {"mode": mode, "peak_rss_mb": round(_peak_rss_mb(), 1), "steps": steps,
            "steps_per_s": round(steps / runtime, 3), "train_runtime_s": round(runtime, 2),
            "setup_s": None if setup is None else round(setup, 2), "reference_params_in_memory": ref_params,
            "policy_params": sum(p.numel() for p in trainer.model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--model", default="halo-forge/tiny")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--wide", help="HIDDENxLAYERS: bench a random-init Llama of that shape instead of --model")
    ap.add_argument("--child", choices=MODES)
    ap.add_argument("--data")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args)), flush=True)
        return

    work = Path(tempfile.mkdtemp(prefix="hf-dpo-bench-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", TQDM_DISABLE="1",
               OMP_NUM_THREADS=str(args.threads), HALO_FORGE_HOME=os.environ.get("HALO_FORGE_HOME", str(work / "home")))
    os.environ.update(env)
    from halo_forge.models.tiny import ensure_tiny, is_tiny

    if args.wide:
        args.model = _wide_model(work, args.wide)
    elif is_tiny(args.model):
        ensure_tiny(args.model)
    data = _rows(work, args.rows)
    results = []
    for mode in MODES:
        cmd = [sys.executable, __file__, "--child", mode, "--data", str(data), "--model", args.model,
               "--max-steps", str(args.max_steps), "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(line.removeprefix("RESULT ")))
    by = {r["mode"]: r for r in results}
    ratios = {"rss_halo_ref_over_plain_trl": round(by["ref-model"]["peak_rss_mb"] / by["plain-trl"]["peak_rss_mb"], 3),
              "steps_per_s_halo_ref_over_plain_trl": round(by["ref-model"]["steps_per_s"] / by["plain-trl"]["steps_per_s"], 3)}
    print(f"{'mode':16} {'peak RSS MB':>12} {'steps/s':>8} {'ref params':>11}")
    for r in results:
        print(f"{r['mode']:16} {r['peak_rss_mb']:12.1f} {r['steps_per_s']:8.2f} {r['reference_params_in_memory']:11d}")
    print(json.dumps({"config": vars(args), "results": results, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
