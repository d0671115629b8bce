"""SFT on PyTorch: TRL's SFTTrainer + PEFT, wrapped with held-out evaluation and the summary.

    halo-forge sft train --dataset arithmetic --model halo-forge/tiny --no-lora --max-steps 600

`train()` reads top to bottom: load rows, tokenizer and model, build TRL's trainer, measure the
held-out figures, train (resuming from the last checkpoint with --resume), measure again, save,
summarise. Chat rows train on the assistant turns when the chat template marks them with
`{% generation %}`; otherwise on each chat's final assistant turn.
"""

from __future__ import annotations

import dataclasses

from halo_forge import training
from halo_forge.data import SplitData, load_sft_data
from halo_forge.evaluation import TASK_TOLERANCE, heldout_loss, task_accuracy
from halo_forge.models.loading import load_causal_lm
from halo_forge.summary import TrainingSummary
from halo_forge.training import Figures, compare


class TorchSFTTrainer(training.TorchTrainer):
    """Supervised fine-tuning with TRL on cpu, cuda, rocm or mps."""

    modality = "sft"

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        plan = cls.library_plan(config, caps, max_length=config.max_length, packing=config.packing,
                                completion_only_loss=not config.train_on_prompt,
                                per_device_eval_batch_size=config.eval_batch_size)
        return {**plan, "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size},
                "assistant_only_loss": not config.train_on_prompt}  # for chats whose template marks the turns

    def train(self) -> TrainingSummary:
        from trl import SFTConfig as TRLSFTConfig, SFTTrainer

        cfg, plan = self.config, self.plan
        with training.staged_run(self) as run:
            data, model_ref, tokenizer = run.load(load_sft_data, chat_template=True)
            data, chat = chat_rows_for(data, tokenizer, plan["assistant_only_loss"], run.notes)
            state = run.checkpoints(data)
            args = TRLSFTConfig(**plan["trl"], output_dir=str(state.dir), assistant_only_loss=chat)
            trainer = training.quiet_trainer(SFTTrainer(
                model=load_causal_lm(model_ref, **plan["model"]), args=args, train_dataset=_dataset(data.train),
                eval_dataset=_dataset(data.heldout), processing_class=tokenizer, peft_config=plan["peft"],
                callbacks=run.callbacks))
            measure = lambda: Figures.of(  # noqa: E731
                heldout_accuracy=task_accuracy(trainer.model, tokenizer, data.heldout, **plan["eval"]),
                heldout_loss=heldout_loss(trainer, data.heldout))
            before, fit, after = measure(), run.fit(trainer), measure()
            training.save_model(trainer, tokenizer, run)
            return training.build_summary(
                run, data=data, model_ref=model_ref, fit=fit, extra={"packing": cfg.packing},
                evaluations=compare(before, after, tolerance=TASK_TOLERANCE))


def _dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(training.strip_answers(rows)) if rows else None


def chat_rows_for(data: SplitData, tokenizer, assistant_only: bool, notes: list[str]) -> tuple[SplitData, bool]:
    """(rows to train on, whether TRL should mask to the assistant turns). A chat template without
    `{% generation %}` markers cannot mark the turns: each chat's final assistant turn becomes the
    completion instead."""
    chat = any("messages" in r for r in data.train[:1])
    if not (chat and assistant_only):
        return data, False
    if "{% generation %}" in (tokenizer.chat_template or ""):
        return data, True
    notes.append("template has no {% generation %} markers: loss on each chat's final assistant turn")
    return dataclasses.replace(data, train=[_last_turn_as_completion(r) for r in data.train],
                               heldout=[_last_turn_as_completion(r) for r in data.heldout]), False


def _last_turn_as_completion(row: dict) -> dict:
    if "messages" not in row:
        return row
    msgs = row["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    rest = {k: v for k, v in row.items() if k != "messages"}  # answer, images …
    return {"prompt": msgs[:last], "completion": [msgs[last]], **rest}
