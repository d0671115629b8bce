"""Agentic training on PyTorch: SFT on tool traces, GRPO with TRL's tool loop, or RAFT cycles over episodes.

    halo-forge agentic train --method sft --dataset tool_world --model halo-forge/tiny --no-lora --max-steps 600
    halo-forge agentic train --method raft --dataset tool_world --model outputs/agentic --cycles 2

`train()` reads top to bottom: load the validated tool rows, tokenizer and the run's tools, measure the
held-out figures (exact-call accuracy of the first assistant turn, then the final-answer accuracy of whole
episodes with the calls executed), train with the method, measure again, save, summarise. The methods reuse
the other trainers' machinery: TRL's SFTTrainer with ``assistant_only_loss`` (SFT), TRL's GRPOTrainer with
``tools=`` (its native multi-turn tool loop) and our episode reward, and RAFT's cycle
(`raft.recipe.RAFTRecipe`: sample, score, keep, fine-tune, per-cycle state) with episodes as its samples.
"""

from __future__ import annotations

from halo_forge import rl, training
from halo_forge.data.tool_sets import load_tool_data
from halo_forge.models.loading import load_causal_lm
from halo_forge.raft.torch_trainer import TorchRAFTTrainer
from halo_forge.summary import TrainingSummary
from halo_forge.training import compare

ANSWER_TOLERANCE = {"heldout_answer_accuracy": 0.05}  # the secondary figure: a small regression only warns
# TRL's logged GRPO metrics kept as histories in summary.extra
GRPO_METRICS = {"reward": "reward_history", "frac_reward_zero_std": "frac_reward_zero_std_history",
                "tools/call_frequency": "tool_call_frequency_history",
                "tools/failure_frequency": "tool_failure_frequency_history"}


class TorchAgenticTrainer(TorchRAFTTrainer):
    """Tool-use training (--method sft|grpo|raft) with TRL on cpu, cuda, rocm or mps."""

    modality = "agentic"
    used_elsewhere = rl.RolloutTrainer.used_elsewhere

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        from halo_forge.rollout import resolve_engine, trl_generation_args

        engine = resolve_engine(config.rollout_engine)
        grpo = {"num_generations": config.num_generations, "max_completion_length": config.max_completion_length,
                "temperature": config.temperature, "beta": config.beta, "epsilon": config.epsilon,
                "loss_type": config.loss_type, "scale_rewards": "none" if config.no_scale_rewards else "group",
                "max_tool_calling_iterations": config.max_turns - 1, **trl_generation_args(engine)}
        sft = {"max_length": config.max_length, "assistant_only_loss": True}
        plan = cls.library_plan(config, caps, **(grpo if config.method == "grpo" else sft))
        return {**plan, "method": config.method, "engine": engine, "grpo": grpo, "sft": sft,
                "verifiers": rl.verifier_plan(config),
                "episodes": {"max_turns": config.max_turns, "call_weight": config.call_weight,
                             "answer_weight": config.answer_weight, "single_turn": config.single_turn,
                             "tool_plugins": list(config.tool_plugins), "sft_calls": config.sft_calls},
                "sampling": {"temperature": config.temperature, "max_new_tokens": config.max_completion_length,
                             "batch_size": config.eval_batch_size},
                "selection": {"samples_per_prompt": config.samples_per_prompt, "keep_percent": config.keep_percent,
                              "threshold": config.reward_threshold, "min_samples": config.min_samples,
                              "prompts_per_cycle": config.prompts_per_cycle, "cycles": config.cycles},
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def __init__(self, config, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.call_verifier = self.verifiers[0][1]  # tool_call, with the run's --verifier-arg options
        self.tools: list = []
        self.multi_turn = False
        self.episode_stats = None  # GRPO's training episodes (multi-turn), counted by its reward function

    def train(self) -> TrainingSummary:
        from halo_forge.agentic import trainer_parts as parts

        cfg = self.config
        if cfg.method == "raft":  # RAFT's recipe, with episodes as its samples (see ops())
            self.data = self.data if self.data is not None else load_tool_data(cfg)
            self.tools, self.multi_turn = parts.run_tools(cfg, self.data, self.warnings)
            return super().train()
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_tool_data, chat_template=True)
            parts.require_assistant_markers(tokenizer)
            self.tools, self.multi_turn = parts.run_tools(cfg, data, run.notes)
            state = run.checkpoints(data)
            build = self.build_sft if cfg.method == "sft" else self.build_grpo
            trainer, extra = build(data, tokenizer, model_ref, state.dir, run.callbacks, run.notes)
            measure = lambda: parts.heldout(self, trainer.model, tokenizer, data.heldout)  # noqa: E731
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            if cfg.method == "grpo":
                extra.update(training.metric_histories(fit.log_history, GRPO_METRICS))
            if self.episode_stats is not None:
                extra["training_episodes"] = self.episode_stats.to_dict()
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit,
                evaluations=compare(before[0], after[0], tolerance=ANSWER_TOLERANCE),
                extra={**parts.summary_extra(self, before[1], after[1]), **extra})

    def build_sft(self, data, tokenizer, model_ref, output_dir, callbacks, notes):
        """TRL's SFTTrainer on the tool traces (loss on the assistant turns only)."""
        from datasets import Dataset
        from trl import SFTConfig as TRLSFTConfig, SFTTrainer

        from halo_forge.agentic import trainer_parts as parts

        traces = parts.sft_traces(self.config, data.train, self.tools)
        with training.no_tqdm():
            trainer = SFTTrainer(model=load_causal_lm(model_ref, **self.plan["model"]),
                                 args=TRLSFTConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                 train_dataset=Dataset.from_list(traces), processing_class=tokenizer,
                                 peft_config=self.plan["peft"], callbacks=list(callbacks))
        return training.quiet_trainer(trainer), {"sft_calls": self.config.sft_calls, "traces": len(traces)}

    def build_grpo(self, data, tokenizer, model_ref, output_dir, callbacks, notes):
        """TRL's GRPOTrainer: its native tool loop with the episode reward (tools run), or the first turn's
        calls scored by tool_call (single turn)."""
        from datasets import Dataset
        from trl import GRPOConfig as TRLGRPOConfig, GRPOTrainer

        from halo_forge.agentic import grpo
        from halo_forge.agentic.episodes import EpisodeStats

        cfg = self.config
        if self.multi_turn:
            notes.append(f"tool calls parsed with {grpo.ensure_tool_parsing(tokenizer)}")
            self.episode_stats = EpisodeStats()
            extra = {"reward_funcs": [grpo.episode_reward_func(self.episode_stats, call_weight=cfg.call_weight,
                                                               answer_weight=cfg.answer_weight,
                                                               verifier=self.call_verifier)],
                     "train_dataset": Dataset.from_list(grpo.episode_rows(data.train)), "tools": self.tools}
        else:
            extra = {"reward_funcs": rl.reward_funcs([("tool_call", self.call_verifier, 1.0)], ["tools", "gold_calls"]),
                     "train_dataset": Dataset.from_list(grpo.single_turn_rows(data.train, tokenizer))}
        with training.no_tqdm():
            trainer = GRPOTrainer(model=load_causal_lm(model_ref, **self.plan["model"]),
                                  args=TRLGRPOConfig(**self.plan["trl"], output_dir=str(output_dir)),
                                  processing_class=tokenizer, peft_config=self.plan["peft"],
                                  callbacks=list(callbacks), **extra)
        return training.quiet_trainer(trainer), {"num_generations": cfg.num_generations, "beta": cfg.beta,
                                                 "loss_type": cfg.loss_type, "epsilon": cfg.epsilon,
                                                 "scale_rewards": not cfg.no_scale_rewards}

    def ops(self, tokenizer, model_ref: str):
        """RAFT's cycle operations on PyTorch, with sampled episodes (JSON text) as the samples, the episode
        reward as the verifier, kept episodes trained as traces, and held-out exact-call accuracy as its figure."""
        import dataclasses

        from halo_forge.agentic import trainer_parts as parts
        from halo_forge.agentic.samples import EpisodeScorer, sample_episodes, trace_rows
        from halo_forge.raft.torch_trainer import torch_ops

        cfg = self.config
        parts.require_assistant_markers(tokenizer)
        self.verifiers = [("episode", EpisodeScorer(self.call_verifier, call_weight=cfg.call_weight,
                                                    answer_weight=cfg.answer_weight,
                                                    single_turn=not self.multi_turn), 1.0)]
        self.measured: list[dict] = []

        def sample(model, rows: list[dict], k: int) -> list[list[str]]:
            from transformers import set_seed

            set_seed(cfg.seed * 1000 + k)
            return sample_episodes(model, tokenizer, rows, self.tools, n=cfg.samples_per_prompt,
                                   single_turn=not self.multi_turn, max_turns=cfg.max_turns, **self.plan["sampling"])

        def exact_calls(model, rows: list[dict]):
            figures, details = parts.heldout(self, model, tokenizer, rows)
            self.measured.append(details)
            return figures.get("heldout_exact_call_accuracy")

        return dataclasses.replace(torch_ops(self, tokenizer, self.plan["engine"], rows=trace_rows),
                                   sample=sample, pass_rate=exact_calls)

    def backend_extra(self) -> dict:
        """The agentic extras beside RAFT's: held-out call checks, failure reasons and episodes, before and after."""
        from halo_forge.agentic import trainer_parts as parts

        before = self.measured[0] if len(self.measured) > 1 else {}
        return {**parts.summary_extra(self, before, self.measured[-1] if self.measured else {}),
                "evaluation_metric": "held-out exact-call accuracy (greedy first assistant turn)"}
