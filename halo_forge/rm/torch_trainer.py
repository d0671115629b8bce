"""Reward model on PyTorch: TRL's RewardTrainer (Bradley-Terry on a sequence-classification head) + PEFT,
wrapped with held-out pairwise accuracy and the summary.

    halo-forge rm train --dataset hh_rlhf --model Qwen/Qwen2.5-0.5B --center-rewards-coefficient 0.01

The saved folder scores text with `halo_forge.rm.score(path, texts)`.
"""

from __future__ import annotations


from halo_forge import training
from halo_forge.evaluation import pairwise_accuracy
from halo_forge.models.loading import load_sequence_classifier, peft_config
from halo_forge.rm.config import RMConfig
from halo_forge.summary import Evaluation, TrainingSummary

RM_METRICS = {"accuracy": "reward_accuracy_history", "margin": "margins_history",
              "mean_reward": "mean_reward_history"}


class TorchRMTrainer(training.TorchRun):
    """Reward-model training with TRL on cpu, cuda, rocm or mps."""

    modality = "rm"

    def __init__(self, config: RMConfig, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.trl_trainer = None

    def _args(self, staging):
        from trl import RewardConfig

        cfg = self.config
        return RewardConfig(**training.common_args(cfg, self.caps, str(staging)), max_length=cfg.max_length,
                            center_rewards_coefficient=cfg.center_rewards_coefficient,
                            per_device_eval_batch_size=cfg.eval_batch_size)

    def build(self, data, tokenizer, model_ref: str, staging, callbacks=()):
        from datasets import Dataset
        from transformers import set_seed
        from trl import RewardTrainer

        set_seed(self.config.seed)  # the new score head's initialisation
        model = load_sequence_classifier(model_ref, dtype=self.torch_dtype())
        model.config.pad_token_id = tokenizer.pad_token_id
        with training.no_tqdm():
            trainer = RewardTrainer(model=model, args=self._args(staging),
                                    train_dataset=Dataset.from_list(training.strip_answers(data.train)),
                                    processing_class=tokenizer, peft_config=peft_config(self.config, "SEQ_CLS"),
                                    callbacks=list(callbacks))
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
            progress = make_callback("rm", quiet=self.quiet)
            trainer = self.build(data, tokenizer, model_ref, staging, callbacks=[progress, *self.callbacks])
            measure = lambda: pairwise_accuracy(trainer.model, tokenizer, data.heldout)  # noqa: E731
            run = self.train_measured(trainer, tokenizer, staging, measure, data=data, progress=progress, notes=notes,
                                      adapter_init=False)
            before, after = run.before, run.after
            evaluations = [] if before is None else [
                Evaluation.of("heldout_pairwise_accuracy", before[0], after[0], n=before[1])]
            extra = run.extra
            extra.update({"center_rewards_coefficient": cfg.center_rewards_coefficient, "head": "sequence_classification",
                          **training.metric_histories(trainer.state.log_history, RM_METRICS)})
            return self.finish(trainer=trainer, staging=staging, data=data, model_ref=model_ref,
                               evaluations=evaluations, train_seconds=run.train_seconds, moved=run.moved, extra=extra)
        except BaseException:
            self.output.abort()
            raise
