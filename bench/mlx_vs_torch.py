"""MLX vs PyTorch training steps/s on the built-in tiny model, on this machine's CPU, in one run.

    python bench/mlx_vs_torch.py [--steps 20] [--batch 8] [--threads 1]

For SFT (LoRA r16, completion-only loss), DPO (sigmoid, reference log-probs precomputed) and GRPO (dapo loss,
beta 0.04 with a frozen reference, one update per sampling) it times the MLX step functions the MLX trainers
use (halo_forge.mlx.steps.make_train_step over halo_forge/dpo/mlx_losses.py and
halo_forge/grpo/mlx_objective.py, eager and mx.compile) against a bare PyTorch loop doing the same math on the
same tokens (AdamW, grad clip 1.0; torch LoRA through PEFT). Warm-up steps (and MLX's kernel compilation) are
not timed. Prints steps/s per engine and the ratio MLX / PyTorch. The TRL trainers' own overhead is not in the
PyTorch figure: this compares the engines, not the platforms (bench/sft_overhead.py measures that).
"""

from __future__ import annotations

import argparse
import functools
import json
import time

PROMPTS = [f"What is {a}+{b}?" for a, b in ((12, 34), (56, 21), (40, 17), (23, 45), (8, 9), (71, 3), (30, 30), (5, 66))]


def batches(tok, batch: int):
    """Token batches for the three algorithms (the same tokens feed both engines)."""
    from halo_forge.mlx import tokenize

    rows = [(PROMPTS[i % len(PROMPTS)], str(sum(map(int, PROMPTS[i % len(PROMPTS)][8:-1].split("+")))))
            for i in range(batch)]
    chat = lambda p: [{"role": "user", "content": p}]  # noqa: E731
    sft = tokenize.sft_batch([tokenize.sft_example({"prompt": chat(p), "completion": [
        {"role": "assistant", "content": f"The answer is {a}"}]}, tok) for p, a in rows], tok.pad_token_id)
    pref = tokenize.preference_batch([tokenize.preference_example({"prompt": chat(p), "chosen": [
        {"role": "assistant", "content": a}], "rejected": [{"role": "assistant", "content": a[::-1] + "1"}]}, tok)
        for p, a in rows], tok.pad_token_id)
    prompts = [tokenize.prompt_ids({"prompt": chat(p)}, tok) for p, _ in rows]
    comps = [tok.encode(a if i % 2 else a + "0", add_special_tokens=False) + [tok.eos_token_id]
             for i, (_, a) in enumerate(rows)]
    grpo = tokenize.sequence_batch(prompts, comps, tok.pad_token_id)
    return sft, pref, grpo


def time_steps(step, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def mlx_steps(model_ref: str, sft, pref, grpo, compile: bool) -> dict:
    """{algorithm: step callable} on MLX."""
    from halo_forge.dpo.mlx_losses import dpo_loss, reference_logps
    from halo_forge.grpo.mlx_objective import completion_logps, group_advantages, grpo_loss
    from halo_forge.mlx import lora, runtime, steps, weights

    def fresh(use_lora: bool):
        runtime.seed(0)
        model, _ = weights.load(model_ref)
        lora.apply_lora(model, rank=16, alpha=32) if use_lora else lora.prepare_full(model)
        return model, steps.make_optimizer(lr=1e-4, total_steps=1000, schedule="constant")

    model, opt = fresh(True)
    sft_step = steps.make_train_step(model, opt, steps.sft_loss, compile=compile)
    dmodel, dopt = fresh(False)
    ref_c, ref_r = reference_logps(dmodel, *pref)
    dpo_step = steps.make_train_step(dmodel, dopt, functools.partial(dpo_loss, beta=0.1), compile=compile)
    gmodel, gopt = fresh(False)
    ref = completion_logps(weights.load(model_ref)[0], grpo[0])
    adv = group_advantages([float(i % 2) for i in range(grpo[0].shape[0])], 2)
    fn = functools.partial(grpo_loss, beta=0.04, loss_type="dapo")
    grpo_step = steps.make_train_step(gmodel, gopt, fn, compile=compile)
    return {"sft": lambda: sft_step([sft]), "dpo": lambda: dpo_step([(*pref, ref_c, ref_r)]),
            "grpo": lambda: grpo_step([(*grpo, adv, None, ref)])}


def torch_steps(model_ref: str, sft, pref, grpo) -> dict:
    """{algorithm: step callable}: the same losses in a bare PyTorch loop."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731

    def logps(model, tokens):
        logits = model(tokens[:, :-1]).logits.float()
        return torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None])[..., 0]

    def stepper(model, loss_fn):
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)

        def step():
            opt.zero_grad()
            loss = loss_fn(model)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return step

    load = lambda: AutoModelForCausalLM.from_pretrained(model_ref)  # noqa: E731
    lora_model = get_peft_model(load(), LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    s_tok, s_mask = t(sft[0]).long(), t(sft[1])
    sft_loss = lambda m: -(logps(m, s_tok) * s_mask[:, 1:]).sum() / s_mask[:, 1:].sum()  # noqa: E731
    p_tok, p_mask = t(pref[0]).long(), t(pref[1])
    with torch.no_grad():
        ref_p = (logps(load(), p_tok) * p_mask[:, 1:]).sum(-1)

    def dpo(m):
        lp = (logps(m, p_tok) * p_mask[:, 1:]).sum(-1) - ref_p
        c, r = lp.chunk(2)
        return -F.logsigmoid(0.1 * (c - r)).mean()

    g_tok, g_mask = t(grpo[0]).long(), t(grpo[1])[:, 1:]
    with torch.no_grad():
        ref_g = logps(load(), g_tok)
    adv = torch.tensor([float(i % 2) - 0.5 for i in range(g_tok.shape[0])])[:, None]

    def grpo_fn(m):
        lp = logps(m, g_tok)
        ratio = torch.exp(lp - lp.detach())
        per = -torch.min(ratio * adv, torch.clamp(ratio, 0.8, 1.2) * adv)
        kl = torch.exp(ref_g - lp) - (ref_g - lp) - 1
        return ((per + 0.04 * kl * ratio) * g_mask).sum() / g_mask.sum()

    return {"sft": stepper(lora_model, sft_loss), "dpo": stepper(load(), dpo), "grpo": stepper(load(), grpo_fn)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    import torch

    from halo_forge.mlx import weights
    from halo_forge.models.loading import resolve_model

    torch.set_num_threads(args.threads)
    ref = resolve_model("halo-forge/tiny")
    _, tok = weights.load(ref)
    data = batches(tok, args.batch)
    engines = {"torch": torch_steps(ref, *data), "mlx": mlx_steps(ref, *data, compile=False),
               "mlx_compiled": mlx_steps(ref, *data, compile=True)}
    results = {name: {algo: round(time_steps(fn, args.steps), 2) for algo, fn in steps.items()}
               for name, steps in engines.items()}
    for algo in ("sft", "dpo", "grpo"):
        base = results["torch"][algo]
        line = "  ".join(f"{name} {results[name][algo]:7.2f} steps/s" for name in engines)
        print(f"{algo:5s} {line}  ratio mlx/torch {results['mlx'][algo] / base:.2f}, "
              f"compiled/torch {results['mlx_compiled'][algo] / base:.2f}")
    print(json.dumps({"batch": args.batch, "steps": args.steps, "torch_threads": args.threads, **results}))


if __name__ == "__main__":
    main()
