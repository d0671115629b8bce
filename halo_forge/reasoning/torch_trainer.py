"""Reasoning on PyTorch: think/answer rows trained with TRL's SFTTrainer (--method sft), TRL's GRPOTrainer with
DAPO's dynamic sampling (--method grpo), or RAFT's cycles (--method raft), rewarded by the reasoning rewards.

    halo-forge reasoning train --method sft  --dataset arithmetic_chains --model halo-forge/tiny --no-lora \
        --max-steps 800 --batch-size 32 --learning-rate 2e-3 --output outputs/reasoning-sft
    halo-forge reasoning train --method grpo --dataset arithmetic_chains --model outputs/reasoning-sft --no-lora \
        --max-steps 200 --batch-size 64 --num-generations 8 --max-completion-length 48 --temperature 1.0 \
        --learning-rate 1e-4 --dynamic-sampling-rounds 2

`train()` reads top to bottom for SFT and GRPO: load the rows, build TRL's trainer, measure the held-out answer
accuracy and format rate (greedy), train (resuming with --resume), measure again, save, summarise. RAFT is
`halo_forge.raft`'s recipe unchanged: the reasoning rewards are its verifiers (the config presents them as such),
and its held-out figure is the rate of greedy answers that pass every reward (right and well-formatted).
A --resume continues dynamic sampling's counts and its resampling from the checkpoint. What it leaves out: more
than one process per run (dynamic sampling and RAFT's cycles are single-process).
"""

from __future__ import annotations

from halo_forge import rl, training
from halo_forge.data.reasoning_sets import load_reasoning_data
from halo_forge.grpo.torch_trainer import GRPO_METRICS, no_signal
from halo_forge.models.loading import load_causal_lm
from halo_forge.raft.torch_trainer import TorchRAFTTrainer
from halo_forge.reasoning.evaluation import reasoning_figures
from halo_forge.rollout import Sampling, resolve_engine, trl_generation_args
from halo_forge.summary import TrainingSummary
from halo_forge.training import compare

# TRL's logged metrics kept as histories in summary.extra (GRPO's, the two main rewards', dynamic sampling's)
REASONING_METRICS = {**GRPO_METRICS, "rewards/verifier_reasoning_answer/mean": "answer_reward_history",
                     "rewards/verifier_think_format/mean": "format_reward_history",
                     "dynamic_sampling/groups_dropped": "groups_dropped_history"}
FORMAT_TOLERANCE = {"heldout_format_rate": 0.05}  # a small drop in the format rate only warns


class TorchReasoningTrainer(TorchRAFTTrainer):
    """Reasoning with TRL on cpu, cuda, rocm or mps; RAFT's cycles come from the RAFT trainer it extends."""

    modality = "reasoning"
    used_elsewhere = {**rl.RolloutTrainer.used_elsewhere, "method": "train() picks the recipe; plan_for its sections"}
    multi_process = False  # dynamic sampling and RAFT's cycles run in one process

    @classmethod
    def check(cls, config, caps) -> list:
        return training.TorchTrainer.check(config, caps) + (rl.rollout_problems(config) if config.verifiers else [])

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        method = config.method
        evaluation = {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}
        if method == "sft":
            plan = cls.library_plan(config, caps, max_length=config.max_length, completion_only_loss=True)
            return {**plan, "method": method, "eval": evaluation}
        engine = resolve_engine(config.rollout_engine)
        if method == "grpo":
            from halo_forge.reasoning.grpo_options import loss_args

            loss = loss_args(loss_type=config.loss_type, scale_rewards=config.scale_rewards, epsilon=config.epsilon,
                             epsilon_high=config.epsilon_high, mask_truncated_completions=config.mask_truncated_completions,
                             importance_sampling_level=config.importance_sampling_level)
            plan = cls.library_plan(
                config, caps, num_generations=config.num_generations, temperature=config.temperature,
                max_completion_length=config.max_completion_length, beta=config.beta,
                reward_weights=config.verifier_weights, **loss,
                **trl_generation_args(engine))
            plan["dynamic_sampling_rounds"] = config.dynamic_sampling_rounds
        else:  # raft: the sections TorchRAFTTrainer's cycles read
            plan = cls.library_plan(config, caps, max_length=config.max_length, completion_only_loss=True)
            plan["sampling"] = Sampling(temperature=config.temperature, max_new_tokens=config.max_completion_length,
                                        batch_size=config.eval_batch_size)
            plan["selection"] = {"samples_per_prompt": config.samples_per_prompt, "keep_percent": config.keep_percent,
                                 "threshold": config.reward_threshold, "min_samples": config.min_samples,
                                 "prompts_per_cycle": config.prompts_per_cycle, "cycles": config.cycles}
        return {**plan, "method": method, "engine": engine, "verifiers": rl.verifier_plan(config), "eval": evaluation}

    def train(self) -> TrainingSummary:
        if self.config.method == "raft":
            if self.data is None:  # RAFT's recipe loads prompt rows; the reasoning rows are loaded here
                self.data = load_reasoning_data(self.config)
            return super().train()
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_reasoning_data, chat_template=True)
            state = run.checkpoints(data)
            build = self.build_sft if self.config.method == "sft" else self.build_grpo
            trainer = build(data, tokenizer, model_ref, state.dir, run.callbacks)
            measure = lambda: reasoning_figures(  # noqa: E731
                trainer.model, tokenizer, data.heldout, **self.plan["eval"])
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            histories = training.metric_histories(fit.log_history, REASONING_METRICS)
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit,
                evaluations=compare(before.figures(), after.figures(), tolerance=FORMAT_TOLERANCE),
                explanations=no_signal(histories["frac_reward_zero_std_history"]),
                extra={"method": self.config.method, "heldout_before": before.to_dict(),
                       "heldout_after": after.to_dict(), **self.knobs(trainer),
                       **{k: v for k, v in histories.items() if v}})

    def build_sft(self, data, tokenizer, model_ref: str, output_dir, callbacks=()):
        """TRL's SFT trainer on the worked solutions (prompt → completion, loss on the completion)."""
        from datasets import Dataset
        from trl import SFTConfig as TRLSFTConfig, SFTTrainer

        rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in data.train]
        with training.no_tqdm():
            trainer = SFTTrainer(model=load_causal_lm(model_ref, **self.plan["model"]),
                                 args=TRLSFTConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                 train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                                 peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer)

    def build_grpo(self, data, tokenizer, model_ref: str, output_dir, callbacks=()):
        """TRL's GRPO trainer with dynamic sampling (0 rounds: plain TRL), rewarded by the reasoning rewards."""
        from datasets import Dataset
        from trl import GRPOConfig as TRLGRPOConfig

        from halo_forge.reasoning.dynamic_sampling import dynamic_sampling_trainer
        from halo_forge.reasoning.rewards import reasoning_reward_funcs

        rows = [{"prompt": r["prompt"], "answer": r["answer"]} for r in data.train]
        with training.no_tqdm():
            trainer = dynamic_sampling_trainer()(
                model=load_causal_lm(model_ref, **self.plan["model"]),
                reward_funcs=reasoning_reward_funcs(self.verifiers),
                args=TRLGRPOConfig(**self.plan["trl"], output_dir=str(output_dir)),
                train_dataset=Dataset.from_list(rows),
                processing_class=tokenizer, peft_config=self.plan["peft"], callbacks=list(callbacks),
                max_resample_rounds=self.plan["dynamic_sampling_rounds"])
        return training.quiet_trainer(trainer)

    def knobs(self, trainer) -> dict:
        """The method's own settings for the summary (GRPO: rewards, loss options, dynamic sampling's counts)."""
        cfg = self.config
        if cfg.method == "sft":
            return {"evaluation_metric": "held-out answer accuracy (greedy, math-verify after </think>)"}
        trl = self.plan["trl"]
        return {"evaluation_metric": "held-out answer accuracy (greedy, math-verify after </think>)",
                "rewards": dict(zip(cfg.verifiers, cfg.verifier_weights)), "rollout_engine": self.plan["engine"],
                "max_completion_length": cfg.max_completion_length, "temperature": cfg.temperature,
                "num_generations": cfg.num_generations, "beta": cfg.beta,
                "loss": {k: trl[k] for k in ("loss_type", "scale_rewards", "epsilon", "epsilon_high",
                                             "mask_truncated_completions", "importance_sampling_level")},
                "dynamic_sampling": {"max_resample_rounds": cfg.dynamic_sampling_rounds,
                                     **trainer.dynamic_sampling.to_dict()}}
