"""GRPO on PyTorch: TRL's GRPOTrainer with halo-forge verifiers as its reward functions.

    halo-forge grpo train --dataset arithmetic_prompts --model outputs/quickstart/dpo --no-lora --beta 0 \
        --verifier math --num-generations 8 --max-completion-length 6 --max-steps 300

`train()` reads top to bottom: load prompts, tokenizer and model, build TRL's trainer (the verifiers,
built once with the trainer, are its reward functions), measure the held-out pass rate, train
(resuming with --resume), measure again, save, summarise. Prompts are chat lists, so TRL renders them
with the model's chat template; every other column of a prompt row (answer, tests, task_id …)
reaches the reward function, which rebuilds the row for the verifier.
"""

from __future__ import annotations

from halo_forge import rl, training
from halo_forge.data.prompts import load_prompt_data
from halo_forge.models.loading import load_causal_lm
from halo_forge.rollout import resolve_engine, trl_generation_args
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare

# TRL's logged GRPO metrics kept as histories in summary.extra
GRPO_METRICS = {"reward": "reward_history", "reward_std": "reward_std_history", "kl": "kl_history",
                "completions/mean_length": "completion_length_history",
                "frac_reward_zero_std": "frac_reward_zero_std_history"}


class TorchGRPOTrainer(rl.RolloutTrainer):
    """GRPO with TRL on cpu, cuda, rocm or mps (sampling by HF generate or TRL's vLLM integration)."""

    modality = "grpo"
    @classmethod
    def plan_for(cls, config, caps) -> dict:
        engine = resolve_engine(config.rollout_engine)
        plan = cls.library_plan(config, caps, num_generations=config.num_generations,
                                max_completion_length=config.max_completion_length, temperature=config.temperature,
                                beta=config.effective_beta, epsilon=config.epsilon, loss_type=config.loss_type,
                                scale_rewards="none" if config.no_scale_rewards else "group",
                                reward_weights=config.verifier_weights or [1.0] * len(config.verifiers),
                                per_device_eval_batch_size=config.eval_batch_size,
                                **trl_generation_args(engine, vllm_mode=config.vllm_mode, server=config.vllm_server()))
        return {**plan, "engine": engine, "verifiers": rl.verifier_plan(config),
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def build(self, data, tokenizer, model_ref: str, output_dir, callbacks=()):
        """TRL's GRPO trainer for this run, ready to train, rewarded by the verifiers."""
        from datasets import Dataset
        from trl import GRPOConfig as TRLGRPOConfig, GRPOTrainer

        fields = sorted({k for r in data.train for k in r if k != "prompt"})
        with training.no_tqdm():
            trainer = GRPOTrainer(model=load_causal_lm(model_ref, **self.plan["model"]),
                                  reward_funcs=rl.reward_funcs(self.verifiers, fields),
                                  args=TRLGRPOConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                  train_dataset=Dataset.from_list(data.train), processing_class=tokenizer,
                                  peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def train(self) -> TrainingSummary:
        cfg = self.config
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_prompt_data, chat_template=True)
            state = run.checkpoints(data)
            trainer = self.build(data, tokenizer, model_ref, state.dir, run.callbacks)
            measure = lambda: Figures.of(heldout_accuracy=rl.pass_rate(  # noqa: E731
                trainer.model, tokenizer, self.verifiers, data.heldout, **self.plan["eval"]))
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            histories = training.metric_histories(fit.log_history, GRPO_METRICS)
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before, after),
                explanations=no_signal(histories["frac_reward_zero_std_history"]),
                extra={**grpo_knobs(cfg, self.verifiers), "rollout_engine": self.plan["engine"],
                       "reference_model": None if cfg.effective_beta == 0 else "frozen copy of the start model",
                       "trl_generation": trl_generation_args(self.plan["engine"], vllm_mode=cfg.vllm_mode,
                                                             server=cfg.vllm_server()),
                       **histories})


def grpo_knobs(cfg, verifiers) -> dict:
    """GRPO's knobs as the summary's `extra` reports them, whatever the backend."""
    return {"evaluation_metric": "held-out verifier pass rate (greedy)", "verifiers": list(cfg.verifiers),
            "verifier_weights": [w for _, _, w in verifiers], "num_generations": cfg.num_generations,
            "beta": cfg.effective_beta, "epsilon": cfg.epsilon, "temperature": cfg.temperature,
            "loss_type": cfg.loss_type, "scale_rewards": not cfg.no_scale_rewards,
            "max_completion_length": cfg.max_completion_length}


def no_signal(zero_std_history: list[dict]) -> list[str]:
    """Why a GRPO run learned nothing, when that is the reason: every sampled group got equal rewards."""
    if zero_std_history and all(h["value"] >= 1.0 for h in zero_std_history):
        return ["no learning signal: every sampled group got the same reward at every logged step (GRPO's "
                "advantages were all 0); start from a model that already solves some prompts (an SFT model), "
                "or use a denser reward (a verifier with partial credit, several verifiers)"]
    return []
