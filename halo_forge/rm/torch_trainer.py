"""Reward model on PyTorch: TRL's RewardTrainer (Bradley-Terry on a sequence-classification head) + PEFT,
wrapped with held-out pairwise accuracy and the summary.

    halo-forge rm train --dataset hh_rlhf --model Qwen/Qwen2.5-0.5B --center-rewards-coefficient 0.01

`train()` reads top to bottom: load pairs, tokenizer and model (a new score head, seeded), build TRL's
trainer, measure held-out pairwise accuracy, train, measure again, save, summarise. The saved folder
scores text with `halo_forge.evaluation.reward_scores`.
"""

from __future__ import annotations

from halo_forge import training
from halo_forge.data.preference import load_preference_data
from halo_forge.evaluation import pairwise_accuracy
from halo_forge.models.loading import load_sequence_classifier
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare

RM_METRICS = {"accuracy": "reward_accuracy_history", "margin": "margins_history",
              "mean_reward": "mean_reward_history"}


class TorchRMTrainer(training.TorchTrainer):
    """Reward-model training with TRL on cpu, cuda, rocm or mps."""

    modality = "rm"

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        plan = cls.library_plan(config, caps, peft_task="SEQ_CLS", max_length=config.max_length,
                                center_rewards_coefficient=config.center_rewards_coefficient,
                                per_device_eval_batch_size=config.eval_batch_size)
        return {**plan, "eval": {"batch_size": config.eval_batch_size}}

    def build(self, data, tokenizer, model_ref: str, output_dir, callbacks=()):
        """TRL's reward trainer for this run, ready to train (the new score head initialised from the seed)."""
        from datasets import Dataset
        from transformers import set_seed
        from trl import RewardConfig, RewardTrainer

        set_seed(self.config.seed)
        model = load_sequence_classifier(model_ref, **self.plan["model"])
        model.config.pad_token_id = tokenizer.pad_token_id
        with training.no_tqdm():
            trainer = RewardTrainer(model=model, args=RewardConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                    train_dataset=Dataset.from_list(training.strip_answers(data.train)),
                                    processing_class=tokenizer, peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def train(self) -> TrainingSummary:
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_preference_data)
            state = run.checkpoints(data)
            trainer = self.build(data, tokenizer, model_ref, state.dir, run.callbacks)
            measure = lambda: Figures.of(  # noqa: E731
                heldout_pairwise_accuracy=pairwise_accuracy(trainer.model, tokenizer, data.heldout, **self.plan["eval"]))
            before = measure()
            fit = run.fit(trainer, keep_initial_adapter=False)  # a score head: no PiSSA/OLoRA conversion
            after = measure()
            training.save_model(trainer, tokenizer, run)
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before, after),
                extra={"center_rewards_coefficient": self.config.center_rewards_coefficient,
                       "head": "sequence_classification", **training.metric_histories(fit.log_history, RM_METRICS)})
