"""The agentic demo on the tiny model, plain TRL: SFT on tool traces, then RAFT (or GRPO) raises held-out
exact-call accuracy on a built-in tool world.

    python -m halo_forge.agentic.demo --out /tmp/agentic-demo                 # SFT then RAFT: the measured win
    python -m halo_forge.agentic.demo --out /tmp/agentic-raft --sft-model /tmp/agentic-demo/sft   # RAFT only

Data (``--world``): ``tool_arith`` (the default: ``add(a, b)`` and ``sub(a, b)`` called from "47-12?", a trace
is 133 tokens) or ``tool_world`` (calculator, unit converter, lookup table; single and parallel calls, ~100-token
calls). The SFT traces come from a sloppy teacher (``tool_arith``: it swaps a subtraction's operands on 60 % of
those calls, 27 % of the traces hold a wrong call; ``tool_world``: it also swaps a conversion's units, 43 %),
rendered with the chat template's ``tools=``, ``tool_calls`` and ``tool`` turns, loss on the assistant turns
only (``--sft-init`` continues SFT from a saved model). A probe measures held-out exact calls every
``--probe-every`` SFT steps (on held-out rows the figures do not use) and stops SFT once the ``values`` check
reaches ``--probe-stop``. Then:

- ``raft`` (default): cycles of sampling 8 first turns per prompt from the current policy (temperature 1),
  keeping the unique ones that pass every ``tool_call`` check, and SFT on their traces (the kept calls really
  run to give the tool turns);
- ``grpo``: TRL GRPOTrainer on the first assistant turn (prompts rendered with the tools), reward: the
  ``tool_call`` verifier's graded score.

Held-out figures (greedy, questions never trained on): exact-call accuracy with the call-check breakdown, and
episodes with the tools executed (final-answer accuracy, turns), with each stage's verdict as the agentic
trainer's summary would give it (``stages.<stage>.verdict``). Prints and writes ``<out>/demo.json``.
"""

from __future__ import annotations

from halo_forge.reasoning import demo_kit as kit


def _grpo(model, tok, train: list[dict], a, tools, fns):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from halo_forge import rl
    from halo_forge.agentic.grpo import single_turn_rows
    from halo_forge.verifiers import get_verifier

    args = GRPOConfig(output_dir=str(a.out / "grpo-run"), max_steps=a.rl_steps, per_device_train_batch_size=a.rl_batch,
                      num_generations=a.generations, max_completion_length=a.max_completion, learning_rate=a.rl_lr,
                      lr_scheduler_type="cosine", beta=0.0, temperature=1.0, logging_steps=10, seed=a.seed, **kit.CPU)
    trainer = GRPOTrainer(model=model, args=args, processing_class=tok,
                          reward_funcs=rl.reward_funcs([("tool_call", get_verifier("tool_call"), 1.0)],
                                                       ["tools", "gold_calls"]),
                          train_dataset=Dataset.from_list(single_turn_rows(train, tok)))
    trainer.train()
    rewards = [e["reward"] for e in trainer.state.log_history if "reward" in e]
    return trainer.model, {"reward_first_last": [rewards[0], rewards[-1]] if rewards else None}


def _raft(model, tok, train: list[dict], a, tools, fns):
    import random

    from halo_forge.agentic.calls import parse_calls
    from halo_forge.agentic.rollout import first_turn_texts
    from halo_forge.data.tool_world import sft_trace
    from halo_forge.verifiers import get_verifier

    verifier, rng, cycles = get_verifier("tool_call"), random.Random(a.seed), []
    for k in range(a.raft_cycles):
        rows = rng.sample(train, a.raft_prompts)
        samples = first_turn_texts(model, tok, rows, tools, n=a.generations, do_sample=True,
                                   max_new_tokens=a.max_completion, batch_size=64)
        kept = [sft_trace(row, parse_calls(text)[0], tools=fns) for row, texts in zip(rows, samples)
                for text in dict.fromkeys(texts) if verifier.verify(text, row).passed]  # unique passing samples
        cycles.append({"cycle": k, "generated": sum(map(len, samples)), "kept": len(kept),
                       "steps": max(1, len(kept) // a.rl_batch) if kept else 0})
        print("raft cycle", cycles[-1], flush=True)
        if kept:
            model = kit.sft(model, tok, kept, a.out / f"raft{k}-run", steps=cycles[-1]["steps"],
                            batch=a.rl_batch, lr=a.raft_lr, seed=a.seed + k, assistant_only=True)
    return model, {"raft_cycles": cycles}


def _probe(tok, rows: list[dict], tools, a) -> object:
    """A TrainerCallback that measures held-out exact calls (greedy, ``rows``) every ``a.probe_every`` SFT steps,
    prints them, keeps them in ``.history`` and stops SFT once the ``values`` check reaches ``a.probe_stop``."""
    from transformers import TrainerCallback

    from halo_forge.agentic.evaluation import call_figures

    class Probe(TrainerCallback):
        def __init__(self):
            self.history: list[dict] = []

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if not a.probe_every or state.global_step % a.probe_every:
                return
            model.eval()
            calls = call_figures(model, tok, rows, tools, max_new_tokens=a.max_completion)
            model.train()
            values = calls["call_checks"].get("values", 0.0)
            self.history.append({"step": state.global_step, "exact": calls["exact_call_accuracy"], "values": values})
            print("probe", self.history[-1], flush=True)
            control.should_training_stop = bool(a.probe_stop and values >= a.probe_stop)

    return Probe()


def _verdict(before: dict, after: dict, steps: int, moved: bool) -> dict:
    """The verdict the agentic trainer's summary gives for these held-out figures ({calls, episodes} of
    ``measure``): exact-call accuracy first, the episodes' answer accuracy with the trainer's tolerance."""
    from halo_forge.agentic.evaluation import figures_of
    from halo_forge.agentic.torch_trainer import ANSWER_TOLERANCE

    return kit.verdict(figures_of(before["calls"], before["episodes"]), figures_of(after["calls"], after["episodes"]),
                       steps, moved, tolerance=ANSWER_TOLERANCE)


def _world(name: str):
    """(train, held-out, Tool objects, name → function) of a built-in world: ``tool_arith`` or ``tool_world``."""
    from halo_forge.agentic.tools import world_tools
    from halo_forge.data import tool_world as w

    train, heldout = w.tool_arith_split() if name == "tool_arith" else w.tool_world_split()
    tools = world_tools(name)
    return train, heldout, tools, {t.__name__: t for t in tools}


def _args(argv: list[str] | None):
    p = kit.parser(__doc__, heldout=200, sft_steps=800, sft_batch=64, sft_lr=3e-3, max_completion=80)
    p.add_argument("--world", choices=["tool_arith", "tool_world"], default="tool_arith")
    p.add_argument("--method", choices=["grpo", "raft"], default="raft")
    p.add_argument("--sft-init", help="run the SFT stage from this model folder (a saved earlier SFT) instead of "
                                      "the untrained tiny model")
    p.add_argument("--probe-every", type=int, default=100, help="SFT steps between held-out probes (0: none)")
    p.add_argument("--probe-rows", type=int, default=60, help="held-out rows a probe measures (the last ones, "
                                                                "not the ones the figures use)")
    p.add_argument("--probe-stop", type=float, default=0.66, help="stop SFT once a probe's values check reaches "
                                                                   "this (0: never; 0.66: copying done, the flaw kept)")
    p.add_argument("--rl-steps", type=int, default=100)
    p.add_argument("--rl-batch", type=int, default=32)
    p.add_argument("--rl-lr", type=float, default=1e-4, help="GRPO's learning rate")
    p.add_argument("--raft-lr", type=float, default=1e-3, help="RAFT's SFT learning rate on the kept traces")
    p.add_argument("--raft-cycles", type=int, default=3)
    p.add_argument("--raft-prompts", type=int, default=1024)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    a = _args(argv)

    from transformers import AutoModelForCausalLM

    from halo_forge.agentic.evaluation import call_figures, episode_figures
    from halo_forge.data.tool_world import sft_trace, teacher_calls

    path, tok = kit.start(a)
    train, heldout, tools, fns = _world(a.world)
    heldout, probe_rows = heldout[: a.heldout], heldout[a.heldout:][-a.probe_rows:]

    def measure(m) -> dict:
        return {"calls": call_figures(m, tok, heldout, tools, max_new_tokens=a.max_completion),
                "episodes": episode_figures(m, tok, heldout, tools, max_new_tokens=a.max_completion)}

    stages, extra = {}, {}
    if a.sft_model:
        model, sft_s = AutoModelForCausalLM.from_pretrained(a.sft_model), 0.0
        after_sft = measure(model)
    else:
        base = AutoModelForCausalLM.from_pretrained(a.sft_init or path)
        before, snap, probe = measure(base), kit.snapshot(base), _probe(tok, probe_rows, tools, a)
        traces = [sft_trace(r, teacher_calls(r, a.seed), tools=fns) for r in train]
        model, sft_s = kit.timed(kit.sft, base, tok, traces, a.out / "sft-run", steps=a.sft_steps,
                                 batch=a.sft_batch, lr=a.sft_lr, seed=a.seed, assistant_only=True, callbacks=[probe])
        model.save_pretrained(str(a.out / "sft"))
        tok.save_pretrained(str(a.out / "sft"))  # a whole model folder: `--model` of halo-forge takes it
        after_sft = measure(model)
        stages["sft"] = {"before": before, "after": after_sft, **_verdict(before, after_sft, a.sft_steps,
                                                                          kit.moved(model, snap))}
        extra["sft_probes"] = probe.history
    print("after SFT", after_sft, flush=True)
    snap = kit.snapshot(model)
    (model, rl_extra), rl_s = kit.timed(_grpo if a.method == "grpo" else _raft, model, tok, train, a, tools, fns)
    model.save_pretrained(str(a.out / a.method))
    tok.save_pretrained(str(a.out / a.method))
    after = measure(model)
    steps = a.rl_steps if a.method == "grpo" else sum(c["steps"] for c in rl_extra["raft_cycles"])
    stages[a.method] = {"before": after_sft, "after": after, **_verdict(after_sft, after, steps,
                                                                          kit.moved(model, snap))}
    wrong = sum(teacher_calls(r, a.seed) != r["gold_calls"] for r in train) / len(train)
    return kit.finish(a, {"world": a.world, "train_rows": len(train), "heldout_rows": len(heldout),
                          "teacher_wrong_fraction": wrong, "after_sft": after_sft, f"after_{a.method}": after,
                          "stages": stages, "sft_seconds": sft_s, "rl_seconds": rl_s, **extra, **rl_extra})


if __name__ == "__main__":
    main()
