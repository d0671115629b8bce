"""DPO on MLX: our own losses (halo_forge/dpo/mlx_losses.py, checked against the PyTorch path), our loop, the
same held-out figures and summary.

    halo-forge dpo train --dataset arithmetic_pref --model outputs/sft --accelerator mlx --loss-type ipo --max-steps 100

`train()` reads top to bottom: load pairs and tokenizer (pairs are tokenised as TRL's DPOTrainer does, when first
used), load the policy and its reference, measure the held-out figures, train (`halo_forge.mlx.loop.fit`,
resuming with --resume), measure again, save, summarise.

The reference log-probabilities of each micro-batch come from --ref-model when given; otherwise from the start
model, which is what the reference is in every mode — the frozen start model (full fine-tune), the base with its
adapters disabled (LoRA: no second model in memory), the step-0 policy (--reference-free; TRL precomputes it
over the whole dataset, MLX keeps a frozen copy for a full fine-tune and uses the disabled adapters for LoRA:
the same numbers). A resumed run therefore has the same reference.
"""

from __future__ import annotations

from halo_forge import training
from halo_forge.data.preference import load_preference_data
from halo_forge.dpo.torch_trainer import DPO_METRICS, ref_model_problems
from halo_forge.evaluation import TASK_TOLERANCE
from halo_forge.mlx import evaluation, loop
from halo_forge.mlx.trainer import MLXTrainer, common_plan, evaluating, load_policy, save_policy
from halo_forge.summary import TrainingSummary
from halo_forge.training import compare


class MLXDPOTrainer(MLXTrainer):
    """DPO on MLX (Apple silicon, or Linux CPU with mlx[cpu]): sigmoid, ipo, hinge, kto_pair, rpo."""

    modality = "dpo"

    @classmethod
    def check(cls, config, caps) -> list:
        return super().check(config, caps) + ref_model_problems(config)

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        return {**common_plan(config, caps), "data": {"max_length": config.max_length},
                "loss": {"beta": config.beta, "loss_type": config.loss_type, "label_smoothing": config.label_smoothing,
                         "rpo_alpha": config.rpo_alpha},
                "reference": config.ref_model or ("step-0 policy: " if config.reference_free else "") + (
                    "base with adapters disabled" if not config.no_lora else "frozen copy of the start model"),
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def train(self) -> TrainingSummary:
        from functools import partial

        from halo_forge.dpo.mlx_losses import dpo_loss
        from halo_forge.mlx.steps import make_optimizer
        from halo_forge.mlx.tokenize import Lazy, preference_example

        plan = self.plan
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_preference_data)
            state = run.checkpoints(data)
            pairs = Lazy(lambda row: preference_example(row, tokenizer), data.train)
            model, adapter = load_policy(model_ref, plan, self.config.seed)
            batch_for = PairBatches(pairs, model, self.reference(model, model_ref), tokenizer.pad_token_id or 0, plan)
            total = loop.total_steps(len(pairs), plan["loop"])

            def measure():
                with evaluating(model):
                    return evaluation.preference_figures(model, tokenizer, data.heldout, **plan["eval"])

            before = measure()
            fit = loop.fit(model, make_optimizer(total_steps=total, **plan["optimizer"]), partial(dpo_loss, **plan["loss"]),
                           batch_for, total=total, plan=plan["loop"], callbacks=run.callbacks, checkpoints=state)
            after = measure()
            save_policy(model, adapter, run.staging, tokenizer=tokenizer, model_name=self.config.model, model_ref=model_ref)
            return training.build_summary(run, data=data, model_ref=model_ref, fit=fit, extra=self.extra(fit),
                                          evaluations=compare(before, after, tolerance=TASK_TOLERANCE))

    def reference(self, policy, model_ref: str):
        """The model the reference log-probabilities come from: --ref-model; with LoRA the policy itself (scored
        with its adapters disabled); else a frozen copy of the start model."""
        from halo_forge.mlx import weights
        from halo_forge.models.loading import resolve_model

        if self.config.ref_model is None and self.plan["adapter"]["kind"] == "lora":
            return policy
        ref, _ = weights.load(resolve_model(self.config.ref_model) if self.config.ref_model else model_ref)
        ref.freeze()
        return ref.eval()

    def extra(self, fit) -> dict:
        """DPO's knobs and reward histories, as the PyTorch trainer reports them."""
        cfg = self.config
        return {"beta": cfg.beta, "loss_type": cfg.loss_type, "label_smoothing": cfg.label_smoothing,
                "reference_free": cfg.reference_free, "rpo_alpha": cfg.rpo_alpha if cfg.loss_type == "rpo" else None,
                "reference": self.plan["reference"], **training.metric_histories(fit.log_history, DPO_METRICS),
                **self.mlx_extra()}


class PairBatches:
    """`batch_for(k)` of the MLX loop: step k's micro-batches (tokens, mask, reference chosen, reference rejected)."""

    def __init__(self, pairs, policy, reference, pad: int, plan: dict) -> None:
        self.pairs, self.policy, self.reference, self.pad = pairs, policy, reference, pad
        self.max_length = plan["data"]["max_length"]
        self.rows_for = loop.row_batches(len(pairs), plan["loop"])

    def __call__(self, k: int) -> tuple[list[tuple], dict]:
        from halo_forge.dpo.mlx_losses import reference_logps
        from halo_forge.mlx import lora
        from halo_forge.mlx.tokenize import preference_batch

        out = []
        for rows in self.rows_for(k):
            tokens, mask = preference_batch([self.pairs[i] for i in rows], self.pad, self.max_length)
            if self.reference is self.policy:
                with lora.adapters_disabled(self.policy):
                    ref = reference_logps(self.policy, tokens, mask)
            else:
                ref = reference_logps(self.reference, tokens, mask)
            out.append((tokens, mask, *ref))
        return out, {}
