"""RAFT on PyTorch: our loop around TRL's SFTTrainer.

    halo-forge raft train --dataset arithmetic_prompts --model outputs/quickstart/dpo --no-lora \
        --verifier math --cycles 3 --samples-per-prompt 4 --keep-percent 0.5

Each cycle: load the current policy (the previous cycle's model), sample `samples_per_prompt`
completions per prompt with the rollout engine, verify them, keep the best (reward ≥ threshold, at
most keep_percent of the generated samples, best first, duplicates dropped), fine-tune on them with
TRL's SFTTrainer, and save the cycle's model and record. The state folder beside the output
(`.<name>.raft-state/<config digest>/`) holds every finished cycle and its rollouts, so `--resume`
continues from the last finished cycle and a re-sampled cycle reuses its cached rollouts.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import Counter
from pathlib import Path

from halo_forge import rl, training
from halo_forge.models.loading import ensure_chat_template, load_causal_lm, load_tokenizer, peft_config, resolve_model
from halo_forge.raft.config import RAFTConfig
from halo_forge.rollout import Sampling, get_engine
from halo_forge.summary import Cycle, Evaluation, Inputs, Outputs, TrainingSummary, judge, write_json_atomic


def select(rows: list[dict], samples: list[list[str]], scores: list[list[dict]], *, keep_percent: float,
           threshold: float) -> list[dict]:
    """The kept training rows: reward ≥ threshold, best first, unique per prompt, at most keep_percent."""
    generated = sum(len(s) for s in samples)
    cands = []
    for i, (row, outs, sc) in enumerate(zip(rows, samples, scores)):
        seen = set()
        for text, s in zip(outs, sc):
            if s["reward"] >= threshold and text.strip() and text not in seen:
                seen.add(text)
                cands.append((s["reward"], i, text))
    cands.sort(key=lambda c: (-c[0], c[1]))
    limit = max(1, math.floor(keep_percent * generated)) if generated else 0
    return [{"prompt": rows[i]["prompt"], "completion": [{"role": "assistant", "content": text}], "reward": r}
            for r, i, text in cands[:limit]]


def yield_diagnostics(cycles: list[dict], *, min_samples: int) -> dict:
    generated = sum(c["generated"] for c in cycles)
    verified = sum(c["verified"] for c in cycles)
    kept = sum(c["kept"] for c in cycles)
    rewards = [r for c in cycles for r in c.get("rewards", [])]
    reasons = Counter()
    for c in cycles:
        reasons.update(c.get("rejections", {}))
    bins = [0] * 5
    for r in rewards:
        bins[min(4, int(r * 5))] += 1
    keep_rate = kept / generated if generated else 0.0
    if kept == 0 or (rewards and max(rewards) == min(rewards) == 0):
        status = "no_signal"
    elif keep_rate < 0.05 or any(c["kept"] < min_samples for c in cycles):
        status = "low_yield"
    else:
        status = "healthy"
    return {
        "generated": generated, "verified": verified, "kept": kept,
        "rates": {"verify_rate": round(verified / generated, 4) if generated else 0.0, "keep_rate": round(keep_rate, 4)},
        "reward_distribution": {"mean": round(sum(rewards) / len(rewards), 4) if rewards else None,
                                "min": min(rewards) if rewards else None, "max": max(rewards) if rewards else None,
                                "histogram_0_to_1_by_0.2": bins},
        "dominant_rejection_reason": reasons.most_common(1)[0][0] if reasons else None,
        "status": status,
    }


class TorchRAFTTrainer(training.TorchRun):
    """RAFT cycles with TRL's SFTTrainer on cpu, cuda, rocm or mps."""

    modality = "raft"

    def __init__(self, config: RAFTConfig, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.verifiers = rl.build_verifiers(config)
        from halo_forge.rollout import resolve_engine

        self.engine_name = resolve_engine(config.rollout_engine)
        self.state_dir = self._state_dir()
        self.timings: list[dict] = []

    def _state_dir(self) -> Path:
        from halo_forge.lineage.digests import sha256_json

        cfg = self.config
        key = sha256_json({k: v for k, v in cfg.result_fields().items() if k != "cycles"}).split(":")[-1][:16]
        out = Path(cfg.output)
        return out.parent / f".{out.name}.raft-state" / key

    def _sft_args(self, folder: Path):
        from trl import SFTConfig as TRLSFTConfig

        cfg = self.config
        return TRLSFTConfig(**training.common_args(cfg, self.caps, str(folder)), max_length=cfg.max_length,
                            completion_only_loss=True)

    def _finished(self) -> list[dict]:
        """Records of the finished cycles in the state folder (in order, stopping at the first gap)."""
        out = []
        for k in range(self.config.cycles):
            rec = self.state_dir / f"cycle-{k}" / "record.json"
            if not rec.is_file():
                break
            out.append(json.loads(rec.read_text()))
        return out

    def run_cycle(self, k: int, policy_ref: str, tokenizer, data, callbacks) -> tuple[dict, object]:
        from datasets import Dataset
        from trl import SFTTrainer

        cfg = self.config
        folder = self.state_dir / f"cycle-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        model = load_causal_lm(policy_ref, dtype=self.torch_dtype())
        prompts_rows = data.train
        if cfg.prompts_per_cycle:
            start = (k * cfg.prompts_per_cycle) % len(data.train)
            prompts_rows = (data.train[start:] + data.train[:start])[:cfg.prompts_per_cycle]
        cache = folder / "rollouts.json"
        t_roll = time.monotonic()
        if cache.is_file():  # sampled before an interruption: the same policy, the same rollouts
            samples = json.loads(cache.read_text())["samples"]
        else:
            from halo_forge.evaluation import prompt_text

            from transformers import set_seed

            set_seed(cfg.seed + k)  # sampling draws on torch's global RNG: seed it, or it depends on the process's past
            engine = get_engine(self.engine_name, model, tokenizer)
            engine.update_weights(model)  # sample from the current policy
            samples = engine.generate([prompt_text(r, tokenizer) for r in prompts_rows], cfg.samples_per_prompt,
                                      Sampling(temperature=cfg.temperature, max_new_tokens=cfg.max_completion_length,
                                               batch_size=cfg.eval_batch_size))
            write_json_atomic(cache, {"policy": policy_ref, "samples": samples})
        rollout_s = time.monotonic() - t_roll
        t_ver = time.monotonic()
        flat = [rl.score(self.verifiers, outs, [row] * len(outs)) for row, outs in zip(prompts_rows, samples)]
        verify_s = time.monotonic() - t_ver
        kept = select(prompts_rows, samples, flat, keep_percent=cfg.keep_percent, threshold=cfg.reward_threshold)
        rewards = [s["reward"] for sc in flat for s in sc]
        rejections = Counter(s["reason"] for sc in flat for s in sc if not s["passed"])
        t_train = time.monotonic()
        loss, steps, trainer = None, 0, None
        if len(kept) >= cfg.min_samples:
            train_rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in kept]
            with training.no_tqdm():
                trainer = SFTTrainer(model=model, args=self._sft_args(folder / "trainer"),
                                     train_dataset=Dataset.from_list(train_rows), processing_class=tokenizer,
                                     peft_config=peft_config(cfg), callbacks=list(callbacks))
            training.quiet_trainer(trainer)
            trainer.train()
            steps = int(trainer.state.global_step)
            loss = training.final_loss(trainer.state.log_history)
            model = trainer.model
            if hasattr(model, "merge_and_unload"):
                model = model.merge_and_unload()
        train_s = time.monotonic() - t_train
        model_dir = folder / "model"
        shutil.rmtree(model_dir, ignore_errors=True)
        model.save_pretrained(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))
        record = {"cycle": k, "train_loss": loss, "steps": steps, "generated": sum(len(s) for s in samples),
                  "verified": sum(s["passed"] for sc in flat for s in sc), "kept": len(kept),
                  "mean_reward": round(sum(rewards) / len(rewards), 4) if rewards else None,
                  "trained": trainer is not None, "rewards": rewards, "rejections": dict(rejections),
                  "rollout_seconds": round(rollout_s, 3), "verify_seconds": round(verify_s, 3),
                  "train_seconds": round(train_s, 3), "cycle_duration_seconds": round(time.monotonic() - t0, 3),
                  "model": str(model_dir)}
        write_json_atomic(folder / "record.json", record)  # the cycle is finished once this exists
        return record, model

    def train(self) -> TrainingSummary:
        from halo_forge.data.prompts import load_prompt_data
        from halo_forge.lineage.digests import model_digest
        from halo_forge.models.loading import folder_digest
        from halo_forge.progress import make_callback

        cfg = self.config
        self.started, self.t0 = training.now_iso(), time.monotonic()
        training.quiet_libraries()
        data = self.data if self.data is not None else load_prompt_data(cfg)
        model_ref = resolve_model(cfg.model)
        tokenizer = load_tokenizer(model_ref)
        notes = list(data.notes)
        note = ensure_chat_template(tokenizer)
        if note:
            notes.append(note)
        measure = lambda m: rl.pass_rate(m, tokenizer, self.verifiers, data.heldout,  # noqa: E731
                                         max_new_tokens=cfg.eval_max_new_tokens, batch_size=cfg.eval_batch_size)
        finished = self._finished() if cfg.resume else []
        if not cfg.resume and self.state_dir.exists():
            shutil.rmtree(self.state_dir)  # a fresh run never reuses another run's cycles
        self.state_dir.mkdir(parents=True, exist_ok=True)
        start_file = self.state_dir / "start.json"
        staging = self.output.open()
        try:
            start_model = load_causal_lm(model_ref, dtype=self.torch_dtype())
            snapshot = training.trainable_snapshot(start_model)
            if finished and start_file.is_file():
                before = json.loads(start_file.read_text())["before"]
            else:
                before = measure(start_model)
                write_json_atomic(start_file, {"before": before})
            del start_model
            recovery = {"resumed": bool(finished), "resumed_from": f"cycle {len(finished) - 1}" if finished else None,
                        "notes": [f"resumed after {len(finished)} finished cycle(s); cycle {len(finished)} re-ran "
                                  f"({'rollouts from cache' if (self.state_dir / f'cycle-{len(finished)}' / 'rollouts.json').is_file() else 'sampled again'})"]
                        if finished else [], "finished_before_resume": len(finished)} if cfg.resume else {}
            policy = finished[-1]["model"] if finished else model_ref
            records = list(finished)
            progress = make_callback("raft", quiet=self.quiet)
            model = None
            for k in range(len(finished), cfg.cycles):
                record, model = self.run_cycle(k, policy, tokenizer, data, [progress, *self.callbacks])
                records.append(record)
                policy = record["model"]
            if model is None:
                model = load_causal_lm(policy, dtype=self.torch_dtype())
            after = measure(model)
            model.save_pretrained(str(staging))
            tokenizer.save_pretrained(str(staging))
            steps = sum(r["steps"] for r in records)
            moved, delta_norm = training.weights_changed(model, snapshot)
            evaluations = [Evaluation.of("heldout_accuracy", before[0], after[0], n=before[1])] if before else []
            losses = [r["train_loss"] for r in records if r["train_loss"] is not None]
            summary = TrainingSummary(
                modality=self.modality, model_name=cfg.model, run_id=self.run_id, seed=cfg.seed,
                backend=self.caps.backend, started_at=self.started, ended_at=training.now_iso(),
                duration_seconds=round(time.monotonic() - self.t0, 3),
                cycles=[Cycle(**{k: v for k, v in r.items() if k not in ("rewards", "model")}) for r in records],
                total_train_steps_executed=steps, final_train_loss=losses[-1] if losses else None,
                weights_updated=moved, effectiveness=judge(evaluations, steps=steps, weights_updated=moved),
                yield_diagnostics=yield_diagnostics(records, min_samples=cfg.min_samples),
                recovery=recovery or {},
                extra={"evaluation_metric": "held-out verifier pass rate (greedy)", "verifiers": list(cfg.verifiers),
                       "rollout_engine": self.engine_name, "cycles": cfg.cycles,
                       "samples_per_prompt": cfg.samples_per_prompt, "keep_percent": cfg.keep_percent,
                       "reward_threshold": cfg.reward_threshold, "min_samples": cfg.min_samples,
                       "peft": training.peft_kind(cfg), "cpu_threads": self.cpu_threads, "notes": notes,
                       "state_dir": str(self.state_dir), "weight_delta_l2": delta_norm,
                       "timing_seconds": {p: round(sum(r[f"{p}_seconds"] for r in records), 3)
                                          for p in ("rollout", "verify", "train")}},
                inputs=Inputs(**{"dataset": data.source, "dataset_digest": data.digest, "train_rows": len(data.train),
                                 "eval_rows": len(data.heldout), "model_digest": model_digest(model_ref),
                                 **self.inputs_extra}),
                outputs=Outputs(model_path=str(self.output.path), model_digest=folder_digest(staging), adapter=False),
                versions=training.versions(), config=cfg.model_dump(mode="json"),
            )
            summary.write(staging)
            self.output.publish()
            return summary
        except BaseException:
            self.output.abort()
            raise
