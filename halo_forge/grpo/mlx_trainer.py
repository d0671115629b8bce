"""GRPO on MLX: a manual scoring loop — sample a group per prompt with mlx-lm, verify with the same verifiers
(sandbox included), group-relative advantages, TRL's clipped objective with an optional k3 KL to a frozen
reference (halo_forge/grpo/mlx_objective.py, checked against TRL 1.16).

    halo-forge grpo train --dataset arithmetic_prompts --model outputs/dpo --accelerator mlx --verifier math \
        --num-generations 8 --beta 0 --max-completion-length 6 --max-steps 100

`train()` reads top to bottom: load prompts and tokenizer, load the policy (and, with --beta > 0 and a full
fine-tune, a frozen copy of it as the reference; with LoRA the reference is the base with adapters disabled),
measure the held-out pass rate, train (`halo_forge.mlx.loop.fit`, resuming with --resume), measure again, save,
summarise. Each optimiser step takes --batch-size / --num-generations prompts per micro-batch
(--gradient-accumulation micro-batches), samples --num-generations completions of each with a seed derived
from (--seed, step) — so a resumed or replayed run samples what the original did — scores them, and takes one
update (on-policy: the ratio is 1 with the policy gradient, as TRL's num_iterations=1). The dapo loss divides by
the completion tokens of the whole step, as TRL does across gradient accumulation.
"""

from __future__ import annotations

from halo_forge import rl, training
from halo_forge.data.prompts import load_prompt_data
from halo_forge.grpo.config import SERVER_FIELDS, GRPOConfig
from halo_forge.grpo.torch_trainer import GRPO_METRICS, grpo_knobs, no_signal
from halo_forge.mlx import evaluation, loop
from halo_forge.mlx.trainer import MLX_OPTIM, MLXTrainer, common_plan, evaluating, load_policy, save_policy
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare

GRPO_METRICS_MLX = {**GRPO_METRICS, "clip_ratio": "clip_ratio_history"}


class MLXGRPOTrainer(MLXTrainer):
    """GRPO on MLX (Apple silicon, or Linux CPU with mlx[cpu]), sampling with mlx-lm."""

    modality = "grpo"
    used_elsewhere = {**MLXTrainer.used_elsewhere, **rl.RolloutTrainer.used_elsewhere,
                      "rollout_engine": "check(): MLX runs sample with mlx-lm; an engine other than auto or mlx is refused"}
    ignored = {**MLX_OPTIM, "vllm_mode": ("colocate", "--vllm-mode (MLX runs sample with mlx-lm, not vLLM)"),
               **{name: (GRPOConfig.model_fields[name].default, f"--{name.replace('_', '-')} (MLX runs sample with "
                                                                 "mlx-lm, not vLLM)") for name in SERVER_FIELDS}}

    def __init__(self, config, backend: str = "mlx", data=None) -> None:
        super().__init__(config, backend, data)
        self.verifiers = rl.build_verifiers(config)

    @classmethod
    def check(cls, config, caps) -> list:
        return super().check(config, caps) + rl.rollout_problems(config) + mlx_engine_problems(config)

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        return {**common_plan(config, caps), "verifiers": rl.verifier_plan(config),
                "sampling": {"n": config.num_generations, "temperature": config.temperature,
                             "max_tokens": config.max_completion_length},
                "advantages": {"scale": not config.no_scale_rewards},
                "loss": {"beta": config.effective_beta, "epsilon": config.epsilon, "loss_type": config.loss_type,
                         "temperature": config.temperature, "max_completion_length": config.max_completion_length},
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def train(self) -> TrainingSummary:
        from halo_forge.mlx.steps import make_optimizer

        cfg, plan = self.config, self.plan
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_prompt_data, chat_template=True)
            state = run.checkpoints(data)
            model, adapter = load_policy(model_ref, plan, cfg.seed)
            reference = self.reference(model, model_ref)
            total = loop.total_steps(len(data.train) * cfg.num_generations, plan["loop"])

            def measure() -> Figures:
                with evaluating(model):
                    return Figures.of(heldout_accuracy=evaluation.pass_rate(model, tokenizer, self.verifiers, data.heldout,
                                                                            **plan["eval"]))

            before = measure()
            fit = loop.fit(model, make_optimizer(total_steps=total, **plan["optimizer"]), self.loss_fn(),
                           GroupSampler(self, model, tokenizer, data.train, reference), total=total, plan=plan["loop"],
                           callbacks=run.callbacks, checkpoints=state)
            after = measure()
            save_policy(model, adapter, run.staging, tokenizer=tokenizer, model_name=cfg.model, model_ref=model_ref)
            histories = training.metric_histories(fit.log_history, GRPO_METRICS_MLX)
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, evaluations=compare(before, after),
                explanations=no_signal(histories["frac_reward_zero_std_history"]),
                extra={**grpo_knobs(cfg, self.verifiers), "rollout_engine": "mlx",
                       "reference_model": None if reference is None else (
                           "base with adapters disabled" if reference is model else "frozen copy of the start model"),
                       **histories, **self.mlx_extra()})

    def reference(self, model, model_ref: str):
        """The frozen reference the KL pulls towards (None with --beta 0): the policy itself with LoRA (its
        adapters are disabled while it scores), else a second, frozen copy of the start model."""
        from halo_forge.mlx import weights

        if not self.plan["loss"]["beta"]:
            return None
        if self.plan["adapter"]["kind"] == "lora":
            return model
        ref, _ = weights.load(model_ref)
        ref.freeze()
        return ref.eval()

    def loss_fn(self):
        """grpo_loss on micro-batches (tokens, mask, advantages, reference log-probs, completion tokens in the step)."""
        from halo_forge.grpo.mlx_objective import grpo_loss

        spec = self.plan["loss"]

        def loss(model, tokens, mask, advantages, ref_logps, num_items):
            return grpo_loss(model, tokens, mask, advantages, None, ref_logps, num_items=num_items, **spec)

        return loss


class GroupSampler:
    """`batch_for(k)` of the MLX loop: step k's prompts, their sampled groups, rewards and advantages."""

    def __init__(self, trainer: MLXGRPOTrainer, model, tokenizer, rows: list[dict], reference) -> None:
        from halo_forge.mlx.tokenize import Lazy, prompt_ids

        self.cfg, self.plan, self.verifiers = trainer.config, trainer.plan, trainer.verifiers
        self.model, self.tokenizer, self.rows, self.reference = model, tokenizer, rows, reference
        self.prompts = Lazy(lambda row: prompt_ids(row, tokenizer), rows)
        per_micro = max(1, self.cfg.batch_size // self.cfg.num_generations)
        self.order = loop.row_batches(len(rows), {**self.plan["loop"], "batch_size": per_micro})

    def __call__(self, k: int) -> tuple[list[tuple], dict]:
        import mlx.core as mx
        import numpy as np

        from halo_forge.grpo.mlx_objective import group_advantages
        from halo_forge.mlx.sampling import decode, sample
        from halo_forge.mlx.tokenize import sequence_batch

        n, spec = self.cfg.num_generations, self.plan["sampling"]
        micro, rewards, lengths = [], [], []
        for rows in self.order(k):
            groups = sample(self.model, self.tokenizer, [self.prompts[i] for i in rows], n=n, seed=self.cfg.seed * 1000 + k,
                            temperature=spec["temperature"], max_tokens=spec["max_tokens"])
            comps = [c for g in groups for c in g]
            scored = rl.score(self.verifiers, [decode(self.tokenizer, c) for c in comps],
                              [self.rows[i] for i in rows for _ in range(n)])
            r = [s["reward"] for s in scored]
            tokens, mask = sequence_batch([self.prompts[i] for i in rows for _ in range(n)], comps,
                                          self.tokenizer.pad_token_id or 0)
            micro.append([tokens, mask, group_advantages(r, n, scale=self.plan["advantages"]["scale"]), self.ref_logps(tokens)])
            rewards += r
            lengths += [len(c) for c in comps]
        items = mx.array(sum(lengths) / len(micro), dtype=mx.float32)  # TRL's dapo: tokens of the whole step
        grouped = np.array(rewards, dtype=np.float64).reshape(-1, n)
        std = grouped.std(axis=1, ddof=1) if n > 1 else np.zeros(len(grouped))
        return [(*m, items) for m in micro], {
            "reward": float(np.mean(rewards)), "reward_std": float(np.mean(std)),
            "frac_reward_zero_std": float(np.mean(std == 0)), "completions/mean_length": float(np.mean(lengths))}

    def ref_logps(self, tokens):
        from halo_forge.grpo.mlx_objective import completion_logps
        from halo_forge.mlx import lora

        if self.reference is None:
            return None
        if self.reference is self.model:
            with lora.adapters_disabled(self.model):
                return completion_logps(self.model, tokens, self.plan["loss"]["temperature"])
        return completion_logps(self.reference, tokens, self.plan["loss"]["temperature"])


def mlx_engine_problems(config) -> list:
    """An MLX run samples with mlx-lm: --rollout-engine must be auto or mlx."""
    from halo_forge.config import Problem

    if config.rollout_engine in ("auto", "mlx"):
        return []
    return [Problem("rollout_engine", config.rollout_engine, "with --accelerator mlx, rollouts are sampled with mlx-lm: "
                                                             "use --rollout-engine auto or mlx, or drop --accelerator mlx")]
