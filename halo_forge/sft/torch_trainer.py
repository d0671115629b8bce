"""SFT on PyTorch: TRL's SFTTrainer + PEFT, wrapped with held-out evaluation and the summary.

    halo-forge sft train --dataset arithmetic --model halo-forge/tiny --no-lora --max-steps 600

Reads top to bottom: check the config against the backend, load data and model, measure the
held-out figures, train, measure again, judge, publish the output folder atomically.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from halo_forge import training
from halo_forge.data import SplitData, load_sft_data
from halo_forge.models.loading import (PLAIN_CHAT_TEMPLATE, load_causal_lm, load_tokenizer, peft_config, resolve_model)
from halo_forge.summary import Evaluation, TrainingSummary


class TorchSFTTrainer(training.TorchRun):
    """Supervised fine-tuning with TRL on cpu, cuda, rocm or mps."""

    modality = "sft"

    # --- setup -------------------------------------------------------------------------------
    def _datasets(self, data: SplitData, tokenizer):
        from datasets import Dataset

        strip = lambda rows: [{k: v for k, v in r.items() if k != "answer"} for r in rows]  # noqa: E731
        train = Dataset.from_list(strip(data.train))
        evals = Dataset.from_list(strip(data.heldout)) if data.heldout else None
        return train, evals

    def _model(self, model_ref: str):
        import torch

        quant = None
        if self.config.load_in_4bit:
            from transformers import BitsAndBytesConfig

            quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                       bnb_4bit_compute_dtype=torch.bfloat16 if self.caps.bf16 else torch.float16)
        return load_causal_lm(model_ref, dtype=self.torch_dtype(), quantization_config=quant)

    def _args(self, staging: Path, has_chat: bool):
        from trl import SFTConfig as TRLSFTConfig

        cfg = self.config
        return TRLSFTConfig(
            **training.common_args(cfg, self.caps, str(staging)),
            max_length=cfg.max_length,
            packing=cfg.packing,
            completion_only_loss=not cfg.train_on_prompt,
            assistant_only_loss=has_chat and not cfg.train_on_prompt,
            per_device_eval_batch_size=cfg.eval_batch_size,
        )

    # --- the run -----------------------------------------------------------------------------
    def train(self) -> TrainingSummary:
        from trl import SFTTrainer

        from halo_forge.evaluation import task_accuracy
        from halo_forge.progress import make_callback

        cfg = self.config
        self.started, self.t0 = training.now_iso(), time.monotonic()
        training.quiet_libraries()
        data = self.data if self.data is not None else load_sft_data(cfg)
        model_ref = resolve_model(cfg.model)
        tokenizer = load_tokenizer(model_ref)
        notes = list(data.notes)
        if tokenizer.chat_template is None:
            tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
            notes.append("the model has no chat template: chat rows use a plain '### role:' template")
        has_chat = any("messages" in r for r in data.train[:1])
        if has_chat and "{% generation %}" not in (tokenizer.chat_template or "") and not cfg.train_on_prompt:
            data = dataclasses.replace(data, train=[_last_turn_as_completion(r) for r in data.train],
                                       heldout=[_last_turn_as_completion(r) for r in data.heldout])
            has_chat = False
            notes.append("template has no {% generation %} markers: loss on each chat's final assistant turn")

        staging = self.output.open()
        try:
            model = self._model(model_ref)
            train_ds, eval_ds = self._datasets(data, tokenizer)
            progress = make_callback("sft", quiet=self.quiet)
            trainer = SFTTrainer(model=model, args=self._args(staging, has_chat), train_dataset=train_ds,
                                 eval_dataset=eval_ds, processing_class=tokenizer, peft_config=peft_config(cfg),
                                 callbacks=[progress, *self.callbacks])
            training.quiet_trainer(trainer)
            gen_tokens = cfg.eval_max_new_tokens
            measure = lambda: (  # noqa: E731
                trainer.evaluate()["eval_loss"] if eval_ds is not None else None,
                task_accuracy(trainer.model, tokenizer, data.heldout, max_new_tokens=gen_tokens))
            run = self.train_measured(trainer, tokenizer, staging, measure, data=data, progress=progress, notes=notes)
            (before_loss, before_acc), (after_loss, after_acc) = run.before, run.after

            evaluations = []
            n_eval = len(data.heldout)
            if before_acc is not None:
                evaluations.append(Evaluation.of("heldout_accuracy", before_acc[0], after_acc[0],
                                                 n=before_acc[1], tolerance=0.02))
            if before_loss is not None:
                evaluations.append(Evaluation.of("heldout_loss", before_loss, after_loss,
                                                 higher_is_better=False, n=n_eval))
            extra = run.extra
            extra["packing"] = cfg.packing
            return self.finish(trainer=trainer, staging=staging, data=data, model_ref=model_ref,
                               evaluations=evaluations, train_seconds=run.train_seconds, moved=run.moved, extra=extra)
        except BaseException:
            self.output.abort()
            raise


def _last_turn_as_completion(row: dict) -> dict:
    if "messages" not in row:
        return row
    msgs = row["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    out = {"prompt": msgs[:last], "completion": [msgs[last]]}
    if "answer" in row:
        out["answer"] = row["answer"]
    return out
