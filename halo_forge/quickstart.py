"""The offline quickstart: the built-in tiny model learns two-digit addition with SFT, then DPO, then GRPO.

    halo-forge quickstart            # or: halo-forge recipe run recipes/quickstart.yaml

Everything is local: the tiny model and its tokenizer are built on first use, the datasets are
generated (halo_forge.data.builtin). The SFT labels come from a teacher with two independent flaws:
  1. it always forgets the carry into the tens (47+38 -> 75);
  2. on 60 % of the problems whose answer reaches 100 it leaves off the hundreds digit (67+52 -> 19).
Each later stage is built to fix one of them, and the quickstart measures that it did:
  - SFT copies both flaws: it learns the addition and the teacher's mistakes with it;
  - DPO fixes flaw 1: its pairs prefer the carry done right over the carry done wrong, but both
    answers are written in the teacher's hand, so they never tell a missing hundreds digit apart;
  - GRPO fixes flaw 2: the `math` verifier checks each sampled answer against the true sum, and the
    model writes the hundreds digit in about 40 % of its samples (the teacher did on 40 % of the
    problems), so the right answers are there to be rewarded. A flaw the model never gets right, like
    flaw 1 after SFT, would give GRPO nothing to reward: that one needs the pairs.
Held-out figures are measured on the same 200 problems, never trained on, scored against the true sums.

`--accelerator mlx` runs the same three stages with the MLX trainers (same configs: on Apple silicon they reach
the PyTorch figures' neighbourhood; on a Linux CPU MLX is ~10x slower than PyTorch, so shorter runs are the
practical choice there — see docs/MLX.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from halo_forge.dpo.config import DPOConfig
from halo_forge.grpo.config import GRPOConfig
from halo_forge.sft.config import SFTConfig

RESULTS_FILE = "quickstart.json"

# Small batches escape the plateau of this task in fewer samples than large ones: at batch 32 the model
# learns the teacher's addition in 600-800 steps (~14-20k samples) where batch 128 needed ~300-500
# steps (~40-60k samples); the cost per sample is the same. See docs/BENCHMARKS.md.
QUICKSTART_SFT = dict(
    dataset="arithmetic", model="halo-forge/tiny", no_lora=True, max_steps=1000, batch_size=32,
    learning_rate=1e-3, lr_scheduler="cosine", warmup_steps=50, logging_steps=50,
    eval_max_new_tokens=8, max_length=64,
)


def sft_config(output_dir: Path, seed: int = 42, max_steps: int | None = None, accelerator: str = "auto") -> SFTConfig:
    values = dict(QUICKSTART_SFT, output=Path(output_dir) / "sft", seed=seed, overwrite=True, accelerator=accelerator)
    if max_steps is not None:
        values["max_steps"] = max_steps
    return SFTConfig(**values)


# DPO on the SFT model: full fine-tune, reference = frozen copy of the SFT model, DPO + the chosen NLL
# ("rpo": TRL's ["sigmoid", "sft"]); plain sigmoid DPO collapsed this model (31 -> 7 %), as MEASURED.md warns.
QUICKSTART_DPO = dict(
    dataset="arithmetic_pref", no_lora=True, max_steps=100, batch_size=64, learning_rate=3e-4,
    lr_scheduler="cosine", warmup_steps=10, logging_steps=25, beta=0.1, loss_type="rpo", rpo_alpha=1.0,
    eval_max_new_tokens=8, max_length=64,
)


def dpo_config(output_dir: Path, sft_model: str, seed: int = 42, max_steps: int | None = None,
               accelerator: str = "auto") -> DPOConfig:
    values = dict(QUICKSTART_DPO, model=str(sft_model), output=Path(output_dir) / "dpo", seed=seed, overwrite=True,
                  accelerator=accelerator)
    if max_steps is not None:
        values["max_steps"] = max_steps
    return DPOConfig(**values)


# GRPO on the DPO model: the `math` verifier scores each sampled answer against the true sum; full
# fine-tune, no reference (beta 0), 8 samples per prompt, cosine decay (MEASURED: a constant lr peaks
# then falls).
QUICKSTART_GRPO = dict(
    dataset="arithmetic_prompts", no_lora=True, max_steps=200, batch_size=64, num_generations=8,
    learning_rate=1e-4, lr_scheduler="cosine", warmup_steps=0, logging_steps=25, beta=0.0, temperature=1.0,
    max_completion_length=6, verifiers=["math"], eval_max_new_tokens=8,
)


def grpo_config(output_dir: Path, dpo_model: str, seed: int = 42, max_steps: int | None = None,
                accelerator: str = "auto") -> GRPOConfig:
    values = dict(QUICKSTART_GRPO, model=str(dpo_model), output=Path(output_dir) / "grpo", seed=seed, overwrite=True,
                  accelerator=accelerator)
    if max_steps is not None:
        values["max_steps"] = max_steps
    return GRPOConfig(**values)


# --- what each stage fixed: the teacher's two flaws in a model's held-out answers -------------------

def classify(a: int, b: int, answer: str) -> str:
    """'right', 'carry' (flaw 1: the carry into the tens dropped), 'hundreds' (flaw 2: the hundreds
    digit left off), 'both', or 'other' for the greedy `answer` to a+b."""
    total, answer = a + b, answer.strip()
    dropped = total - 10
    if answer == str(total):
        return "right"
    if total >= 100 and answer == str(total)[1:]:
        return "hundreds"
    if answer == str(dropped):
        return "carry"
    if dropped >= 100 and answer == str(dropped)[1:]:
        return "both"
    return "other"


def flaw_counts(model_path: str, n: int) -> dict:
    """On the first `n` held-out problems: how many carry problems the model drops the carry on, how many
    answers of 100 or more it writes without the hundreds digit, and how many answers are right."""
    from halo_forge.data.builtin import arithmetic_split, has_carry, to_chat
    from halo_forge.evaluation import generate, prompt_text
    from halo_forge.models.loading import load_causal_lm, load_tokenizer

    heldout = arithmetic_split()[1][:n]
    tokenizer, model = load_tokenizer(model_path), load_causal_lm(model_path)
    prompts = [prompt_text(to_chat(r), tokenizer) for r in heldout]
    answers = generate(model, tokenizer, prompts, max_new_tokens=QUICKSTART_SFT["eval_max_new_tokens"])
    counts = dict(problems=len(heldout), right=0, carry_problems=0, carry_dropped=0, hundreds_problems=0,
                  hundreds_missing=0)
    for row, answer in zip(heldout, answers):
        a, b = (int(x) for x in row["prompt"].removeprefix("What is ").removesuffix("?").split("+"))
        kind = classify(a, b, answer)
        counts["right"] += kind == "right"
        if has_carry(a, b):
            counts["carry_problems"] += 1
            counts["carry_dropped"] += kind in ("carry", "both")
        if a + b >= 100:
            counts["hundreds_problems"] += 1
            counts["hundreds_missing"] += kind in ("hundreds", "both")
    return counts


def _figure(summary, metric: str) -> dict | None:
    ev = next((e for e in summary.effectiveness.evaluations if e.metric == metric), None)
    return None if ev is None else {"before": ev.before, "after": ev.after, "n": ev.n}


def results(seed: int, summaries: dict, flaws: dict, backend: str = "cpu") -> dict:
    """The quickstart's figures (what `quickstart.json` holds): per stage, held-out accuracy before and
    after, the verdict, DPO's preference accuracy, and the flaw counts of each stage's model."""
    stages = {}
    for stage, summary in summaries.items():
        acc = _figure(summary, "heldout_accuracy")
        stages[stage] = dict(acc, verdict=summary.effectiveness.verdict, steps=summary.total_train_steps_executed)
        pref = _figure(summary, "heldout_preference_accuracy")
        if pref is not None:
            stages[stage]["preference_accuracy"] = pref
    return {"seed": seed, "backend": backend, "stages": stages, "flaws": flaws}


def write_results(output_dir: Path, figures: dict) -> Path:
    from halo_forge.summary import write_json_atomic

    return write_json_atomic(Path(output_dir) / RESULTS_FILE, json.loads(json.dumps(figures)))


def _change(before: int, after: int) -> str:
    if before and after * 4 <= before:
        return "fixed"
    if after < before:
        return "reduced"
    return "not fixed" if after >= before and before else "none"


def report_lines(figures: dict) -> list[str]:
    """The closing report: each stage's held-out figures, then what it did to each of the teacher's flaws."""
    stages, f = figures["stages"], figures["flaws"]
    n = f["sft"]["problems"]
    pct = lambda x, label: f"{x['before']:.1%} before {label} -> {x['after']:.1%} after {label}"  # noqa: E731
    mlx = " — MLX" if figures.get("backend") == "mlx" else ""
    lines = [f"[bold]held-out results ({n} problems never trained on){mlx}[/], scored against the true sums"]
    for stage, label in (("sft", "SFT"), ("dpo", "DPO"), ("grpo", "GRPO")):
        s, pref = stages[stage], stages[stage].get("preference_accuracy")
        lines.append(f"  {label}: held-out accuracy: {pct(s, label)}; "
                     + (f"preference accuracy: {pct(pref, label)}; " if pref else "") + f"verdict {s['verdict']}")
    lines.append(f"[bold]what each stage fixed[/] (the teacher's flaws in each model's greedy answers to those {n} "
                 f"problems: {f['sft']['carry_problems']} carry problems, {f['sft']['hundreds_problems']} answers of "
                 "100 or more)")
    lines.append(f"  SFT copied them: flaw 1 (carry into the tens dropped) on {f['sft']['carry_dropped']}, flaw 2 "
                 f"(hundreds digit left off) on {f['sft']['hundreds_missing']}; {f['sft']['right']} answers right")
    for prev, stage, label, how in (("sft", "dpo", "DPO", "pairs that judge the carry only"),
                                    ("dpo", "grpo", "GRPO", "the `math` verifier's reward")):
        c0, c1 = f[prev]["carry_dropped"], f[stage]["carry_dropped"]
        h0, h1 = f[prev]["hundreds_missing"], f[stage]["hundreds_missing"]
        lines.append(f"  {label} ({how}): flaw 1 {c0} -> {c1} ({_change(c0, c1)}), flaw 2 {h0} -> {h1} "
                     f"({_change(h0, h1)}); {f[stage]['right']} answers right")
    return lines
