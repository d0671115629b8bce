"""The audio trainer on PyTorch: ASR on a Whisper-style seq2seq model (SFT with transformers' Trainer, RAFT
cycles, or GRPO with `audio.grpo.TranscriptGRPO`), or audio classification (cross-entropy), judged on the
held-out WER or accuracy.

    halo-forge audio train --task asr --dataset spoken_digits --max-steps 300 --batch-size 32 \\
        --learning-rate 2e-3 --lr-scheduler constant
    halo-forge audio train --task classification --model halo-forge/tiny-audio-cls --dataset spoken_digits …

`train()` reads top to bottom: load the rows, the processor and every clip (resampled to the model's rate),
then by method — sft and grpo: build the Trainer, measure the held-out figures, train (resuming with
--resume), measure again, save; raft: the cycles of `raft.loop` (each samples transcripts from the current
policy, keeps what the verifiers pass and fine-tunes on them) — then summarise.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

from halo_forge import rl, training
from halo_forge.data import audio as clips
from halo_forge.grpo.torch_trainer import no_signal
from halo_forge.models import audio as speech
from halo_forge.raft import loop as raft_loop
from halo_forge.raft.cycles import CycleState, yield_diagnostics
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figure, Figures, compare

# the GRPO loop's logged metrics kept as histories in summary.extra
GRPO_METRICS = {"reward": "reward_history", "reward_std": "reward_std_history",
                "frac_reward_zero_std": "frac_reward_zero_std_history"}


class TorchAudioTrainer(rl.RolloutTrainer):
    """ASR (SFT, RAFT, GRPO) and audio classification with transformers on cpu, cuda, rocm or mps."""

    modality = "audio"
    multi_process = False  # RAFT cycles, the transcript GRPO loop and held-out decoding run in one process
    used_elsewhere = {**rl.RolloutTrainer.used_elsewhere,
                      "rollout_engine": "AudioConfig (auto or torch: rollouts are sampled with transformers' generate)",
                      "sampling_rate": "the data loader (load_audio_data reads every clip's rate against it)"}

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        from halo_forge.training.args import common_args, model_kwargs

        trl = {**common_args(config, caps), "remove_unused_columns": False,
               "per_device_eval_batch_size": config.eval_batch_size}
        plan = {"trl": trl, "model": model_kwargs(config, caps), "task": config.task, "method": config.method,
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}
        if config.task == "asr":
            plan["verifiers"] = rl.verifier_plan(config)
        if config.method == "grpo":  # a step holds whole groups: batch_size completions are batch_size/n clips
            trl["per_device_train_batch_size"] = config.batch_size // config.num_generations
            plan["group"] = {"num_generations": config.num_generations, "temperature": config.temperature,
                             "max_new_tokens": config.max_completion_length, "scale_rewards": not config.no_scale_rewards}
        if config.method == "raft":  # a cycle's fine-tune is not checkpointed: RAFT resumes per cycle
            trl["save_strategy"] = "no"
            plan["sampling"] = {"n": config.samples_per_prompt, "temperature": config.temperature,
                                "max_new_tokens": config.max_completion_length}
            plan["selection"] = {"cycles": config.cycles, "samples_per_prompt": config.samples_per_prompt,
                                 "prompts_per_cycle": config.prompts_per_cycle, "keep_percent": config.keep_percent,
                                 "threshold": config.reward_threshold, "min_samples": config.min_samples}
        return plan

    def train(self) -> TrainingSummary:
        cfg = self.config
        with training.staged_run(self) as run:
            data, model_ref, processor = run.load(clips.load_audio_data,
                                                  processor=partial(speech.load_processor, task=cfg.task))
            train, heldout = self.with_waves(data.train, processor, data, "train"), \
                self.with_waves(data.heldout, processor, data, "heldout")
            self.labels = class_names(data.train + data.heldout) if cfg.task == "classification" else None
            if cfg.method == "raft":
                state = CycleState.open(cfg, data.digest)
                summary = self.raft(run, data, model_ref, processor, train, heldout, state)
            else:
                summary = self.hf_run(run, data, model_ref, processor, train, heldout)
        if cfg.method == "raft":
            state.finished_run()
        return summary

    def hf_run(self, run, data, model_ref: str, processor, train: list[dict], heldout: list[dict]) -> TrainingSummary:
        """SFT (transcripts or labels) or GRPO: the Trainer, the held-out figures before and after, the model saved."""
        state = run.checkpoints(data)
        model = self.load_model(model_ref)
        build = self.grpo_trainer if self.config.method == "grpo" else self.sft_trainer
        trainer = build(model, processor, train, state.dir, run.callbacks)
        measure = lambda: self.measure(trainer.model, processor, heldout)  # noqa: E731
        before, fit, after = measure(), run.fit(trainer, keep_initial_adapter=False), measure()  # no adapters
        training.save_model(trainer, processor, run)
        histories = training.metric_histories(fit.log_history, GRPO_METRICS) if self.config.method == "grpo" else {}
        return training.build_summary(
            run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before[0], after[0]),
            explanations=no_signal(histories.get("frac_reward_zero_std_history", [])),
            extra={**self.extra(train, before, after), **histories})

    def raft(self, run, data, model_ref: str, processor, train, heldout, state: CycleState) -> TrainingSummary:
        """RAFT on transcripts: the cycles, the final policy saved, the cycles' yield."""
        cycles = raft_loop.run_cycles(self.config, state, self.raft_ops(processor, heldout), train, model_ref,
                                      self.verifiers, run.callbacks)
        _save(cycles.model, processor, run.staging)
        return training.build_summary(
            run, data=data, model_ref=model_ref, fit=cycles.fit, evaluations=compare(cycles.before[0], cycles.after[0]),
            cycles=cycles.summary_cycles(), recovery=state.recovery(),
            yield_diagnostics=yield_diagnostics(cycles.records, min_samples=self.config.min_samples),
            extra={**self.extra(train, cycles.before, cycles.after), **self.plan["selection"],
                   "timing_seconds": {p: round(sum(r[f"{p}_seconds"] for r in cycles.records), 3)
                                      for p in ("rollout", "verify", "train")}})

    # --- the pieces train() calls ------------------------------------------------------------------------
    def with_waves(self, rows: list[dict], processor, data, part: str) -> list[dict]:
        """The rows with their clips (float32 mono at the model's rate) under "wave"; a clip longer than the
        model hears is an error naming its row."""
        extractor = speech.extractor_of(processor)
        self.rate = extractor.sampling_rate
        where = lambda i: f"{data.source} ({part} row {i})"  # noqa: E731
        waves = clips.load_waves(rows, where, sampling_rate=extractor.sampling_rate)
        clips.check_durations(waves, where, max_samples=getattr(extractor, "n_samples", None),
                              rate=extractor.sampling_rate)
        return [{**row, "wave": wave} for row, wave in zip(rows, waves)]

    def load_model(self, ref: str):
        dtype = self.plan["model"]["dtype"]
        if self.config.task == "asr":
            return speech.load_asr_model(ref, dtype=dtype)
        return speech.load_classifier_model(ref, self.labels, dtype=dtype)

    def sft_trainer(self, model, processor, rows: list[dict], output_dir, callbacks):
        """transformers' Trainer on (clip, transcript) pairs — the seq2seq loss — or (clip, label) pairs."""
        from transformers import Trainer, TrainingArguments

        if self.config.task == "asr":
            targets = speech.label_ids(processor.tokenizer, [r.get("sample", r["text"]) for r in rows],
                                       model.config.decoder_start_token_id)
            collate = partial(_seq2seq_batch, processor)
        else:
            targets, collate = [r["label"] for r in rows], partial(_label_batch, processor)
        items = [{"wave": r["wave"], "labels": t} for r, t in zip(rows, targets)]
        trainer = Trainer(model=model, args=TrainingArguments(**self.plan["trl"], output_dir=str(output_dir)),
                          train_dataset=items, data_collator=collate, callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def grpo_trainer(self, model, processor, rows: list[dict], output_dir, callbacks):
        """`TranscriptGRPO`: each step samples a group of transcripts per clip and learns from their rewards."""
        from transformers import TrainingArguments

        from halo_forge.audio.grpo import TranscriptGRPO, collate

        items = [{"wave": r["wave"], "row": {k: v for k, v in r.items() if k != "wave"}} for r in rows]
        trainer = TranscriptGRPO(model=model, args=TrainingArguments(**self.plan["trl"], output_dir=str(output_dir)),
                                 train_dataset=items, data_collator=collate, callbacks=list(callbacks),
                                 processor=processor, verifiers=self.verifiers, group=self.plan["group"])
        return training.quiet_trainer(trainer)

    def measure(self, model, processor, rows: list[dict]) -> raft_loop.Heldout:
        """asr: greedy transcripts → corpus WER (the verdict's figure), CER and the verifiers' pass rate;
        classification: accuracy, and the accuracy per label."""
        if not rows:
            return Figures(), {}
        waves, n = [r["wave"] for r in rows], len(rows)
        if self.config.task == "classification":
            preds = speech.classify(model, processor, waves, batch_size=self.plan["eval"]["batch_size"])
            right = [p == r["label"] for p, r in zip(preds, rows)]
            return Figures.of(heldout_accuracy=Figure(sum(right) / n, n)), {"accuracy_per_label": _per_label(rows, right, self.labels)}
        hyps = [t[0] for t in speech.transcribe(model, processor, waves, **self.plan["eval"])]
        rates = error_rates([r["text"] for r in rows], hyps)
        scores, details = rl.heldout_scores(self.verifiers, hyps, rows)
        return Figures.of(heldout_wer=Figure(rates["wer"], n, False), heldout_cer=Figure(rates["cer"], n, False),
                          **scores), details

    def raft_ops(self, processor, heldout: list[dict]) -> raft_loop.CycleOps:
        """RAFT's cycle on a speech model: sample transcripts per clip, fine-tune on the kept ones."""
        sampling, batch = self.plan["sampling"], self.plan["eval"]["batch_size"]

        def fine_tune(model, kept: list[dict], folder, callbacks):
            trainer = self.sft_trainer(model, processor, kept, folder / "trainer", callbacks)
            return raft_loop.fine_tuned(trainer, folder / "trainer")

        return raft_loop.CycleOps(
            load=self.load_model, fine_tune=fine_tune, save=lambda model, folder: _save(model, processor, folder),
            sample=lambda model, rows: speech.transcribe(model, processor, [r["wave"] for r in rows], do_sample=True,
                                                         batch_size=batch, **sampling),
            measure=lambda model: self.measure(model, processor, heldout))

    def extra(self, rows: list[dict], before, after) -> dict:
        """The summary's audio figures: task, method, the clips, the held-out breakdown."""
        cfg = self.config
        extra = {"task": cfg.task, "method": cfg.method, "train_clips": len(rows),
                 "train_audio_seconds": round(sum(len(r["wave"]) for r in rows) / self.rate, 1),
                 "model_sampling_rate": self.rate, "required_sampling_rate": cfg.sampling_rate,
                 "heldout_details": {"before": before[1], "after": after[1]}}
        if cfg.task == "asr":
            extra.update(evaluation_metric="held-out corpus WER (greedy transcripts)", verifiers=list(cfg.verifiers))
        else:
            extra.update(evaluation_metric="held-out accuracy", labels=self.labels)
        if cfg.method == "grpo":
            extra.update(self.plan["group"])
        return extra


def class_names(rows: list[dict]) -> list[str]:
    """The label names: the transcript every row of a label shares ("seven"), else the label's number."""
    count = max(int(r["label"]) for r in rows) + 1
    texts: dict[int, set] = {}
    for r in rows:
        texts.setdefault(int(r["label"]), set()).add(r.get("text"))
    return [next(iter(texts[i])) if len(texts.get(i, ())) == 1 and None not in texts[i] else str(i)
            for i in range(count)]


def error_rates(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    from halo_forge.verifiers.wer import corpus_error_rates

    return corpus_error_rates(references, hypotheses)


def _per_label(rows: list[dict], right: list[bool], names: list[str] | None) -> dict[str, float]:
    total, hits = Counter(r["label"] for r in rows), Counter(r["label"] for r, ok in zip(rows, right) if ok)
    name = (lambda i: names[i]) if names else str  # noqa: E731
    return {name(i): round(hits[i] / total[i], 4) for i in sorted(total)}


def _seq2seq_batch(processor, items: list[dict]) -> dict:
    return speech.seq2seq_batch(processor, [x["wave"] for x in items], [x["labels"] for x in items])


def _label_batch(extractor, items: list[dict]) -> dict:
    import torch

    return {**speech.features(extractor, [x["wave"] for x in items]),
            "labels": torch.tensor([x["labels"] for x in items])}


def _save(model, processor, folder) -> None:
    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
