"""RAFT on MLX: the RAFT recipe (halo_forge/raft/recipe.py) with MLX rollouts, in two forms.

    halo-forge raft train --dataset arithmetic_prompts --model outputs/sft --accelerator mlx --verifier math
    halo-forge raft train … --accelerator mlx --rollout-only     # hybrid: MLX samples, PyTorch fine-tunes

Full MLX: each cycle loads the policy with mlx-lm, samples with mlx-lm, fine-tunes on the kept samples with the MLX
loop (LoRA through mlx-lm, fused after the cycle; or a full fine-tune) and saves an HF model folder, so the next
cycle — and any PyTorch trainer — loads a plain model. Hybrid (--rollout-only): the PyTorch recipe's cycle
(transformers + TRL's SFTTrainer, every PyTorch knob honoured) with the MLX engine as the sampler; the engine
copies the current policy into MLX at the start of each cycle.
"""

from __future__ import annotations

from halo_forge import rl
from halo_forge.grpo.mlx_trainer import mlx_engine_problems
from halo_forge.mlx.trainer import MLXTrainer, common_plan, evaluating
from halo_forge.raft.recipe import CycleOps, RAFTRecipe, kept_rows
from halo_forge.raft.torch_trainer import TorchRAFTTrainer, selection_plan, torch_ops


class MLXRAFTTrainer(RAFTRecipe, MLXTrainer):
    """RAFT with MLX rollouts: fine-tuned on MLX, or (--rollout-only) on PyTorch."""

    modality = "raft"
    used_elsewhere = {**MLXTrainer.used_elsewhere, **rl.RolloutTrainer.used_elsewhere,
                      "rollout_engine": "check(): MLX runs sample with mlx-lm; an engine other than auto or mlx is refused"}

    def __init__(self, config, backend: str = "mlx", data=None) -> None:
        super().__init__(config, backend, data)
        self.verifiers = rl.build_verifiers(config)
        if config.rollout_only:
            from halo_forge.training.args import set_cpu_threads

            self.cpu_threads = set_cpu_threads(self.plan["update_backend"])

    @classmethod
    def warn_ignored(cls, config) -> list[str]:
        return [] if config.rollout_only else super().warn_ignored(config)  # the PyTorch update honours them all

    @classmethod
    def check(cls, config, caps) -> list:
        problems = rl.rollout_problems(config) + mlx_engine_problems(config)
        if not config.rollout_only:
            return super().check(config, caps) + problems
        from halo_forge.backend import capabilities, get_backend, torch_problems

        return [p for p in super().check(config, caps) if p.field == "accelerator"] + problems + torch_problems(
            config, capabilities(get_backend("auto")))

    @classmethod
    def plan_for(cls, config, caps) -> dict:
        if config.rollout_only:  # the PyTorch plan, sampled by the MLX engine
            from halo_forge.backend import capabilities, get_backend

            torch_caps = capabilities(get_backend("auto"))
            plan = TorchRAFTTrainer.library_plan(config, torch_caps, max_length=config.max_length,
                                                 completion_only_loss=True)
            return {**plan, "engine": "mlx", "update_backend": torch_caps.backend, **selection_plan(config)}
        return {**common_plan(config, caps), "data": {"max_length": config.max_length}, "engine": "mlx",
                "update_backend": "mlx", **selection_plan(config)}

    def ops(self, tokenizer, model_ref: str) -> CycleOps:
        return torch_ops(self, tokenizer, "mlx") if self.config.rollout_only else mlx_ops(self, tokenizer, model_ref)

    def backend_extra(self) -> dict:
        from halo_forge.mlx.runtime import device_description

        if self.config.rollout_only:
            return {"rollout_only": True, "update_backend": self.plan["update_backend"],
                    "mlx_device": device_description()["device"]}
        return {"rollout_only": False, "update_backend": "mlx", **self.mlx_extra()}


def mlx_ops(trainer: MLXRAFTTrainer, tokenizer, model_ref: str) -> CycleOps:
    """RAFT's cycle on MLX: mlx-lm models and sampling, the MLX loop for the fine-tune, HF folders between cycles."""
    import mlx.core as mx

    from halo_forge.evaluation import prompt_text
    from halo_forge.mlx import evaluation, lora, loop, runtime, weights
    from halo_forge.mlx.steps import make_optimizer, sft_loss
    from halo_forge.mlx.tokenize import sft_batch, sft_example
    from halo_forge.mlx.trainer import source_folder
    from halo_forge.rollout.mlx_engine import MLXEngine

    plan, cfg = trainer.plan, trainer.config
    dtype = {"fp32": mx.float32, "bf16": mx.bfloat16, "fp16": mx.float16}[plan["model"]["dtype"]]
    source = source_folder(model_ref)
    pad = tokenizer.pad_token_id or 0

    def load(ref: str):
        model, _ = weights.load(ref)
        model.set_dtype(dtype)
        return model.eval()

    def sample(model, rows: list[dict], k: int) -> list[list[str]]:
        engine = MLXEngine(model, tokenizer, seed=cfg.seed * 1000 + k)
        return engine.generate([prompt_text(r, tokenizer) for r in rows], cfg.samples_per_prompt, plan["sampling"])

    def fine_tune(model, kept: list[dict], folder, callbacks):
        """SFT on the kept samples with the MLX loop; a LoRA adapter is fused so the next cycle loads a plain model."""
        runtime.seed(cfg.seed)  # LoRA's initial A, as each PyTorch cycle's SFTTrainer seeds
        spec = plan["adapter"]
        if spec["kind"] == "full":
            lora.prepare_full(model)
        else:
            lora.apply_lora(model, rank=spec["rank"], alpha=spec["alpha"], dropout=spec["dropout"], targets=spec["targets"])
        rows = [sft_example(r, tokenizer, max_length=plan["data"]["max_length"]) for r in kept_rows(kept)]
        batches, total = loop.row_batches(len(rows), plan["loop"]), loop.total_steps(len(rows), plan["loop"])
        fit = loop.fit(model, make_optimizer(total_steps=total, **plan["optimizer"]), sft_loss,
                       lambda k: ([sft_batch([rows[i] for i in b], pad) for b in batches(k)], {}), total=total,
                       plan=plan["loop"], callbacks=callbacks)
        return lora.fuse(model), fit.final_loss, fit.steps

    def pass_rate(model, rows: list[dict]):
        with evaluating(model):
            return evaluation.pass_rate(model, tokenizer, trainer.verifiers, rows, **plan["eval"])

    return CycleOps(load=load, sample=sample, fine_tune=fine_tune, pass_rate=pass_rate,
                    save=lambda model, folder: weights.save_hf(model, folder, source=source, tokenizer=tokenizer),
                    snapshot=lambda model: loop.snapshot(model, every_weight=True), moved=loop.moved)
