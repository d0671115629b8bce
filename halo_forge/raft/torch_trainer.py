"""RAFT on PyTorch: our loop around TRL's SFTTrainer.

    halo-forge raft train --dataset arithmetic_prompts --model outputs/quickstart/dpo --no-lora \
        --verifier math --cycles 3 --samples-per-prompt 4 --keep-percent 0.5

Each cycle: load the current policy (the previous cycle's model), sample `samples_per_prompt`
completions per prompt with the rollout engine (seeded per cycle, so two processes sample the same),
verify them, keep the best (reward ≥ threshold, at most keep_percent of the generated samples, best
first, duplicates dropped), fine-tune on them with TRL's SFTTrainer, merge an adapter into the policy,
and save the cycle's model and record. `train()` reads top to bottom: load, measure, the cycles,
measure, save, summarise; `--resume` continues after the last finished cycle (see `raft.cycles`).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter

from halo_forge import rl, training
from halo_forge.data.prompts import load_prompt_data
from halo_forge.models.loading import load_causal_lm
from halo_forge.raft.cycles import CycleState, select, yield_diagnostics
from halo_forge.rollout import Sampling, get_engine, resolve_engine
from halo_forge.summary import Cycle, TrainingSummary, write_json_atomic
from halo_forge.training import Figure, Figures, Fit, compare
from halo_forge.training.run import final_loss


class TorchRAFTTrainer(rl.RolloutTrainer):
    """RAFT cycles with TRL's SFTTrainer on cpu, cuda, rocm or mps."""

    modality = "raft"
    multi_process = False  # its own loop samples, filters and saves each cycle in one process

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        plan = cls.library_plan(config, caps, max_length=config.max_length, completion_only_loss=True)
        return {
            **plan, "engine": resolve_engine(config.rollout_engine),
            "sampling": Sampling(temperature=config.temperature, max_new_tokens=config.max_completion_length,
                                 batch_size=config.eval_batch_size),
            "verifiers": rl.verifier_plan(config),
            "selection": {"samples_per_prompt": config.samples_per_prompt, "keep_percent": config.keep_percent,
                          "threshold": config.reward_threshold, "min_samples": config.min_samples,
                          "prompts_per_cycle": config.prompts_per_cycle, "cycles": config.cycles},
            "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size},
        }

    def train(self) -> TrainingSummary:
        cfg = self.config
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_prompt_data, chat_template=True)
            state = CycleState.open(cfg, data.digest)
            measure = lambda model: Figures.of(heldout_accuracy=rl.pass_rate(  # noqa: E731
                model, tokenizer, self.verifiers, data.heldout, **self.plan["eval"]))
            start = load_causal_lm(model_ref, **self.plan["model"])
            snapshot = training.trainable_snapshot(start, every_weight=True)  # each cycle replaces the model
            before = _figures(state.before()) or measure(start)
            state.record_before(before.get("heldout_accuracy"))
            del start
            records, model = list(state.finished), None
            for k in range(len(records), cfg.cycles):
                policy = records[-1]["model"] if records else model_ref
                record, model = self.run_cycle(k, policy, tokenizer, data, state, run.callbacks)
                records.append(record)
            model = model or load_causal_lm(records[-1]["model"], **self.plan["model"])
            after = measure(model)
            moved, delta = training.weights_changed(model, snapshot)
            model.save_pretrained(str(run.staging))
            tokenizer.save_pretrained(str(run.staging))
            fit = Fit(steps=sum(r["steps"] for r in records), seconds=sum(r["train_seconds"] for r in records),
                      moved=moved, delta_l2=delta,
                      log_history=[{"step": r["cycle"], "loss": r["train_loss"]} for r in records if r["train_loss"] is not None])
            summary = training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before, after), adapter=False,
                cycles=[Cycle(**{k: v for k, v in r.items() if k not in ("rewards", "model")}) for r in records],
                yield_diagnostics=yield_diagnostics(records, min_samples=cfg.min_samples), recovery=state.recovery(),
                extra={"evaluation_metric": "held-out verifier pass rate (greedy)", "verifiers": list(cfg.verifiers),
                       "rollout_engine": self.plan["engine"], **self.plan["selection"],
                       "timing_seconds": {p: round(sum(r[f"{p}_seconds"] for r in records), 3)
                                          for p in ("rollout", "verify", "train")}})
        state.finished_run()
        return summary

    def run_cycle(self, k: int, policy_ref: str, tokenizer, data, state: CycleState, callbacks) -> tuple[dict, object]:
        """One cycle: sample from the current policy (or reuse this cycle's cached rollouts), verify, keep
        the best, fine-tune on them; the record is written last, so a cycle counts only once finished."""
        cfg, plan = self.config, self.plan
        folder = state.cycle_dir(k)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        model = load_causal_lm(policy_ref, **plan["model"])
        rows = _prompts_for_cycle(data.train, k, cfg.prompts_per_cycle)
        samples, rollout_s = self._rollouts(folder / "rollouts.json", k, model, tokenizer, rows, policy_ref)
        t_ver = time.monotonic()
        scores = [rl.score(self.verifiers, outs, [row] * len(outs)) for row, outs in zip(rows, samples)]
        verify_s = time.monotonic() - t_ver
        kept = select(rows, samples, scores, keep_percent=cfg.keep_percent, threshold=cfg.reward_threshold)
        t_train = time.monotonic()
        loss, steps = None, 0
        if len(kept) >= cfg.min_samples:
            model, loss, steps = self._fine_tune(model, tokenizer, kept, folder, callbacks)
        train_s = time.monotonic() - t_train
        model_dir = folder / "model"
        shutil.rmtree(model_dir, ignore_errors=True)
        model.save_pretrained(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
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

    def _rollouts(self, cache, k: int, model, tokenizer, rows, policy_ref: str) -> tuple[list[list[str]], float]:
        """This cycle's samples from the current policy, seeded by (seed, cycle); cached for a resume."""
        from transformers import set_seed

        from halo_forge.evaluation import prompt_text

        t0 = time.monotonic()
        if cache.is_file():  # sampled before an interruption: the same policy, the same rollouts
            return json.loads(cache.read_text())["samples"], time.monotonic() - t0
        set_seed(self.config.seed * 1000 + k)
        engine = get_engine(self.plan["engine"], model, tokenizer)
        engine.update_weights(model)
        samples = engine.generate([prompt_text(r, tokenizer) for r in rows], self.config.samples_per_prompt,
                                  self.plan["sampling"])
        write_json_atomic(cache, {"policy": policy_ref, "samples": samples})
        return samples, time.monotonic() - t0

    def _fine_tune(self, model, tokenizer, kept: list[dict], folder, callbacks):
        """SFT on the kept samples with TRL; an adapter is merged so the next cycle loads a plain model."""
        from datasets import Dataset
        from trl import SFTConfig as TRLSFTConfig, SFTTrainer

        rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in kept]
        with training.no_tqdm():
            trainer = SFTTrainer(model=model, args=TRLSFTConfig(**self.plan["trl"], output_dir=str(folder / "trainer")),
                                 train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                                 peft_config=self.plan["peft"], callbacks=list(callbacks))
        training.quiet_trainer(trainer).train()
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        model = trainer.model
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        return model, final_loss(trainer.state.log_history), int(trainer.state.global_step)


def _prompts_for_cycle(train: list[dict], k: int, per_cycle: int | None) -> list[dict]:
    if not per_cycle:
        return train
    start = (k * per_cycle) % len(train)
    return (train[start:] + train[:start])[:per_cycle]


def _figures(before: dict | None) -> Figures | None:
    return None if before is None else Figures.of(heldout_accuracy=Figure(**before))
