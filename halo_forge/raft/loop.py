"""RAFT's cycles for trainers that bring their own kind of model (vision-language, speech): the same
sample → verify → keep → fine-tune loop as `raft.torch_trainer`, written against `CycleOps` — the few
things a modality does (load a policy, sample from it, fine-tune it on kept samples, save it, measure it).

State and resume are `raft.cycles`': a cycle counts once its record is written; `--resume` continues after
the last finished cycle, and a re-run cycle reuses the rollouts it had already sampled. Each cycle loads the
policy the previous one saved, so a resumed run computes exactly what an uninterrupted one does.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from halo_forge import rl
from halo_forge.raft.cycles import CycleState, ranked
from halo_forge.summary import Cycle, write_json_atomic
from halo_forge.training import Figure, Figures, Fit
from halo_forge.training.run import final_loss
from halo_forge.training.weights import trainable_snapshot, weights_changed

Heldout = tuple[Figures, dict]  # the held-out figures and what they were measured from (verifier breakdown …)


@dataclass(frozen=True)
class CycleOps:
    """What a modality does for RAFT, as plain functions."""

    load: Callable[[str], Any]                                  # policy reference -> model
    sample: Callable[[Any, list[dict]], list[list[str]]]        # model, rows -> samples_per_prompt texts per row
    fine_tune: Callable[[Any, list[dict], Path, list], tuple]   # model, kept rows (+ "sample"), folder, callbacks
    #                                                             -> (model, final loss, steps)
    save: Callable[[Any, Path], None]                           # model, folder: a folder the next cycle loads
    measure: Callable[[Any], Heldout]                           # model -> held-out figures and details


@dataclass
class Cycles:
    """What the cycles did: their records, the final policy, the held-out figures before and after, the fit."""

    records: list[dict]
    model: Any
    before: Heldout
    after: Heldout
    fit: Fit

    def summary_cycles(self) -> list[Cycle]:
        return [Cycle(**{k: v for k, v in r.items() if k not in ("rewards", "model")}) for r in self.records]


def run_cycles(config, state: CycleState, ops: CycleOps, rows: list[dict], model_ref: str, verifiers,
               callbacks) -> Cycles:
    """Measure the start model, run the cycles not finished yet, measure the final policy."""
    start = ops.load(model_ref)
    snapshot = trainable_snapshot(start, every_weight=True)  # each cycle replaces the model: every weight
    before = _recorded_before(state) or ops.measure(start)
    _record_before(state, before)
    del start
    records, model = list(state.finished), None
    for k in range(len(records), config.cycles):
        policy = records[-1]["model"] if records else model_ref
        record, model = one_cycle(k, policy, config, state, ops, rows, verifiers, callbacks)
        records.append(record)
    model = model or ops.load(records[-1]["model"])
    after = ops.measure(model)
    moved, delta = weights_changed(model, snapshot)
    fit = Fit(steps=sum(r["steps"] for r in records), seconds=sum(r["train_seconds"] for r in records), moved=moved,
              delta_l2=delta, log_history=[{"step": r["cycle"], "loss": r["train_loss"]} for r in records
                                           if r["train_loss"] is not None])
    return Cycles(records=records, model=model, before=before, after=after, fit=fit)


def one_cycle(k: int, policy_ref: str, config, state: CycleState, ops: CycleOps, rows: list[dict], verifiers,
              callbacks) -> tuple[dict, Any]:
    """Sample from the current policy (or reuse this cycle's cached rollouts), verify, keep the best, fine-tune
    on them, save; the record is written last, so a cycle counts only once finished."""
    folder = state.cycle_dir(k)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    model = ops.load(policy_ref)
    cycle_rows = rows_for_cycle(rows, k, config.prompts_per_cycle)
    samples = _rollouts(folder / "rollouts.json", lambda: ops.sample(model, cycle_rows), config.seed * 1000 + k,
                        policy_ref)
    t_ver = time.monotonic()
    scores = [rl.score(verifiers, outs, [row] * len(outs)) for row, outs in zip(cycle_rows, samples)]
    t_train = time.monotonic()
    kept = [{**cycle_rows[i], "sample": text, "reward": r}
            for r, i, text in ranked(samples, scores, keep_percent=config.keep_percent, threshold=config.reward_threshold)]
    loss, steps = None, 0
    if len(kept) >= config.min_samples:
        model, loss, steps = ops.fine_tune(model, kept, folder, callbacks)
    train_s = time.monotonic() - t_train
    ops.save(model, folder / "model")
    rewards = [s["reward"] for sc in scores for s in sc]
    record = {"cycle": k, "train_loss": loss, "steps": steps, "generated": sum(len(s) for s in samples),
              "verified": sum(s["passed"] for sc in scores for s in sc), "kept": len(kept),
              "mean_reward": round(sum(rewards) / len(rewards), 4) if rewards else None, "trained": steps > 0,
              "rewards": rewards, "rejections": dict(Counter(s["reason"] for sc in scores for s in sc if not s["passed"])),
              "rollout_seconds": round(t_ver - t0, 3), "verify_seconds": round(t_train - t_ver, 3),
              "train_seconds": round(train_s, 3), "cycle_duration_seconds": round(time.monotonic() - t0, 3),
              "model": str(folder / "model")}
    write_json_atomic(folder / "record.json", record)
    return record, model


def fine_tuned(trainer, folder: Path) -> tuple[Any, float | None, int]:
    """Train a library trainer built on a cycle's kept samples; an adapter is merged so the next cycle loads a
    plain model. (model, final loss, steps)."""
    trainer.train()
    shutil.rmtree(folder, ignore_errors=True)
    model = trainer.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model, final_loss(trainer.state.log_history), int(trainer.state.global_step)


def rows_for_cycle(train: list[dict], k: int, per_cycle: int | None) -> list[dict]:
    if not per_cycle:
        return train
    start = (k * per_cycle) % len(train)
    return (train[start:] + train[:start])[:per_cycle]


def _rollouts(cache: Path, sample: Callable[[], list[list[str]]], seed: int, policy_ref: str) -> list[list[str]]:
    """This cycle's samples, seeded by (seed, cycle) so two processes sample the same; cached for a resume."""
    from transformers import set_seed

    if cache.is_file():  # sampled before an interruption: the same policy, the same rollouts
        return json.loads(cache.read_text())["samples"]
    set_seed(seed)
    samples = sample()
    write_json_atomic(cache, {"policy": policy_ref, "samples": samples})
    return samples


def _record_before(state: CycleState, before: Heldout) -> None:
    figures, details = before
    write_json_atomic(state.dir / "heldout_before.json",
                      {"figures": {name: fig.__dict__ for name, fig in figures.items()}, "details": details})


def _recorded_before(state: CycleState) -> Heldout | None:
    """The held-out figures measured before training, when an interrupted run recorded them."""
    path = state.dir / "heldout_before.json"
    if not (state.finished and path.is_file()):
        return None
    blob = json.loads(path.read_text())
    return Figures({name: Figure(**fig) for name, fig in blob["figures"].items()}), blob["details"]
