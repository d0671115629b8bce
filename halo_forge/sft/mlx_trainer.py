"""SFT on MLX: vanilla LoRA through mlx-lm (or a full fine-tune), our loop, the same figures and summary.

    halo-forge sft train --dataset arithmetic --model halo-forge/tiny --accelerator mlx --max-steps 100

`train()` reads top to bottom: load rows and tokenizer, tokenise them as TRL does (completion-only loss; chats
without `{% generation %}` markers train on their final assistant turn, as on PyTorch), load the policy, measure
the held-out figures, train (`halo_forge.mlx.loop.fit`, resuming with --resume), measure again, save (a PEFT
adapter + mlx-lm's format, or an HF model folder), summarise. Not on MLX: --packing (warned and ignored), DoRA,
rsLoRA, other LoRA inits, 4-bit loading and optimisers other than AdamW (warned and ignored).
"""

from __future__ import annotations

from halo_forge import training
from halo_forge.data import load_sft_data
from halo_forge.evaluation import TASK_TOLERANCE
from halo_forge.mlx import evaluation, loop
from halo_forge.mlx.trainer import MLX_OPTIM, MLXTrainer, common_plan, evaluating, load_policy, save_policy
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare


class MLXSFTTrainer(MLXTrainer):
    """Supervised fine-tuning on MLX (Apple silicon, or Linux CPU with mlx[cpu])."""

    modality = "sft"
    ignored = {**MLX_OPTIM, "packing": (False, "--packing (MLX trains one row per sequence)")}

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        return {**common_plan(config, caps),
                "data": {"completion_only": not config.train_on_prompt, "max_length": config.max_length},
                "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}

    def train(self) -> TrainingSummary:
        from halo_forge.mlx.steps import make_optimizer, sft_loss
        from halo_forge.mlx.tokenize import Lazy, sft_batch, sft_example
        from halo_forge.sft.torch_trainer import chat_rows_for

        cfg, plan = self.config, self.plan
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_sft_data, chat_template=True)
            data, _ = chat_rows_for(data, tokenizer, plan["data"]["completion_only"], run.notes)
            state = run.checkpoints(data)
            train = Lazy(lambda row: sft_example(row, tokenizer, **plan["data"]), data.train)
            heldout = [sft_example(r, tokenizer, **plan["data"]) for r in data.heldout]
            model, adapter = load_policy(model_ref, plan, cfg.seed)
            pad = tokenizer.pad_token_id or 0
            batches = loop.row_batches(len(train), plan["loop"])
            total = loop.total_steps(len(train), plan["loop"])
            optimizer = make_optimizer(total_steps=total, **plan["optimizer"])

            def measure() -> Figures:
                with evaluating(model):
                    return Figures.of(
                        heldout_accuracy=evaluation.task_accuracy(model, tokenizer, data.heldout, **plan["eval"]),
                        heldout_loss=evaluation.heldout_loss(model, heldout, pad, batch_size=plan["eval"]["batch_size"]))

            before = measure()
            fit = loop.fit(model, optimizer, sft_loss,
                           lambda k: ([sft_batch([train[i] for i in rows], pad) for rows in batches(k)], {}),
                           total=total, plan=plan["loop"], callbacks=run.callbacks, checkpoints=state)
            after = measure()
            save_policy(model, adapter, run.staging, tokenizer=tokenizer, model_name=cfg.model, model_ref=model_ref)
            return training.build_summary(run, data=data, model_ref=model_ref, fit=fit,
                                          evaluations=compare(before, after, tolerance=TASK_TOLERANCE),
                                          extra={"packing": False, **self.mlx_extra()})
