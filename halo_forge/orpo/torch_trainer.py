"""ORPO on PyTorch: TRL's experimental ORPOTrainer + PEFT, wrapped with held-out preference and task
accuracy and the summary. No reference model: the odds ratio of chosen over rejected is the signal.

    halo-forge orpo train --dataset ultrafeedback --model Qwen/Qwen2.5-0.5B-Instruct --beta 0.1

Reads top to bottom like the DPO trainer: load pairs and model (the tokenizer's chat template is
applied to chat rows), measure, train, measure, judge, publish.
"""

from __future__ import annotations

import os

from halo_forge import training
from halo_forge.evaluation import preference_evaluations, preference_judgement
from halo_forge.models.loading import load_causal_lm, peft_config
from halo_forge.orpo.config import ORPOConfig
from halo_forge.summary import TrainingSummary

ORPO_METRICS = {"rewards/accuracies": "reward_accuracy_history", "rewards/chosen": "chosen_rewards_history",
                "rewards/rejected": "rejected_rewards_history", "rewards/margins": "margins_history",
                "log_odds_ratio": "log_odds_ratio_history", "nll_loss": "nll_loss_history"}


class TorchORPOTrainer(training.TorchRun):
    """ORPO with TRL on cpu, cuda, rocm or mps."""

    modality = "orpo"

    def __init__(self, config: ORPOConfig, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.trl_trainer = None

    def _args(self, staging):
        from trl.experimental.orpo import ORPOConfig as TRLORPOConfig

        cfg = self.config
        return TRLORPOConfig(**training.common_args(cfg, self.caps, str(staging)), max_length=cfg.max_length,
                             max_completion_length=cfg.max_completion_length, beta=cfg.beta,
                             per_device_eval_batch_size=cfg.eval_batch_size, remove_unused_columns=False)

    def build(self, data, tokenizer, model_ref: str, staging, callbacks=()):
        from datasets import Dataset

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.orpo import ORPOTrainer

        model = load_causal_lm(model_ref, dtype=self.torch_dtype())
        with training.no_tqdm():
            trainer = ORPOTrainer(model=model, args=self._args(staging),
                                  train_dataset=Dataset.from_list(training.strip_answers(data.train)),
                                  processing_class=tokenizer, peft_config=peft_config(self.config),
                                  callbacks=list(callbacks))
        training.quiet_trainer(trainer)
        self.trl_trainer = trainer
        return trainer

    def train(self) -> TrainingSummary:
        from halo_forge.data.preference import load_preference_data
        from halo_forge.progress import make_callback

        cfg = self.config
        data, model_ref, tokenizer, notes = self.prepare(load_preference_data, chat_template=True)
        staging = self.output.open()
        try:
            progress = make_callback("orpo", quiet=self.quiet)
            trainer = self.build(data, tokenizer, model_ref, staging, callbacks=[progress, *self.callbacks])
            measure = lambda: preference_evaluations(  # noqa: E731
                trainer.model, tokenizer, data.heldout, max_new_tokens=cfg.eval_max_new_tokens,
                batch_size=cfg.eval_batch_size)
            run = self.train_measured(trainer, tokenizer, staging, measure, data=data, progress=progress, notes=notes)
            extra = run.extra
            extra.update({"beta": cfg.beta, "reference_free": True,
                          **training.metric_histories(trainer.state.log_history, ORPO_METRICS)})
            return self.finish(trainer=trainer, staging=staging, data=data, model_ref=model_ref,
                               evaluations=preference_judgement(run.before, run.after),
                               train_seconds=run.train_seconds, moved=run.moved, extra=extra)
        except BaseException:
            self.output.abort()
            raise
