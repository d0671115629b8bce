"""GRPO on PyTorch: TRL's GRPOTrainer with halo-forge verifiers as its reward functions.

    halo-forge grpo train --dataset arithmetic_prompts --model outputs/quickstart/dpo --no-lora --beta 0 \
        --verifier math --num-generations 8 --max-completion-length 6 --max-steps 300

Reads top to bottom: build the verifiers and pick the rollout engine (a clear error before anything
loads when it cannot run), load prompts and model, measure the held-out pass rate, train, measure
again, judge, publish. Prompts are chat lists, so TRL renders them with the model's chat template;
every other column of a prompt row (answer, tests, task_id …) reaches the reward function, which
rebuilds the row for the verifier.
"""

from __future__ import annotations


from halo_forge import rl, training
from halo_forge.grpo.config import GRPOConfig
from halo_forge.models.loading import load_causal_lm, peft_config
from halo_forge.rollout import resolve_engine, trl_generation_args
from halo_forge.summary import Evaluation, TrainingSummary

# TRL's logged GRPO metrics kept as histories in summary.extra
GRPO_METRICS = {"reward": "reward_history", "reward_std": "reward_std_history", "kl": "kl_history",
                "completions/mean_length": "completion_length_history"}


class TorchGRPOTrainer(training.TorchRun):
    """GRPO with TRL on cpu, cuda, rocm or mps (sampling by HF generate or TRL's vLLM integration)."""

    modality = "grpo"

    def __init__(self, config: GRPOConfig, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.verifiers = rl.build_verifiers(config)
        self.engine = resolve_engine(config.rollout_engine)
        self.generation = trl_generation_args(self.engine, vllm_mode=config.vllm_mode)
        self.trl_trainer = None

    def trl_args(self, staging):
        """The GRPOConfig halo-forge hands to TRL (tests inspect it without training)."""
        from trl import GRPOConfig as TRLGRPOConfig

        cfg = self.config
        return TRLGRPOConfig(
            **training.common_args(cfg, self.caps, str(staging)),
            num_generations=cfg.num_generations,
            max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature,
            beta=cfg.effective_beta,
            epsilon=cfg.epsilon,
            loss_type=cfg.loss_type,
            scale_rewards="none" if cfg.no_scale_rewards else "group",
            reward_weights=[w for _, _, w in self.verifiers],
            per_device_eval_batch_size=cfg.eval_batch_size,
            **self.generation,
        )

    def build(self, data, tokenizer, model_ref: str, staging, callbacks=()):
        from datasets import Dataset
        from trl import GRPOTrainer

        cfg = self.config
        model = load_causal_lm(model_ref, dtype=self.torch_dtype())
        fields = sorted({k for r in data.train for k in r if k != "prompt"})
        with training.no_tqdm():
            trainer = GRPOTrainer(model=model, reward_funcs=rl.reward_funcs(self.verifiers, fields),
                                  args=self.trl_args(staging), train_dataset=Dataset.from_list(data.train),
                                  processing_class=tokenizer, peft_config=peft_config(cfg), callbacks=list(callbacks))
        training.quiet_trainer(trainer)
        self.trl_trainer = trainer
        return trainer

    def train(self) -> TrainingSummary:
        from halo_forge.data.prompts import load_prompt_data
        from halo_forge.progress import make_callback

        cfg = self.config
        data, model_ref, tokenizer, notes = self.prepare(load_prompt_data, chat_template=True)
        staging = self.output.open()
        try:
            progress = make_callback("grpo", quiet=self.quiet)
            trainer = self.build(data, tokenizer, model_ref, staging, callbacks=[progress, *self.callbacks])
            measure = lambda: rl.pass_rate(trainer.model, tokenizer, self.verifiers, data.heldout,  # noqa: E731
                                           max_new_tokens=cfg.eval_max_new_tokens, batch_size=cfg.eval_batch_size)
            run = self.train_measured(trainer, tokenizer, staging, measure, data=data, progress=progress, notes=notes)
            before, after = run.before, run.after
            evaluations = []
            if before is not None:
                evaluations.append(Evaluation.of("heldout_accuracy", before[0], after[0], n=before[1]))
            extra = run.extra
            extra.update({
                "evaluation_metric": "held-out verifier pass rate (greedy)",
                "verifiers": list(cfg.verifiers), "verifier_weights": [w for _, _, w in self.verifiers],
                "num_generations": cfg.num_generations, "beta": cfg.effective_beta, "epsilon": cfg.epsilon,
                "temperature": cfg.temperature, "loss_type": cfg.loss_type, "scale_rewards": not cfg.no_scale_rewards,
                "reference_model": None if cfg.effective_beta == 0 else "frozen copy of the start model",
                "rollout_engine": self.engine, "trl_generation": dict(self.generation),
                "max_completion_length": cfg.max_completion_length,
                **training.metric_histories(trainer.state.log_history, GRPO_METRICS),
            })
            return self.finish(trainer=trainer, staging=staging, data=data, model_ref=model_ref,
                               evaluations=evaluations, train_seconds=run.train_seconds, moved=run.moved, extra=extra)
        except BaseException:
            self.output.abort()
            raise
