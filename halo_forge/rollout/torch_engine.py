"""Torch engine: batched HF `generate` on the live policy (so weight updates need no copy)."""

from __future__ import annotations

from halo_forge.rollout.base import Sampling


class TorchEngine:
    name = "torch"

    def __init__(self, model, tokenizer) -> None:
        self.model, self.tokenizer = model, tokenizer

    def generate(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[str]]:
        from halo_forge.evaluation import generate

        flat = [p for p in prompts for _ in range(n)]
        outs = generate(self.model, self.tokenizer, flat, max_new_tokens=sampling.max_new_tokens,
                        batch_size=sampling.batch_size, do_sample=True, temperature=sampling.temperature)
        return [outs[i * n:(i + 1) * n] for i in range(len(prompts))]

    def update_weights(self, model) -> None:
        self.model = model  # samples from the very module being trained: nothing to copy
