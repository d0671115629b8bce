"""RAFT's recipe, whatever the backend: `train()` and one cycle, written against `CycleOps` — the few things a
backend does (load a policy, sample from it, fine-tune it, save it, measure it).

    class TorchRAFTTrainer(RAFTRecipe, rl.RolloutTrainer):   # ops: transformers + TRL's SFTTrainer
    class MLXRAFTTrainer(RAFTRecipe, MLXTrainer):           # ops: mlx-lm + the MLX loop, or (--rollout-only)
                                                             #      MLX sampling + TRL's SFTTrainer

Each cycle loads the current policy (the previous cycle's model), samples `samples_per_prompt` completions per
prompt (seeded by (seed, cycle), so two processes sample the same), verifies them, keeps the best (reward ≥
threshold, at most keep_percent of the generated samples, best first, duplicates dropped), fine-tunes on them,
and saves the cycle's model and record (written last: a cycle counts only once finished). `--resume` continues
after the last finished cycle, reusing an interrupted cycle's rollouts (see `raft.cycles`).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from halo_forge import rl, training
from halo_forge.data.prompts import load_prompt_data
from halo_forge.raft.cycles import CycleState, select, yield_diagnostics
from halo_forge.summary import Cycle, TrainingSummary, write_json_atomic
from halo_forge.training import Figure, Figures, Fit, compare


@dataclass(frozen=True)
class CycleOps:
    """What a backend does for RAFT, as plain functions."""

    load: Callable[[str], Any]                                   # policy reference -> model
    sample: Callable[[Any, list[dict], int], list[list[str]]]    # model, prompt rows, cycle -> texts per row
    fine_tune: Callable[[Any, list[dict], Any, list], tuple]     # model, kept rows, folder, callbacks -> (model, loss, steps)
    save: Callable[[Any, Any], None]                             # model, folder (a model folder any trainer loads)
    pass_rate: Callable[[Any, list[dict]], Figure | None]        # model, held-out rows -> held-out figure
    snapshot: Callable[[Any], dict]                              # every weight, before the first cycle
    moved: Callable[[Any, dict], tuple[bool, float]]             # (any weight moved, L2 of the change)


class RAFTRecipe:
    """RAFT's `train()` and cycle; the class it is mixed into supplies `ops(tokenizer, model_ref) -> CycleOps`."""

    def ops(self, tokenizer, model_ref: str) -> CycleOps:
        raise NotImplementedError

    def train(self) -> TrainingSummary:
        cfg = self.config
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_prompt_data, chat_template=True)
            ops = self.ops(tokenizer, model_ref)
            state = CycleState.open(cfg, data.digest)
            measure = lambda model: Figures.of(heldout_accuracy=ops.pass_rate(model, data.heldout))  # noqa: E731
            start = ops.load(model_ref)
            snapshot = ops.snapshot(start)  # each cycle replaces the model: every weight, not the trainable ones
            before = _figures(state.before()) or measure(start)
            state.record_before(before.get("heldout_accuracy"))
            del start
            records, model = list(state.finished), None
            for k in range(len(records), cfg.cycles):
                policy = records[-1]["model"] if records else model_ref
                record, model = self.run_cycle(k, policy, ops, data, state, run.callbacks)
                records.append(record)
            model = model or ops.load(records[-1]["model"])
            after = measure(model)
            moved, delta = ops.moved(model, snapshot)
            ops.save(model, run.staging)
            fit = Fit(steps=sum(r["steps"] for r in records), seconds=sum(r["train_seconds"] for r in records),
                      moved=moved, delta_l2=delta,
                      log_history=[{"step": r["cycle"], "loss": r["train_loss"]} for r in records if r["train_loss"] is not None])
            summary = training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before, after), adapter=False,
                cycles=[Cycle(**{k: v for k, v in r.items() if k not in ("rewards", "model")}) for r in records],
                yield_diagnostics=yield_diagnostics(records, min_samples=cfg.min_samples), recovery=state.recovery(),
                extra={"evaluation_metric": "held-out verifier pass rate (greedy)", "verifiers": list(cfg.verifiers),
                       "rollout_engine": self.plan["engine"], **self.plan["selection"], **self.backend_extra(),
                       "timing_seconds": {p: round(sum(r[f"{p}_seconds"] for r in records), 3)
                                          for p in ("rollout", "verify", "train")}})
        state.finished_run()
        return summary

    def backend_extra(self) -> dict:
        """What the summary says of the backend beside the common extras (nothing, on PyTorch)."""
        return {}

    def run_cycle(self, k: int, policy_ref: str, ops: CycleOps, data, state: CycleState, callbacks) -> tuple[dict, Any]:
        """One cycle: sample from the current policy (or reuse this cycle's cached rollouts), verify, keep
        the best, fine-tune on them; the record is written last, so a cycle counts only once finished."""
        cfg = self.config
        folder = state.cycle_dir(k)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        model = ops.load(policy_ref)
        rows = _prompts_for_cycle(data.train, k, cfg.prompts_per_cycle)
        samples, rollout_s = _rollouts(folder / "rollouts.json", lambda: ops.sample(model, rows, k), policy_ref)
        t_ver = time.monotonic()
        scores = [rl.score(self.verifiers, outs, [row] * len(outs)) for row, outs in zip(rows, samples)]
        verify_s = time.monotonic() - t_ver
        kept = select(rows, samples, scores, keep_percent=cfg.keep_percent, threshold=cfg.reward_threshold)
        t_train = time.monotonic()
        loss, steps = None, 0
        if len(kept) >= cfg.min_samples:
            model, loss, steps = ops.fine_tune(model, kept, folder, callbacks)
        train_s = time.monotonic() - t_train
        model_dir = folder / "model"
        shutil.rmtree(model_dir, ignore_errors=True)
        ops.save(model, model_dir)
        rewards = [s["reward"] for sc in scores for s in sc]
        record = {"cycle": k, "train_loss": loss, "steps": steps, "generated": sum(len(s) for s in samples),
                  "verified": sum(s["passed"] for sc in scores for s in sc), "kept": len(kept),
                  "mean_reward": round(sum(rewards) / len(rewards), 4) if rewards else None, "trained": steps > 0,
                  "rewards": rewards, "rejections": dict(Counter(s["reason"] for sc in scores for s in sc if not s["passed"])),
                  "rollout_seconds": round(rollout_s, 3), "verify_seconds": round(verify_s, 3),
                  "train_seconds": round(train_s, 3), "cycle_duration_seconds": round(time.monotonic() - t0, 3),
                  "model": str(model_dir)}
        write_json_atomic(folder / "record.json", record)
        return record, model


def _rollouts(cache, sample: Callable[[], list[list[str]]], policy_ref: str) -> tuple[list[list[str]], float]:
    """This cycle's samples (cached for a resume: sampled before an interruption, the same policy gives the same
    rollouts) and the seconds they took."""
    t0 = time.monotonic()
    if cache.is_file():
        return json.loads(cache.read_text())["samples"], time.monotonic() - t0
    samples = sample()
    write_json_atomic(cache, {"policy": policy_ref, "samples": samples})
    return samples, time.monotonic() - t0


def kept_rows(kept: list[dict]) -> list[dict]:
    """The SFT rows a cycle fine-tunes on (prompt and completion of each kept sample)."""
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in kept]


def _prompts_for_cycle(train: list[dict], k: int, per_cycle: int | None) -> list[dict]:
    if not per_cycle:
        return train
    start = (k * per_cycle) % len(train)
    return (train[start:] + train[:start])[:per_cycle]


def _figures(before: dict | None) -> Figures | None:
    return None if before is None else Figures.of(heldout_accuracy=Figure(**before))
