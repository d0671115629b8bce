"""The VLM trainer on PyTorch: TRL's SFTTrainer (its vision collator) or GRPOTrainer (image prompts), or RAFT
cycles around the SFTTrainer, on image + text rows, judged by the verifiers' held-out pass rate.

    halo-forge vlm train --dataset shapes --model halo-forge/tiny-llava --method sft --no-lora \\
        --max-steps 100 --batch-size 32 --learning-rate 2e-3 --warmup-steps 5
    halo-forge vlm train --dataset shapes --model outputs/vlm --method raft --no-lora --cycles 2 …

`train()` reads top to bottom: load the rows and the processor, then by method — sft and grpo: build TRL's
trainer on the rows' images, measure the held-out pass rate, train (resuming with --resume), measure again,
save; raft: the cycles of `raft.loop` (each samples answers from the current policy, keeps what the
verifiers pass and fine-tunes on them with the SFTTrainer) — then summarise. LLaVA reads its vision tower's
last hidden state before the tower's `post_layernorm`: no loss reaches that layer, so it never moves.
"""

from __future__ import annotations

from halo_forge import rl, training
from halo_forge.data import vision
from halo_forge.grpo.torch_trainer import GRPO_METRICS, no_signal
from halo_forge.models import vlm
from halo_forge.raft import loop as raft_loop
from halo_forge.raft.cycles import CycleState, yield_diagnostics
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare


class TorchVLMTrainer(rl.RolloutTrainer):
    """Vision-language SFT, GRPO and RAFT with TRL on cpu, cuda, rocm or mps."""

    modality = "vlm"
    multi_process = False  # RAFT cycles and the held-out generation run in one process; no rank-aware path yet
    used_elsewhere = {**rl.RolloutTrainer.used_elsewhere,
                      "rollout_engine": "VLMConfig (auto or torch: rollouts are sampled with transformers' generate)"}

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        trl = _grpo_args(config) if config.method == "grpo" else {"max_length": None}  # never cut image tokens
        plan = cls.library_plan(config, caps, per_device_eval_batch_size=config.eval_batch_size, **trl)
        if config.method == "raft":  # a cycle's fine-tune is not checkpointed: RAFT resumes per cycle
            plan["trl"].update(save_strategy="no")
            plan.update(sampling={"n": config.samples_per_prompt, "temperature": config.temperature,
                                  "max_new_tokens": config.max_completion_length},
                        selection={"cycles": config.cycles, "samples_per_prompt": config.samples_per_prompt,
                                   "prompts_per_cycle": config.prompts_per_cycle, "keep_percent": config.keep_percent,
                                   "threshold": config.reward_threshold, "min_samples": config.min_samples})
        freeze = {"vision_tower": config.freeze_vision_tower, "projector": config.freeze_projector}
        if plan["peft"] is not None:  # with LoRA a frozen part gets no adapters
            plan["peft"].exclude_modules = vlm.lora_exclusions(**freeze)
        return {**plan, "method": config.method, "freeze": freeze, "verifiers": rl.verifier_plan(config),
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size,
                         "max_side": config.max_image_side}}

    def train(self) -> TrainingSummary:
        cfg = self.config
        with training.staged_run(self) as run:
            data, model_ref, processor = run.load(vision.load_vlm_data, processor=vlm.load_processor)
            if cfg.method == "raft":
                state = CycleState.open(cfg, data.digest)
                summary = self.raft(run, data, model_ref, processor, state)
            else:
                summary = self.trl_run(run, data, model_ref, processor)
        if cfg.method == "raft":
            state.finished_run()
        return summary

    def trl_run(self, run, data, model_ref: str, processor) -> TrainingSummary:
        """SFT or GRPO: TRL's trainer, the held-out figures before and after, the model saved."""
        cfg = self.config
        state = run.checkpoints(data)
        rows_of, chat = _chat_rows(data, processor, run.notes)  # chats: their assistant turns, or the last one
        rows = vision.load_images(rows_of.train, _where(data, "train"), max_side=cfg.max_image_side)
        model = self.load_model(model_ref)
        build = self.sft_trainer if cfg.method == "sft" else self.grpo_trainer
        trainer = vlm.resume_renamed_weights(build(model, processor, rows, state.dir, run.callbacks, data=rows_of,
                                                  chat=chat))
        measure = lambda: self.measure(trainer.model, processor, data.heldout, trainer=trainer)  # noqa: E731
        before, fit, after = measure(), run.fit(trainer), measure()
        training.save_model(trainer, processor, run)
        histories = training.metric_histories(fit.log_history, GRPO_METRICS) if cfg.method == "grpo" else {}
        return training.build_summary(
            run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before[0], after[0]),
            explanations=no_signal(histories.get("frac_reward_zero_std_history", [])),
            extra={**self.extra(model, rows, before, after), **histories})

    def raft(self, run, data, model_ref: str, processor, state: CycleState) -> TrainingSummary:
        """RAFT: the cycles, the final policy saved as a full model, the cycles' yield."""
        cycles = raft_loop.run_cycles(self.config, state, self.raft_ops(processor, data.heldout), data.train,
                                      model_ref, self.verifiers, run.callbacks)
        _save(cycles.model, processor, run.staging)
        return training.build_summary(
            run, data=data, model_ref=model_ref, fit=cycles.fit, evaluations=compare(cycles.before[0], cycles.after[0]),
            adapter=False, cycles=cycles.summary_cycles(), recovery=state.recovery(),
            yield_diagnostics=yield_diagnostics(cycles.records, min_samples=self.config.min_samples),
            extra={**self.extra(cycles.model, data.train, cycles.before, cycles.after), **self.plan["selection"],
                   "timing_seconds": {p: round(sum(r[f"{p}_seconds"] for r in cycles.records), 3)
                                      for p in ("rollout", "verify", "train")}})

    # --- the pieces train() calls ------------------------------------------------------------------------
    def load_model(self, ref: str):
        """The VLM at the planned dtype; in a full fine-tune, its frozen parts frozen."""
        model = vlm.load_model(ref, dtype=self.plan["model"]["dtype"])
        if self.config.no_lora:
            vlm.freeze(model, **self.plan["freeze"])
        return model

    def sft_trainer(self, model, processor, rows: list[dict], output_dir, callbacks, *, data=None, chat=False):
        """TRL's SFTTrainer on image rows: the processor switches it to its vision collator. Held-out rows the
        verifiers cannot score are its eval set (the held-out loss is then the figure)."""
        from trl import SFTConfig, SFTTrainer

        heldout = data.heldout if data is not None and not rl.rows_have_fields(self.verifiers, data.heldout) else []
        with training.no_tqdm():
            trainer = SFTTrainer(
                model=model, processing_class=processor, train_dataset=_dataset(rows),
                eval_dataset=_dataset(vision.load_images(heldout, _where(data, "heldout"))) if heldout else None,
                args=SFTConfig(**self.plan["trl"], output_dir=str(output_dir), assistant_only_loss=chat),
                peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def grpo_trainer(self, model, processor, rows: list[dict], output_dir, callbacks, **_):
        """TRL's GRPOTrainer on image prompts; the verifiers are its reward functions, reading each row's truth."""
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        prompts = [{"prompt": vlm.prompt_messages(r), **{k: v for k, v in r.items() if k not in NOT_TRUTH}}
                   for r in rows]
        truth = sorted({k for r in prompts for k in r if k not in ("prompt", "images")})
        with training.no_tqdm():
            trainer = GRPOTrainer(model=model, processing_class=processor, train_dataset=Dataset.from_list(prompts),
                                  reward_funcs=rl.reward_funcs(self.verifiers, truth),
                                  args=GRPOConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                  peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def measure(self, model, processor, rows: list[dict], trainer=None) -> raft_loop.Heldout:
        """Greedy answers to the held-out image prompts scored by the verifiers; rows they cannot score (chats
        without an answer) are measured by the trainer's held-out loss instead."""
        if not rl.rows_have_fields(self.verifiers, rows):
            loss = None if trainer is None or not rows else float(trainer.evaluate()["eval_loss"])
            return Figures.of(heldout_loss=None if loss is None else training.Figure(loss, len(rows), False)), {}
        answers = [a[0] for a in vlm.generate(model, processor, rows, **self.plan["eval"])]
        return rl.heldout_scores(self.verifiers, answers, rows)

    def raft_ops(self, processor, heldout: list[dict]) -> raft_loop.CycleOps:
        """RAFT's cycle on a VLM: sample answers to the image prompts, fine-tune on the kept ones with TRL."""
        cfg, sampling = self.config, self.plan["sampling"]

        def fine_tune(model, kept: list[dict], folder, callbacks):
            rows = vision.load_images([_answered(r) for r in kept], lambda i: f"kept sample {i}",
                                      max_side=cfg.max_image_side)
            return raft_loop.fine_tuned(self.sft_trainer(model, processor, rows, folder / "trainer", callbacks),
                                        folder / "trainer")

        return raft_loop.CycleOps(
            load=self.load_model, fine_tune=fine_tune, save=lambda model, folder: _save(model, processor, folder),
            sample=lambda model, rows: vlm.generate(model, processor, rows, do_sample=True, batch_size=cfg.eval_batch_size,
                                                    max_side=cfg.max_image_side, **sampling),
            measure=lambda model: self.measure(model, processor, heldout))

    def extra(self, model, rows: list[dict], before, after) -> dict:
        """The summary's VLM figures: method, verifiers, what was frozen, the images, the held-out breakdown."""
        cfg = self.config
        extra = {"method": cfg.method, "evaluation_metric": "held-out verifier pass rate (greedy answers)",
                 "verifiers": list(cfg.verifiers), "verifier_weights": [w for _, _, w in self.verifiers],
                 "freeze": self.plan["freeze"], "max_image_side": cfg.max_image_side,
                 "train_images": sum(len(r.get("images", [])) for r in rows),
                 "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
                 "heldout_details": {"before": before[1], "after": after[1]}}
        if cfg.method == "grpo":
            extra.update(num_generations=cfg.num_generations, beta=cfg.beta, epsilon=cfg.epsilon,
                         loss_type=cfg.loss_type, temperature=cfg.temperature,
                         max_completion_length=cfg.max_completion_length)
        return extra


NOT_TRUTH = ("prompt", "completion", "messages")  # columns of a row that are not ground truth for the verifiers


def _grpo_args(config) -> dict:
    return dict(num_generations=config.num_generations, max_completion_length=config.max_completion_length,
                temperature=config.temperature, beta=config.beta, epsilon=config.epsilon, loss_type=config.loss_type,
                scale_rewards="none" if config.no_scale_rewards else "group", use_vllm=False,
                reward_weights=config.verifier_weights or [1.0] * len(config.verifiers))


def _chat_rows(data, processor, notes: list[str]):
    """Chats train on their assistant turns when the template marks them, else on their final one."""
    from halo_forge.sft.torch_trainer import chat_rows_for

    return chat_rows_for(data, processor, True, notes)


def _where(data, part: str):
    return lambda i: f"{data.source} ({part} row {i})"


def _dataset(rows: list[dict]):
    from datasets import Dataset

    keep = ("prompt", "completion", "messages", "images")
    return Dataset.from_list([{k: r[k] for k in keep if k in r} for r in rows])


def _answered(row: dict) -> dict:
    """A kept RAFT sample as an SFT row: the image prompt, the sampled answer as the completion."""
    return {"prompt": vlm.prompt_messages(row), "images": row["images"],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": row["sample"]}]}]}


def _save(model, processor, folder) -> None:
    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
