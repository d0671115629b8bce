"""DPO on PyTorch: TRL's DPOTrainer (+ the losses TRL dropped) and PEFT, wrapped with held-out
preference and task accuracy and the summary.

    halo-forge dpo train --dataset arithmetic_pref --model outputs/quickstart/sft --no-lora --loss-type rpo --max-steps 100

`train()` reads top to bottom: load pairs, tokenizer and model, build TRL's trainer, measure the
held-out figures, train (resuming with --resume), measure again, save, summarise.

The reference model: --ref-model when given; with LoRA, the base with its adapters disabled (no
second model in memory); with --reference-free, none at all: the step-0 policy's log-probabilities
are precomputed once (TRL's precompute_ref_log_probs); otherwise a frozen copy of the start model.
"""

from __future__ import annotations

from halo_forge import training
from halo_forge.config import Problem
from halo_forge.data.preference import load_preference_data
from halo_forge.dpo.losses import trainer_class, trl_loss_spec
from halo_forge.evaluation import TASK_TOLERANCE, preference_figures
from halo_forge.models.loading import load_causal_lm, resolve_model
from halo_forge.summary import TrainingSummary
from halo_forge.training import compare

# TRL's logged DPO metrics kept as histories in summary.extra
DPO_METRICS = {"rewards/accuracies": "reward_accuracy_history", "rewards/chosen": "chosen_rewards_history",
               "rewards/rejected": "rejected_rewards_history", "rewards/margins": "margins_history"}


class TorchDPOTrainer(training.TorchTrainer):
    """DPO with TRL on cpu, cuda, rocm or mps."""

    modality = "dpo"
    used_elsewhere = {**training.TorchTrainer.used_elsewhere,
                      "ref_model": "reference_model() in build(): the frozen reference the policy is pulled to"}

    @classmethod
    def check(cls, config, caps) -> list[Problem]:
        return super().check(config, caps) + ref_model_problems(config)

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        types, weights, extra_loss = trl_loss_spec(config.loss_type, config.label_smoothing, config.rpo_alpha)
        plan = cls.library_plan(config, caps, max_length=config.max_length, beta=config.beta, loss_type=types,
                                loss_weights=weights, label_smoothing=config.label_smoothing,
                                precompute_ref_log_probs=config.reference_free,
                                per_device_eval_batch_size=config.eval_batch_size)
        return {**plan, "extra_loss": extra_loss,
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def build(self, data, tokenizer, model_ref: str, output_dir, callbacks=()):
        """TRL's DPO trainer for this run, ready to train (the reference chosen as the module says)."""
        from datasets import Dataset
        from trl import DPOConfig as TRLDPOConfig

        plan = self.plan
        with training.no_tqdm():  # TRL's reference precompute has its own bar
            trainer = trainer_class()(
                model=load_causal_lm(model_ref, **plan["model"]), ref_model=self.reference_model(model_ref),
                args=TRLDPOConfig(**plan["trl"], output_dir=str(output_dir)),
                train_dataset=Dataset.from_list(training.strip_answers(data.train)), processing_class=tokenizer,
                peft_config=plan["peft"], callbacks=list(callbacks))
        trainer.extra_loss = plan["extra_loss"]
        return training.quiet_trainer(trainer)

    def reference_model(self, model_ref: str):
        """--ref-model; else a frozen copy of the start model for a full fine-tune with a reference (TRL would
        reload `name_or_path`, wrong for a merged adapter); None when TRL needs none (LoRA, reference-free)."""
        cfg = self.config
        if cfg.ref_model is None and (not cfg.no_lora or cfg.reference_free):
            return None
        ref = load_causal_lm(resolve_model(cfg.ref_model) if cfg.ref_model else model_ref, **self.plan["model"])
        return ref.requires_grad_(False).eval()

    def train(self) -> TrainingSummary:
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_preference_data)
            trainer = self.build(data, tokenizer, model_ref, run.checkpoints(data).dir, run.callbacks)
            measure = lambda: preference_figures(trainer.model, tokenizer, data.heldout, **self.plan["eval"])  # noqa: E731
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            return training.build_summary(run, data=data, model_ref=model_ref, fit=fit, extra=self.extra(trainer, fit),
                                          evaluations=compare(before, after, tolerance=TASK_TOLERANCE))

    def extra(self, trainer, fit) -> dict:
        """DPO's knobs, the TRL loss it ran and TRL's reward histories, for the summary."""
        cfg = self.config
        return {"beta": cfg.beta, "loss_type": cfg.loss_type, "label_smoothing": cfg.label_smoothing,
                "reference_free": cfg.reference_free, "rpo_alpha": cfg.rpo_alpha if cfg.loss_type == "rpo" else None,
                "trl_loss_type": list(trainer.loss_types), "trl_loss_weights": list(trainer.loss_weights),
                "reference": ("precomputed step-0 policy" if cfg.reference_free else cfg.ref_model
                              or ("base with adapters disabled" if not cfg.no_lora else "frozen copy of the start model")),
                **training.metric_histories(fit.log_history, DPO_METRICS)}


def ref_model_problems(config) -> list[Problem]:
    """A --ref-model that names no loadable model (pure: resolved, not loaded)."""
    from halo_forge.errors import ModelError

    if not config.ref_model:
        return []
    try:
        resolve_model(config.ref_model)
    except ModelError as exc:
        return [Problem("ref_model", config.ref_model, exc.message)]
    return []
