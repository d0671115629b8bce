"""The reasoning demo on the tiny model, plain TRL: SFT teaches the think/answer format, GRPO raises held-out
answer accuracy while format compliance stays high.

    python -m halo_forge.reasoning.demo --out /tmp/reasoning-demo                  # the easy level (default)
    python -m halo_forge.reasoning.demo --out /tmp/chains --level arithmetic_chains  # 2-4 steps (does not win yet)

Data: a built-in reasoning level. `arithmetic_think` (default): two-digit additions as one worked step,
``<think>47+38=75</think>75``; the SFT labels come from a sloppy teacher that drops the carry on 60 % of carry
problems (73 % of training answers right). `arithmetic_chains`: 2–4 additions/subtractions with
worked steps, the same teacher flaw per step (about 45 % of training answers right).
SFT (TRL SFTTrainer, completion-only loss) copies the format and the flaw; GRPO (TRL GRPOTrainer, rewards:
``reasoning_answer`` + 0.5 × ``think_format``, optionally with DAPO dynamic sampling) repairs the flaw. Figures
are greedy on held-out questions never trained on. Prints and writes ``<out>/demo.json``.
"""

from __future__ import annotations

from halo_forge.reasoning import demo_kit as kit


def _grpo(model, tok, train: list[dict], a) -> tuple[object, dict]:
    from datasets import Dataset
    from trl import GRPOConfig

    from halo_forge.reasoning.dynamic_sampling import dynamic_sampling_trainer
    from halo_forge.reasoning.rewards import reasoning_reward_funcs, reasoning_verifiers

    verifiers = reasoning_verifiers(answer_weight=1.0, format_weight=0.5)
    args = GRPOConfig(output_dir=str(a.out / "grpo-run"), max_steps=a.grpo_steps,
                      per_device_train_batch_size=a.grpo_batch, num_generations=a.generations,
                      max_completion_length=a.max_completion, learning_rate=a.grpo_lr, lr_scheduler_type="cosine",
                      beta=0.0, temperature=1.0, loss_type=a.loss_type, reward_weights=[w for _, _, w in verifiers],
                      logging_steps=10, seed=a.seed, **kit.CPU)
    trainer = dynamic_sampling_trainer()(
        model=model, reward_funcs=reasoning_reward_funcs(verifiers), args=args, processing_class=tok,
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in train]),
        max_resample_rounds=a.dynamic_sampling)
    trainer.train()
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    return trainer.model, {"dynamic_sampling": trainer.dynamic_sampling.to_dict(),
                           "reward_first_last": [rewards[0], rewards[-1]] if rewards else None}


def _verdict(before: dict, after: dict, steps: int, moved: bool) -> dict:
    """The verdict the trainer's summary gives for these held-out figures (the format rate with the trainer's
    tolerance)."""
    from halo_forge.reasoning.evaluation import ReasoningFigures
    from halo_forge.reasoning.torch_trainer import FORMAT_TOLERANCE

    return kit.verdict(ReasoningFigures(**before).figures(), ReasoningFigures(**after).figures(), steps, moved,
                       tolerance=FORMAT_TOLERANCE)


def main(argv: list[str] | None = None) -> dict:
    p = kit.parser(__doc__, heldout=200, sft_steps=600, sft_batch=128, max_completion=32)
    p.add_argument("--level", choices=["arithmetic_think", "arithmetic_chains"], default="arithmetic_think")
    p.add_argument("--grpo-steps", type=int, default=150)
    p.add_argument("--grpo-batch", type=int, default=64)
    p.add_argument("--grpo-lr", type=float, default=1e-4)
    p.add_argument("--loss-type", default="dapo")
    p.add_argument("--dynamic-sampling", type=int, default=0, help="max resample rounds (0: off)")
    a = p.parse_args(argv)

    from transformers import AutoModelForCausalLM

    from halo_forge.data.reasoning_sets import BUILTIN_SPLITS
    from halo_forge.reasoning.evaluation import reasoning_figures

    path, tok = kit.start(a)
    train, heldout = BUILTIN_SPLITS[a.level](4000, a.seed)
    heldout = heldout[: a.heldout]
    measure = lambda m: reasoning_figures(m, tok, heldout, max_new_tokens=a.max_completion).to_dict()  # noqa: E731
    stages = {}
    if a.sft_model:
        model, sft_s = AutoModelForCausalLM.from_pretrained(a.sft_model), 0.0
        after_sft = measure(model)
    else:
        base = AutoModelForCausalLM.from_pretrained(path)
        before, snapshot = measure(base), kit.snapshot(base)
        rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in train]
        model, sft_s = kit.timed(kit.sft, base, tok, rows, a.out / "sft-run",
                                 steps=a.sft_steps, batch=a.sft_batch, lr=a.sft_lr, seed=a.seed)
        model.save_pretrained(str(a.out / "sft"))
        tok.save_pretrained(str(a.out / "sft"))  # a whole model folder: `--model` of halo-forge takes it
        after_sft = measure(model)
        stages["sft"] = {"before": before, "after": after_sft,
                         **_verdict(before, after_sft, a.sft_steps, kit.moved(model, snapshot))}
    print("after SFT", after_sft, flush=True)
    snapshot = kit.snapshot(model)
    (model, extra), grpo_s = kit.timed(_grpo, model, tok, train, a)
    after_grpo = measure(model)
    stages["grpo"] = {"before": after_sft, "after": after_grpo,
                      **_verdict(after_sft, after_grpo, a.grpo_steps, kit.moved(model, snapshot))}
    teacher = sum(r["completion"][0]["content"].endswith(f">{r['answer']}") for r in train) / len(train)
    return kit.finish(a, {"level": a.level, "train_rows": len(train), "heldout_rows": len(heldout),
                          "teacher_label_accuracy": teacher, "after_sft": after_sft, "after_grpo": after_grpo,
                          "stages": stages, "sft_seconds": sft_s, "grpo_seconds": grpo_s, **extra})


if __name__ == "__main__":
    main()
