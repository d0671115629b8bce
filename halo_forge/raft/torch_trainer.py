"""RAFT on PyTorch: the RAFT recipe (halo_forge/raft/recipe.py) with transformers models, the rollout engine
and TRL's SFTTrainer.

    halo-forge raft train --dataset arithmetic_prompts --model outputs/quickstart/dpo --no-lora \
        --verifier math --cycles 3 --samples-per-prompt 4 --keep-percent 0.5

`train()` (the recipe's) reads top to bottom: load, measure, the cycles, measure, save, summarise. Here a cycle
loads the policy with transformers, samples with the rollout engine (torch, vllm, or mlx: mlx-lm on an in-memory
copy of the current policy), fine-tunes on the kept samples with TRL's SFTTrainer and merges an adapter into the
policy, so the next cycle loads a plain model.
"""

from __future__ import annotations

import shutil

from halo_forge import rl, training
from halo_forge.models.loading import load_causal_lm
from halo_forge.raft.recipe import CycleOps, RAFTRecipe, kept_rows
from halo_forge.rollout import Sampling, get_engine, resolve_engine
from halo_forge.training.run import final_loss


class TorchRAFTTrainer(RAFTRecipe, rl.RolloutTrainer):
    """RAFT cycles with TRL's SFTTrainer on cpu, cuda, rocm or mps."""

    modality = "raft"
    used_elsewhere = {**rl.RolloutTrainer.used_elsewhere,
                      "rollout_only": "refused unless --accelerator mlx (RAFTConfig._check): the MLX trainer's knob"}
    multi_process = False  # its own loop samples, filters and saves each cycle in one process

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        plan = cls.library_plan(config, caps, max_length=config.max_length, completion_only_loss=True)
        return {**plan, "engine": resolve_engine(config.rollout_engine), **selection_plan(config)}

    def ops(self, tokenizer, model_ref: str) -> CycleOps:
        return torch_ops(self, tokenizer, self.plan["engine"])


def selection_plan(config) -> dict:
    """The plan sections every RAFT backend shares: sampling, verifiers, selection and evaluation."""
    return {"sampling": Sampling(temperature=config.temperature, max_new_tokens=config.max_completion_length,
                                 batch_size=config.eval_batch_size),
            "verifiers": rl.verifier_plan(config),
            "selection": {"samples_per_prompt": config.samples_per_prompt, "keep_percent": config.keep_percent,
                          "threshold": config.reward_threshold, "min_samples": config.min_samples,
                          "prompts_per_cycle": config.prompts_per_cycle, "cycles": config.cycles},
            "eval": {"max_new_tokens": config.eval_max_new_tokens, "batch_size": config.eval_batch_size}}


def torch_ops(trainer, tokenizer, engine: str, *, rows=kept_rows) -> CycleOps:
    """RAFT's cycle on PyTorch: transformers models sampled by `engine`, fine-tuned with TRL's SFTTrainer on
    `rows(kept)`. The plan's trl/model/peft sections are `TorchRAFTTrainer.plan_for`'s."""
    plan, cfg = trainer.plan, trainer.config

    def sample(model, rows: list[dict], k: int) -> list[list[str]]:
        from transformers import set_seed

        from halo_forge.evaluation import prompt_text

        set_seed(cfg.seed * 1000 + k)
        seeded = {"seed": cfg.seed * 1000 + k} if engine == "mlx" else {}
        sampler = get_engine(engine, model, tokenizer, **seeded)  # the mlx engine copies the current policy
        return sampler.generate([prompt_text(r, tokenizer) for r in rows], cfg.samples_per_prompt, plan["sampling"])

    def fine_tune(model, kept: list[dict], folder, callbacks):
        """SFT on the kept samples with TRL; an adapter is merged so the next cycle loads a plain model."""
        from datasets import Dataset
        from trl import SFTConfig as TRLSFTConfig, SFTTrainer

        with training.no_tqdm():
            sft = SFTTrainer(model=model, args=TRLSFTConfig(**plan["trl"], output_dir=str(folder / "trainer")),
                             train_dataset=Dataset.from_list(rows(kept)), processing_class=tokenizer,
                             peft_config=plan["peft"], callbacks=list(callbacks))
        training.quiet_trainer(sft).train()
        shutil.rmtree(folder / "trainer", ignore_errors=True)
        tuned = sft.model.merge_and_unload() if hasattr(sft.model, "merge_and_unload") else sft.model
        return tuned, final_loss(sft.state.log_history), int(sft.state.global_step)

    def save(model, folder) -> None:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    return CycleOps(load=lambda ref: load_causal_lm(ref, **plan["model"]), sample=sample, fine_tune=fine_tune, save=save,
                    pass_rate=lambda model, rows: rl.pass_rate(model, tokenizer, trainer.verifiers, rows, **plan["eval"]),
                    snapshot=lambda model: training.trainable_snapshot(model, every_weight=True),
                    moved=training.weights_changed)
