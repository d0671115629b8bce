"""ORPO on PyTorch: TRL's experimental ORPOTrainer + PEFT, wrapped with held-out preference and task
accuracy and the summary. No reference model: the odds ratio of chosen over rejected is the signal.

    halo-forge orpo train --dataset ultrafeedback --model Qwen/Qwen2.5-0.5B-Instruct --beta 0.1

`train()` reads top to bottom: load pairs (the tokenizer's chat template renders chat rows), tokenizer and
model, build TRL's trainer, measure, train (resuming with --resume), measure, save, summarise.
"""

from __future__ import annotations

import os

from halo_forge import training
from halo_forge.data.preference import load_preference_data
from halo_forge.evaluation import TASK_TOLERANCE, preference_figures
from halo_forge.models.loading import load_causal_lm
from halo_forge.summary import TrainingSummary
from halo_forge.training import compare

ORPO_METRICS = {"rewards/accuracies": "reward_accuracy_history", "rewards/chosen": "chosen_rewards_history",
                "rewards/rejected": "rejected_rewards_history", "rewards/margins": "margins_history",
                "log_odds_ratio": "log_odds_ratio_history", "nll_loss": "nll_loss_history"}


class TorchORPOTrainer(training.TorchTrainer):
    """ORPO with TRL on cpu, cuda, rocm or mps."""

    modality = "orpo"

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        plan = cls.library_plan(config, caps, max_length=config.max_length, beta=config.beta,
                                max_completion_length=config.max_completion_length, remove_unused_columns=False,
                                per_device_eval_batch_size=config.eval_batch_size)
        return {**plan, "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def train(self) -> TrainingSummary:
        from datasets import Dataset

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from trl.experimental.orpo import ORPOConfig as TRLORPOConfig, ORPOTrainer

        plan = self.plan
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_preference_data, chat_template=True)
            with training.no_tqdm():
                trainer = training.quiet_trainer(ORPOTrainer(
                    model=load_causal_lm(model_ref, **plan["model"]),
                    args=TRLORPOConfig(**plan["trl"], output_dir=str(run.checkpoints(data).dir)),
                    train_dataset=Dataset.from_list(training.strip_answers(data.train)), processing_class=tokenizer,
                    peft_config=plan["peft"], callbacks=run.callbacks))
            measure = lambda: preference_figures(trainer.model, tokenizer, data.heldout, **plan["eval"])  # noqa: E731
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            histories = training.metric_histories(fit.log_history, ORPO_METRICS)
            return training.build_summary(run, data=data, model_ref=model_ref, fit=fit,
                                          evaluations=compare(before, after, tolerance=TASK_TOLERANCE),
                                          extra={"beta": self.config.beta, "reference_free": True, **histories})
