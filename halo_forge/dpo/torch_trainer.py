"""DPO on PyTorch: TRL's DPOTrainer (+ the losses TRL dropped) and PEFT, wrapped with held-out
preference and task accuracy and the summary.

    halo-forge dpo train --dataset arithmetic_pref --model outputs/quickstart/sft --no-lora --loss-type rpo --max-steps 100

Reads top to bottom: check the config against the backend, load pairs and model, measure the
held-out figures, train, measure again, judge, publish the output folder atomically.

The reference model: --ref-model when given; with LoRA, the base with its adapters disabled (no
second model in memory); with --reference-free, none at all: the step-0 policy's log-probabilities
are precomputed once (TRL's precompute_ref_log_probs); otherwise a frozen copy of the start model.
"""

from __future__ import annotations


from halo_forge import training
from halo_forge.dpo.config import DPOConfig
from halo_forge.dpo.losses import trainer_class, trl_loss_spec
from halo_forge.evaluation import preference_evaluations, preference_judgement
from halo_forge.models.loading import load_causal_lm, peft_config, resolve_model
from halo_forge.summary import TrainingSummary

# TRL's logged DPO metrics kept as histories in summary.extra
DPO_METRICS = {"rewards/accuracies": "reward_accuracy_history", "rewards/chosen": "chosen_rewards_history",
               "rewards/rejected": "rejected_rewards_history", "rewards/margins": "margins_history"}


class TorchDPOTrainer(training.TorchRun):
    """DPO with TRL on cpu, cuda, rocm or mps."""

    modality = "dpo"

    def __init__(self, config: DPOConfig, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.ref_ref = resolve_model(config.ref_model) if config.ref_model else None  # fail early on a bad path
        self.trl_trainer = None  # the TRL trainer of the last build() (tests inspect it)

    def _args(self, staging):
        from trl import DPOConfig as TRLDPOConfig

        cfg = self.config
        types, weights, _ = trl_loss_spec(cfg.loss_type, cfg.label_smoothing, cfg.rpo_alpha)
        return TRLDPOConfig(
            **training.common_args(cfg, self.caps, str(staging)),
            max_length=cfg.max_length,
            beta=cfg.beta,
            loss_type=types,
            loss_weights=weights,
            label_smoothing=cfg.label_smoothing,
            precompute_ref_log_probs=cfg.reference_free,
            per_device_eval_batch_size=cfg.eval_batch_size,
        )

    def build(self, data, tokenizer, model_ref: str, staging, callbacks=()):
        """The TRL trainer, ready to train (the reference chosen as the module docstring says)."""
        from datasets import Dataset

        cfg = self.config
        model = load_causal_lm(model_ref, dtype=self.torch_dtype())
        ref_model = None
        if self.ref_ref is not None:
            ref_model = load_causal_lm(self.ref_ref, dtype=self.torch_dtype())
        elif cfg.no_lora and not cfg.reference_free:
            # a frozen copy of the start model (TRL would reload `name_or_path`, wrong for a merged adapter)
            ref_model = load_causal_lm(model_ref, dtype=self.torch_dtype())
        if ref_model is not None:
            ref_model.requires_grad_(False).eval()
        cls = trainer_class()
        with training.no_tqdm():  # TRL's reference precompute has its own bar
            trainer = cls(model=model, ref_model=ref_model, args=self._args(staging),
                          train_dataset=Dataset.from_list(training.strip_answers(data.train)),
                          processing_class=tokenizer, peft_config=peft_config(cfg), callbacks=list(callbacks))
        trainer.extra_loss = trl_loss_spec(cfg.loss_type, cfg.label_smoothing, cfg.rpo_alpha)[2]
        training.quiet_trainer(trainer)
        self.trl_trainer = trainer
        return trainer

    def train(self) -> TrainingSummary:
        from halo_forge.data.preference import load_preference_data
        from halo_forge.progress import make_callback

        cfg = self.config
        data, model_ref, tokenizer, notes = self.prepare(load_preference_data)
        staging = self.output.open()
        try:
            progress = make_callback("dpo", quiet=self.quiet)
            trainer = self.build(data, tokenizer, model_ref, staging, callbacks=[progress, *self.callbacks])
            measure = lambda: preference_evaluations(  # noqa: E731
                trainer.model, tokenizer, data.heldout, max_new_tokens=cfg.eval_max_new_tokens,
                batch_size=cfg.eval_batch_size)
            run = self.train_measured(trainer, tokenizer, staging, measure, data=data, progress=progress, notes=notes)
            extra = run.extra
            extra.update({
                "beta": cfg.beta, "loss_type": cfg.loss_type, "label_smoothing": cfg.label_smoothing,
                "reference_free": cfg.reference_free, "rpo_alpha": cfg.rpo_alpha if cfg.loss_type == "rpo" else None,
                "trl_loss_type": list(trainer.loss_types), "trl_loss_weights": list(trainer.loss_weights),
                "reference": ("precomputed step-0 policy" if cfg.reference_free else cfg.ref_model
                              or ("base with adapters disabled" if not cfg.no_lora else "frozen copy of the start model")),
                **training.metric_histories(trainer.state.log_history, DPO_METRICS),
            })
            return self.finish(trainer=trainer, staging=staging, data=data, model_ref=model_ref,
                               evaluations=preference_judgement(run.before, run.after),
                               train_seconds=run.train_seconds, moved=run.moved, extra=extra)
        except BaseException:
            self.output.abort()
            raise
