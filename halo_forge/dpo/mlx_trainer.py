"""DPO on MLX: our own losses (halo_forge/dpo/mlx_losses.py, checked against the PyTorch path), our loop, the
same held-out figures and summary.

    halo-forge dpo train --dataset arithmetic_pref --model outputs/sft --accelerator mlx --loss-type ipo --max-steps 100

`train()` reads top to bottom: load pairs and tokenizer, tokenise them as TRL's DPOTrainer does, load the policy,
compute the reference log-probabilities of every training pair once, measure the held-out figures, train
(`halo_forge.mlx.loop.fit`, resuming with --resume), measure again, save, summarise.

The reference log-probabilities are computed before the first step: from --ref-model when given, otherwise
from the policy as it starts — which is what the reference is in every other mode: the frozen start model
(full fine-tune), the base with its adapters disabled (LoRA: the adapter starts at zero) and the step-0 policy
(--reference-free). So no second model stays in memory, and a resumed run has the same reference.
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
                "reference": "precomputed step-0 policy" if config.reference_free else config.ref_model or (
                    "base with adapters disabled" if not config.no_lora else "frozen copy of the start model"),
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def train(self) -> TrainingSummary:
        from functools import partial

        from halo_forge.dpo.mlx_losses import dpo_loss
        from halo_forge.mlx.steps import make_optimizer
        from halo_forge.mlx.tokenize import preference_example

        plan = self.plan
        with training.staged_run(self) as run:
            run.notes += self.warnings
            data, model_ref, tokenizer = run.load(load_preference_data)
            state = run.checkpoints(data)
            pairs = [preference_example(r, tokenizer) for r in data.train]
            model, adapter = load_policy(model_ref, plan, self.config.seed)
            ref_c, ref_r = self.reference_logps(model, pairs, tokenizer.pad_token_id or 0)
            batch_for = pair_batches(pairs, ref_c, ref_r, tokenizer.pad_token_id or 0, plan)
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

    def reference_logps(self, policy, pairs: list[dict], pad: int):
        """(chosen, rejected) reference log-probabilities of every training pair: from --ref-model, else from the
        policy before its first step (eval mode; batches of --eval-batch-size)."""
        import mlx.core as mx

        from halo_forge.dpo.mlx_losses import reference_logps
        from halo_forge.mlx import weights
        from halo_forge.mlx.tokenize import preference_batch
        from halo_forge.models.loading import resolve_model

        cfg, size = self.config, self.plan["eval"]["batch_size"]
        model = weights.load(resolve_model(cfg.ref_model))[0] if cfg.ref_model else policy
        chosen, rejected = [], []
        with evaluating(model):
            for i in range(0, len(pairs), size):
                c, r = reference_logps(model, *preference_batch(pairs[i:i + size], pad, cfg.max_length))
                chosen.append(c)
                rejected.append(r)
        return mx.concatenate(chosen), mx.concatenate(rejected)

    def extra(self, fit) -> dict:
        """DPO's knobs and reward histories, as the PyTorch trainer reports them."""
        cfg = self.config
        return {"beta": cfg.beta, "loss_type": cfg.loss_type, "label_smoothing": cfg.label_smoothing,
                "reference_free": cfg.reference_free, "rpo_alpha": cfg.rpo_alpha if cfg.loss_type == "rpo" else None,
                "reference": self.plan["reference"], **training.metric_histories(fit.log_history, DPO_METRICS),
                **self.mlx_extra()}


def pair_batches(pairs: list[dict], ref_c, ref_r, pad: int, plan: dict):
    """`batch_for(k)` of the MLX loop: step k's micro-batches (tokens, mask, reference chosen, reference rejected)."""
    import mlx.core as mx

    from halo_forge.mlx.tokenize import preference_batch

    rows_for = loop.row_batches(len(pairs), plan["loop"])

    def batch_for(k: int):
        out = []
        for rows in rows_for(k):
            idx = mx.array(rows)
            out.append((*preference_batch([pairs[i] for i in rows], pad, plan["data"]["max_length"]),
                        ref_c[idx], ref_r[idx]))
        return out, {}

    return batch_for
